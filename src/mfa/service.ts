/**
 * Two-factor authentication with TOTP (RFC 6238): enrolment, confirmation, recovery codes,
 * disabling, and the second step of a login. Every spend (a TOTP step, a recovery code, a
 * challenge) is a compare-and-set in the database, so two concurrent requests can never both
 * succeed with the same secret.
 *
 * Wrong codes are limited twice (OWASP MFA Cheat Sheet, "Rate limit" / NIST SP 800-63B
 * §5.2.2): each challenge survives CHALLENGE_MAX_FAILURES, and every failure also counts
 * against a per-user `mfa:` key of the login throttle. That key is not cleared by a correct
 * password, only by a correct second factor, so an attacker who knows the password cannot
 * buy unlimited guesses by asking for new challenges.
 */
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { AuditContext, AuditLog } from '../audit/log.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import { randomToken } from '../lib/random.ts';
import type { ClientInfo } from '../sessions/service.ts';
import type { Db } from '../storage/db.ts';
import type { UserRow } from '../storage/tables.ts';
import { ipKey, type LoginThrottle } from '../throttle/login.ts';
import { findUserById, type UserWithRoles } from '../users/repo.ts';
import {
  CHALLENGE_MAX_FAILURES,
  CHALLENGE_TTL_MS,
  challengeFailures,
  challengeSecretMatches,
  newChallenge,
  parseChallenge,
} from './challenge.ts';
import { hashRecoveryCode, newRecoveryCodes } from './recovery.ts';
import { looksLikeTotpCode, matchStep, newTotpSecret, otpauthUri } from './totp.ts';

/** What the user typed as the second factor, or the assertion of one of their passkeys. */
export type MfaProof =
  | { readonly kind: 'totp' | 'recovery_code'; readonly value: string }
  | { readonly kind: 'passkey'; readonly credential: AuthenticationResponseJSON };

/**
 * A passkey as the second factor, answering a challenge instead of a code (issue #11).
 * passkeys/service.ts implements it; declared here so that mfa imports nothing of
 * passkeys. `boundTo` is the MFA challenge's id: a passkey challenge serves only the login
 * it was asked for.
 */
export interface PasskeyFactor {
  hasPasskeys(userId: string): Promise<boolean>;
  secondFactorOptions(userId: string, boundTo: string): Promise<{ challenge: string }>;
  verifySecondFactor(tx: Db, userId: string, credential: AuthenticationResponseJSON, boundTo: string, client: ClientInfo): Promise<boolean>;
}

/** The login step's body: exactly one of code, recovery_code or passkey. */
export function loginProofFromBody(body: { code?: string | undefined; recovery_code?: string | undefined; passkey?: AuthenticationResponseJSON | undefined }): MfaProof {
  if (body.passkey === undefined) return proofFromBody(body);
  if (body.code !== undefined || body.recovery_code !== undefined) {
    throw new AppError('validation_failed', 'Send exactly one of body/code, body/recovery_code or body/passkey', {
      details: [{ path: 'body/passkey', message: 'must come alone (not with a code)' }],
    });
  }
  return { kind: 'passkey', credential: body.passkey };
}

/**
 * From a body with `code` or `recovery_code` (exactly one). A recovery code pasted into
 * `code` is taken as one: it can never look like six digits, and it is just as strong.
 */
export function proofFromBody(body: { code?: string | undefined; recovery_code?: string | undefined }): MfaProof {
  if ((body.code === undefined) === (body.recovery_code === undefined)) {
    throw new AppError('validation_failed', 'Send exactly one of body/code or body/recovery_code', {
      details: [{ path: 'body/code', message: 'is required (or body/recovery_code, not both)' }],
    });
  }
  if (body.recovery_code !== undefined) return { kind: 'recovery_code', value: body.recovery_code };
  const code = body.code!;
  return looksLikeTotpCode(code) ? { kind: 'totp', value: code } : { kind: 'recovery_code', value: code };
}

/** The throttle key counting wrong second factors of one user, across challenges. */
export const mfaKey = (userId: string): string => `mfa:${userId}`;

const CHALLENGE = 'mfa_challenge' as const;

type ChallengeOutcome =
  | { kind: 'invalid' }
  | { kind: 'disabled'; userId: string }
  | { kind: 'ok'; userId: string; method: MfaProof['kind'] }
  | { kind: 'wrong'; userId: string; failures: number; burned: boolean };

export class MfaService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly throttle: LoginThrottle,
    private readonly passkeys: PasskeyFactor | null = null,
  ) {}

  /**
   * Starts (or restarts) enrolment: a new secret, stored but not active until confirmed
   * with a code, so a half-finished enrolment never locks anyone out.
   */
  async enroll(user: UserRow): Promise<{ secret: string; otpauth_uri: string }> {
    const secret = newTotpSecret();
    const result = await this.db
      .updateTable('users')
      .set({ totp_secret: secret, totp_last_step: null, updated_at: this.clock.now() })
      .where('id', '=', user.id)
      .where('totp_enabled_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new AppError('mfa_already_enabled');
    return { secret, otpauth_uri: otpauthUri(secret, user.username) };
  }

  /**
   * Proves the authenticator holds the secret, turns TOTP on and returns fresh recovery
   * codes, shown this once (only their hashes are kept). The confirming code's step is
   * spent, so it cannot be replayed as a login code.
   */
  async confirm(userId: string, code: string, context: AuditContext = {}): Promise<string[]> {
    const user = await this.requireUser(userId);
    if (user.totp_enabled_at !== null) throw new AppError('mfa_already_enabled');
    const secret = user.totp_secret;
    if (secret === null) throw new AppError('mfa_not_enrolled');
    const now = this.clock.now();
    const step = matchStep(secret, code, now, user.totp_last_step);
    if (step === null) throw new AppError('invalid_mfa_code');
    const codes = newRecoveryCodes();
    const enabled = await this.db.transaction().execute(async (tx) => {
      // the same secret, still pending, and the step not spent meanwhile
      const result = await tx
        .updateTable('users')
        .set({ totp_enabled_at: now, totp_last_step: step, updated_at: now })
        .where('id', '=', userId)
        .where('totp_secret', '=', secret)
        .where('totp_enabled_at', 'is', null)
        .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await tx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
      await tx
        .insertInto('mfa_recovery_codes')
        .values(codes.map((c) => ({ id: randomToken(16), user_id: userId, code_hash: hashRecoveryCode(c), created_at: now, used_at: null })))
        .execute();
      return true;
    });
    if (!enabled) throw new AppError('invalid_mfa_code');
    await this.audit.record('mfa_enabled', { ...context, userId });
    return codes;
  }

  /** Turns TOTP off with a current code or a recovery code; the secret and recovery codes go. */
  async disable(userId: string, proof: MfaProof, context: AuditContext = {}): Promise<void> {
    const user = await this.requireUser(userId);
    if (user.totp_enabled_at === null) throw new AppError('mfa_not_enabled');
    const ip = ipKey(context.ip ?? '');
    await this.throttle.check([mfaKey(userId), ip]);
    const now = this.clock.now();
    const ok = await this.db.transaction().execute(async (tx) => {
      if (!(await this.spendProof(tx, user, proof, now))) return false;
      await tx
        .updateTable('users')
        .set({ totp_secret: null, totp_enabled_at: null, totp_last_step: null, updated_at: now })
        .where('id', '=', userId)
        .execute();
      await tx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
      return true;
    });
    if (!ok) {
      await this.throttle.fail(mfaKey(userId), ip);
      await this.audit.record('mfa_failed', { ...context, userId, details: { method: proof.kind, during: 'disable' } });
      throw new AppError('invalid_mfa_code');
    }
    await this.throttle.succeed(mfaKey(userId));
    if (proof.kind === 'recovery_code') await this.audit.record('mfa_recovery_code_used', { ...context, userId, details: { during: 'disable' } });
    await this.audit.record('mfa_disabled', { ...context, userId });
  }

  /** After a correct password: a single-use challenge for the second step. */
  async startChallenge(userId: string): Promise<{ token: string; expiresIn: number; passkey: boolean }> {
    const now = this.clock.now();
    const challenge = newChallenge();
    // spent and expired challenges of this user are of no further use
    await this.db
      .deleteFrom('one_time_tokens')
      .where('user_id', '=', userId)
      .where('purpose', '=', CHALLENGE)
      .where((eb) => eb.or([eb('used_at', 'is not', null), eb('expires_at', '<=', now)]))
      .execute();
    await this.db
      .insertInto('one_time_tokens')
      .values({
        id: challenge.id,
        user_id: userId,
        purpose: CHALLENGE,
        secret_hash: challenge.secretHash,
        data: JSON.stringify({ failures: 0 }),
        created_at: now,
        expires_at: now + CHALLENGE_TTL_MS,
        used_at: null,
      })
      .execute();
    // `passkey`: the user may answer with one of their passkeys instead of a code
    const passkey = (await this.passkeys?.hasPasskeys(userId)) ?? false;
    return { token: challenge.token, expiresIn: CHALLENGE_TTL_MS / 1000, passkey };
  }

  /**
   * WebAuthn options for answering the challenge with a passkey. Only a live challenge (a
   * correct password) gets them: they list the user's credential ids, which nobody else
   * should learn.
   */
  async passkeyOptions(token: string): Promise<{ challenge: string }> {
    const parts = parseChallenge(token);
    const row = parts ? await this.liveChallenge(this.db, parts, this.clock.now()) : undefined;
    if (!row || !this.passkeys) throw new AppError('invalid_one_time_token');
    return this.passkeys.secondFactorOptions(row.user_id, row.id);
  }

  /**
   * The second step of a login: spends the challenge and the code together, or counts a
   * failure (burning the challenge at CHALLENGE_MAX_FAILURES). Returns the user to open
   * the session for; the caller starts it now, so auth_time is this moment.
   */
  async completeChallenge(token: string, proof: MfaProof, client: ClientInfo): Promise<{ user: UserWithRoles; method: MfaProof['kind'] }> {
    const parts = parseChallenge(token);
    if (!parts) throw new AppError('invalid_one_time_token');
    const now = this.clock.now();
    const pending = await this.liveChallenge(this.db, parts, now);
    if (!pending) throw new AppError('invalid_one_time_token');
    const ip = ipKey(client.ip ?? '');
    await this.throttle.check([mfaKey(pending.user_id), ip]);

    const outcome = await this.db.transaction().execute(async (tx): Promise<ChallengeOutcome> => {
      const row = await this.liveChallenge(tx, parts, now);
      if (!row) return { kind: 'invalid' };
      const user = await tx.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst();
      const burn = () => tx.updateTable('one_time_tokens').set({ used_at: now }).where('id', '=', row.id).execute();
      // TOTP turned off (or the user gone) since the password step: start over
      if (!user || user.totp_enabled_at === null || user.totp_secret === null) {
        await burn();
        return { kind: 'invalid' };
      }
      if (user.disabled_at !== null) {
        await burn();
        return { kind: 'disabled', userId: user.id };
      }
      if (await this.spendProof(tx, user, proof, now, { challengeId: row.id, client })) {
        const spent = await tx
          .updateTable('one_time_tokens')
          .set({ used_at: now })
          .where('id', '=', row.id)
          .where('used_at', 'is', null)
          .executeTakeFirst();
        return Number(spent.numUpdatedRows) === 1 ? { kind: 'ok', userId: user.id, method: proof.kind } : { kind: 'invalid' };
      }
      const failures = challengeFailures(row.data) + 1;
      const burned = failures >= CHALLENGE_MAX_FAILURES;
      await tx
        .updateTable('one_time_tokens')
        .set({ data: JSON.stringify({ failures }), used_at: burned ? now : null })
        .where('id', '=', row.id)
        .execute();
      return { kind: 'wrong', userId: user.id, failures, burned };
    });

    switch (outcome.kind) {
      case 'invalid':
        throw new AppError('invalid_one_time_token');
      case 'disabled':
        throw new AppError('account_disabled');
      case 'wrong': {
        const locked = await this.throttle.fail(mfaKey(outcome.userId), ip);
        const details = { method: proof.kind, during: 'login', failures: outcome.failures, challenge_burned: outcome.burned };
        await this.audit.record('mfa_failed', { ...client, userId: outcome.userId, details });
        if (locked) await this.audit.record('lockout', { ...client, userId: outcome.userId, details: { factor: 'mfa' } });
        throw new AppError(proof.kind === 'passkey' ? 'invalid_passkey' : 'invalid_mfa_code');
      }
      case 'ok': {
        await this.throttle.succeed(mfaKey(outcome.userId));
        if (outcome.method === 'recovery_code') {
          const left = await this.recoveryCodesLeft(outcome.userId);
          await this.audit.record('mfa_recovery_code_used', { ...client, userId: outcome.userId, details: { during: 'login', remaining: left } });
        }
        const user = await findUserById(this.db, outcome.userId);
        if (!user) throw new AppError('invalid_one_time_token');
        return { user, method: outcome.method };
      }
    }
  }

  /** Unused recovery codes of the user. */
  async recoveryCodesLeft(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('mfa_recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async requireUser(userId: string): Promise<UserRow> {
    const user = await this.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!user) throw new AppError('user_not_found');
    return user;
  }

  /** Inside a transaction the row stays locked to commit: wrong codes sent at once to several instances each count. */
  private async liveChallenge(db: Db, parts: { id: string; secret: string }, now: number) {
    let query = db.selectFrom('one_time_tokens').selectAll().where('id', '=', parts.id).where('purpose', '=', CHALLENGE);
    if (db.isTransaction) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row || !challengeSecretMatches(parts.secret, row.secret_hash)) return undefined;
    return row.used_at === null && row.expires_at > now ? row : undefined;
  }

  /**
   * Checks and spends one factor inside `tx`: a TOTP step later than the last accepted one
   * (compare-and-set on totp_last_step), or an unused recovery code (compare-and-set on
   * used_at). Looking the recovery code up by its hash is safe: timing can at most reveal
   * a prefix of a SHA-256 hash of a 60-bit secret.
   */
  private async spendProof(tx: Db, user: UserRow, proof: MfaProof, now: number, login?: { challengeId: string; client: ClientInfo }): Promise<boolean> {
    if (proof.kind === 'passkey') {
      // only as a login step, bound to its challenge (turning TOTP off still wants a code)
      if (!login || !this.passkeys) return false;
      return this.passkeys.verifySecondFactor(tx, user.id, proof.credential, login.challengeId, login.client);
    }
    if (proof.kind === 'recovery_code') {
      const result = await tx
        .updateTable('mfa_recovery_codes')
        .set({ used_at: now })
        .where('user_id', '=', user.id)
        .where('code_hash', '=', hashRecoveryCode(proof.value))
        .where('used_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    }
    if (user.totp_secret === null) return false;
    const step = matchStep(user.totp_secret, proof.value, now, user.totp_last_step);
    if (step === null) return false;
    const result = await tx
      .updateTable('users')
      .set({ totp_last_step: step })
      .where('id', '=', user.id)
      .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
