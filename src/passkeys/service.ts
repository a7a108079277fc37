/**
 * Passkeys (W3C WebAuthn Level 3, through @simplewebauthn/server): registration, the
 * list, renaming and deleting, a login without a username (discoverable credentials), and
 * a passkey as the second factor of a password login where TOTP is on.
 *
 * Every ceremony starts with a random challenge stored in the database (any instance can
 * finish it), lives CHALLENGE_TTL_MS, and is spent by its first answer (repo.takeChallenge).
 * Each assertion is checked for the challenge, the origin and the RP id (the phishing
 * defence: a look-alike site gets neither), the signature, user presence, and user
 * verification where asked; then the signature counter must move forward (§6.1.1, §7.2
 * step 22): one that does not is refused and audited as a possibly cloned authenticator.
 *
 * User verification: registration and the username-less login REQUIRE it. A passkey login
 * then proves something the user has (the device's key) and something they know or are
 * (the PIN or biometric that unlocked it), a multi-factor cryptographic authenticator in
 * NIST SP 800-63B §5.1.8 terms. So such a login stands on its own, also for an account with
 * TOTP on (no TOTP code asked after it). As the second factor after a password, only
 * possession is needed, so UV is 'discouraged' there (no extra PIN prompt).
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { AuditContext, AuditLog } from '../audit/log.ts';
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import type { ErrorCode } from '../errors/codes.ts';
import type { Clock } from '../lib/clock.ts';
import type { ClientInfo, LoginOutcome } from '../sessions/service.ts';
import type { Db } from '../storage/db.ts';
import type { PasskeyRow, UserRow } from '../storage/tables.ts';
import { ipKey, type LoginThrottle } from '../throttle/login.ts';
import { findUserById, type UserWithRoles } from '../users/repo.ts';
import * as repo from './repo.ts';

/** Long enough to find and unlock an authenticator (L3 §15.1 suggests 5–10 min when UV is required). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** EdDSA, ES256, RS256 (COSE ids): what authenticators in use offer. */
const ALGORITHMS = [-8, -7, -257];
const RP_NAME = 'Bastion';

export interface PasskeyInfo {
  readonly id: string;
  readonly name: string;
  readonly created_at: number;
  readonly last_used_at: number | null;
  readonly transports: readonly string[];
  /** a synced (multi-device) passkey */
  readonly backup_eligible: boolean;
  readonly backed_up: boolean;
}

/** What the login path tells operators (SessionService.noteLogin). */
export interface LoginNotes {
  noteLogin(outcome: LoginOutcome): void;
}

type Assertion =
  | { readonly ok: true; readonly passkey: PasskeyRow; readonly userVerified: boolean }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string; readonly userId: string | null };

interface Expectation {
  readonly purpose: repo.ChallengePurpose;
  /** the account the credential must belong to; null: discoverable, the credential names it */
  readonly userId: string | null;
  readonly boundTo: string | null;
  readonly requireUserVerification: boolean;
}

/** The library loads on the first passkey request, not at start-up. */
const webauthn = () => import('@simplewebauthn/server');

/** WebAuthn user handle: the user's id as UTF-8 (an opaque random UUID, no personal data: L3 §14.6.1). */
const userHandle = (userId: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(userId, 'utf8'));

/** The challenge the client signed, read from clientDataJSON (base64url JSON); null if unreadable. */
export function challengeOf(clientDataJSON: string): string | null {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' && data.challenge !== '' ? data.challenge : null;
  } catch {
    return null;
  }
}

const parseTransports = (text: string | null): string[] => {
  try {
    const list = text ? (JSON.parse(text) as unknown) : [];
    return Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
};

export const toInfo = (row: PasskeyRow): PasskeyInfo => ({
  id: row.id,
  name: row.name,
  created_at: row.created_at,
  last_used_at: row.last_used_at,
  transports: parseTransports(row.transports),
  backup_eligible: row.backup_eligible === 1,
  backed_up: row.backed_up === 1,
});

/** Library failures name the check that failed (origin, RP id, signature …): audit-worthy, never secret. */
const reasonOf = (err: unknown): string => (err instanceof Error ? err.message.slice(0, 200) : 'verification failed');

export class PasskeyService {
  constructor(
    private readonly db: Db,
    private readonly config: Pick<Config, 'webauthn'>,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly throttle: LoginThrottle,
    private readonly notes: LoginNotes,
  ) {}

  /** The relying party, or 409 passkeys_unavailable when the configured host is an IP address. */
  private rp(): { rpId: string; origins: string[] } {
    const { rpId, origins } = this.config.webauthn;
    if (rpId === null) {
      throw new AppError(
        'passkeys_unavailable',
        `Passkeys need a host name, and this server's address (${origins[0] ?? 'PUBLIC_URL'}) is an IP address: open it by a host name, or set PUBLIC_URL or WEBAUTHN_RP_ID`,
      );
    }
    return { rpId, origins: [...origins] };
  }

  // --- registration and the list (the account page) ----------------------------------

  /**
   * Options for navigator.credentials.create(): a discoverable credential (residentKey
   * 'required', so it can log in without a username) with user verification 'required'
   * (see the file comment), no attestation (Bastion trusts no particular make of
   * authenticator), and the user's passkeys excluded so one device is not added twice.
   */
  async registrationOptions(user: UserRow): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const { rpId } = this.rp();
    const existing = await repo.listByUser(this.db, user.id);
    const { generateRegistrationOptions } = await webauthn();
    const options = await generateRegistrationOptions({
      rpName: RP_NAME,
      rpID: rpId,
      userName: user.username,
      userID: userHandle(user.id),
      userDisplayName: user.display_name ?? user.username,
      timeout: CHALLENGE_TTL_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.id, transports: parseTransports(p.transports) })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      extensions: { credProps: true },
      supportedAlgorithmIDs: ALGORITHMS,
    });
    await repo.saveChallenge(this.db, options.challenge, { purpose: 'register', userId: user.id, boundTo: null }, this.clock.now(), CHALLENGE_TTL_MS);
    return options;
  }

  /** Verifies the authenticator's answer to registrationOptions and stores the passkey under `name`. */
  async register(userId: string, name: string, response: RegistrationResponseJSON, context: AuditContext = {}): Promise<PasskeyInfo> {
    const { rpId, origins } = this.rp();
    const label = cleanName(name);
    const now = this.clock.now();
    const challenge = challengeOf(response.response.clientDataJSON);
    const taken = challenge === null ? undefined : await repo.takeChallenge(this.db, challenge, 'register', now);
    if (!taken || taken.user_id !== userId) throw new AppError('passkey_challenge_invalid');

    const { verifyRegistrationResponse } = await webauthn();
    let info;
    try {
      const result = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge!,
        expectedOrigin: origins,
        expectedRPID: rpId,
        requireUserVerification: true,
        supportedAlgorithmIDs: ALGORITHMS,
      });
      if (!result.verified) throw new Error('registration not verified');
      info = result.registrationInfo;
    } catch (cause) {
      throw new AppError('passkey_registration_failed', undefined, { cause });
    }
    // credProps (L3 §10.1.3): a browser that says the key is not discoverable made one that
    // cannot log in without a username; refuse it rather than store a half-working passkey.
    const props = (response.clientExtensionResults as { credProps?: { rk?: unknown } } | undefined)?.credProps;
    if (props?.rk === false) {
      throw new AppError('passkey_registration_failed', 'This authenticator did not store a discoverable passkey, which logging in without a username needs');
    }
    if (await repo.find(this.db, info.credential.id)) throw new AppError('passkey_already_registered');
    const row: PasskeyRow = {
      id: info.credential.id,
      user_id: userId,
      name: label,
      public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: JSON.stringify((response.response.transports ?? []).filter((t) => typeof t === 'string').slice(0, 8)),
      backup_eligible: info.credentialDeviceType === 'multiDevice' ? 1 : 0,
      backed_up: info.credentialBackedUp ? 1 : 0,
      created_at: now,
      last_used_at: null,
    };
    try {
      await repo.insert(this.db, row);
    } catch (cause) {
      // the same credential registered a moment ago by a concurrent request
      if (await repo.find(this.db, row.id)) throw new AppError('passkey_already_registered', undefined, { cause });
      throw cause;
    }
    await this.audit.record('passkey_registered', { ...context, userId, details: { passkey: row.id, name: label, backup_eligible: row.backup_eligible === 1 } });
    return toInfo(row);
  }

  async list(userId: string): Promise<PasskeyInfo[]> {
    return (await repo.listByUser(this.db, userId)).map(toInfo);
  }

  async rename(userId: string, id: string, name: string, context: AuditContext = {}): Promise<PasskeyInfo> {
    const label = cleanName(name);
    if (!(await repo.rename(this.db, userId, id, label))) throw new AppError('passkey_not_found');
    await this.audit.record('passkey_renamed', { ...context, userId, details: { passkey: id, name: label } });
    return toInfo((await repo.find(this.db, id, userId))!);
  }

  async remove(userId: string, id: string, context: AuditContext = {}): Promise<void> {
    const row = await repo.remove(this.db, userId, id);
    if (!row) throw new AppError('passkey_not_found');
    await this.audit.record('passkey_deleted', { ...context, userId, details: { passkey: id, name: row.name } });
  }

  // --- logging in without a username --------------------------------------------------

  /** Options for navigator.credentials.get(): no allowCredentials, so the authenticator offers its discoverable passkeys for this RP. */
  async loginOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const { rpId } = this.rp();
    const { generateAuthenticationOptions } = await webauthn();
    const options = await generateAuthenticationOptions({ rpID: rpId, allowCredentials: [], userVerification: 'required', timeout: CHALLENGE_TTL_MS });
    await repo.saveChallenge(this.db, options.challenge, { purpose: 'login', userId: null, boundTo: null }, this.clock.now(), CHALLENGE_TTL_MS);
    return options;
  }

  /**
   * A username-less login: the credential id finds the passkey, the user handle must name
   * its owner (L3 §7.2 step 6), user verification is required. Throttled and counted per
   * client IP like password logins (there is no account name to count against, and a
   * passkey cannot be guessed, so a password lockout of the account does not stop it).
   * Returns the user to open the session for; the caller starts it now (auth_time).
   */
  async login(response: AuthenticationResponseJSON, client: ClientInfo): Promise<UserWithRoles> {
    this.rp();
    const ip = ipKey(client.ip ?? '');
    try {
      await this.throttle.check([ip]);
    } catch (err) {
      this.notes.noteLogin('locked');
      throw err;
    }
    const result = await this.verifyAssertion(this.db, response, { purpose: 'login', userId: null, boundTo: null, requireUserVerification: true }, client);
    if (!result.ok) {
      await this.throttle.failIp(ip);
      await this.audit.record('login_failed', { ...client, userId: result.userId, details: { method: 'passkey', reason: result.reason } });
      this.notes.noteLogin('invalid_credentials');
      throw new AppError(result.code);
    }
    const user = await findUserById(this.db, result.passkey.user_id);
    if (!user) throw new AppError('invalid_passkey');
    if (user.disabled_at !== null) {
      await this.audit.record('login_failed', { ...client, userId: user.id, details: { method: 'passkey', reason: 'account_disabled' } });
      this.notes.noteLogin('disabled');
      throw new AppError('account_disabled');
    }
    const details = { method: 'passkey', passkey: result.passkey.id, user_verified: result.userVerified, ...(user.totp_enabled_at !== null ? { totp_skipped: 'user_verified_passkey' } : {}) };
    await this.audit.record('login_ok', { ...client, userId: user.id, details });
    return user;
  }

  // --- the second factor (mfa/service.ts calls these) -----------------------------

  async hasPasskeys(userId: string): Promise<boolean> {
    return (await repo.countByUser(this.db, userId)) > 0;
  }

  /** Options for the user's own passkeys, bound to the MFA login challenge `boundTo`. */
  async secondFactorOptions(userId: string, boundTo: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const { rpId } = this.rp();
    const passkeys = await repo.listByUser(this.db, userId);
    if (passkeys.length === 0) throw new AppError('passkey_not_found', 'This account has no passkey; use a code from the authenticator app');
    const { generateAuthenticationOptions } = await webauthn();
    const options = await generateAuthenticationOptions({
      rpID: rpId,
      allowCredentials: passkeys.map((p) => ({ id: p.id, transports: parseTransports(p.transports) })),
      userVerification: 'discouraged',
      timeout: CHALLENGE_TTL_MS,
    });
    await repo.saveChallenge(this.db, options.challenge, { purpose: 'second_factor', userId, boundTo }, this.clock.now(), CHALLENGE_TTL_MS);
    return options;
  }

  /** Inside the MFA step's transaction `tx`: is this a valid assertion by one of the user's passkeys, for this login? */
  async verifySecondFactor(tx: Db, userId: string, response: AuthenticationResponseJSON, boundTo: string, client: ClientInfo): Promise<boolean> {
    if (this.config.webauthn.rpId === null) return false;
    const result = await this.verifyAssertion(tx, response, { purpose: 'second_factor', userId, boundTo, requireUserVerification: false }, client);
    return result.ok;
  }

  /** Every check of one assertion (see the file comment); spends the challenge whatever the outcome. */
  private async verifyAssertion(db: Db, response: AuthenticationResponseJSON, expect: Expectation, client: ClientInfo): Promise<Assertion> {
    const { rpId, origins } = this.rp();
    const now = this.clock.now();
    const fail = (code: ErrorCode, reason: string, userId: string | null = expect.userId): Assertion => ({ ok: false, code, reason, userId });

    const challenge = challengeOf(response.response.clientDataJSON);
    const taken = challenge === null ? undefined : await repo.takeChallenge(db, challenge, expect.purpose, now);
    if (!taken || taken.user_id !== expect.userId || taken.bound_to !== expect.boundTo) return fail('passkey_challenge_invalid', 'challenge');

    const passkey = await repo.find(db, response.id, expect.userId ?? undefined);
    if (!passkey) return fail('invalid_passkey', 'unknown_credential');
    if (expect.userId === null) {
      const handle = response.response.userHandle;
      if (!handle || Buffer.from(handle, 'base64url').toString('utf8') !== passkey.user_id) return fail('invalid_passkey', 'user_handle', passkey.user_id);
    }

    const { verifyAuthenticationResponse } = await webauthn();
    let info;
    try {
      const result = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge!,
        expectedOrigin: origins,
        expectedRPID: rpId,
        // counter 0: the library's own counter check is skipped; ours below runs only on a
        // verified signature, so a forged answer can neither pass nor raise a clone alarm
        credential: { id: passkey.id, publicKey: new Uint8Array(Buffer.from(passkey.public_key, 'base64url')), counter: 0, transports: parseTransports(passkey.transports) },
        requireUserVerification: expect.requireUserVerification,
      });
      if (!result.verified) return fail('invalid_passkey', 'signature', passkey.user_id);
      info = result.authenticationInfo;
    } catch (err) {
      return fail('invalid_passkey', reasonOf(err), passkey.user_id);
    }

    // L3 §7.2 step 22: a counter that does not move forward (when either is non-zero) means
    // two authenticators hold this key: refused, and recorded for whoever reads the audit log.
    if ((info.newCounter > 0 || passkey.counter > 0) && info.newCounter <= passkey.counter) {
      const details = { passkey: passkey.id, name: passkey.name, stored_counter: passkey.counter, presented_counter: info.newCounter };
      await this.audit.record('passkey_counter_regression', { ...client, userId: passkey.user_id, details }, db);
      return fail('invalid_passkey', 'counter_regression', passkey.user_id);
    }
    if (!(await repo.recordUse(db, passkey, info.newCounter, info.credentialBackedUp, now))) return fail('invalid_passkey', 'concurrent_use', passkey.user_id);
    return { ok: true, passkey, userVerified: info.userVerified };
  }
}

/** A passkey's name as shown in the list: trimmed, control characters out, not empty. */
function cleanName(name: string): string {
  const label = name.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (label === '') {
    throw new AppError('validation_failed', 'body/name must not be blank', { details: [{ path: 'body/name', message: 'must not be blank' }] });
  }
  return label;
}
