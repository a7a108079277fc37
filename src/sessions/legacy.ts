/**
 * The cut-over from a Flask app (issue #12 part 7, LEGACY_JWT_*): until LEGACY_JWT_UNTIL,
 * the guard also accepts that app's access tokens, for imported accounts only, so that
 * moving to Bastion logs nobody out. Such a token stands for the imported account it
 * names, with that account's roles as Bastion has them now (never roles from the token),
 * and every revocation Bastion has applies to it:
 *   - the identity claim maps to an account imported by `bastion import`: by the old
 *     app's id (legacy_id), else the username, else the email; any other account, or
 *     none, is `invalid_token`;
 *   - a disabled account is refused (`account_disabled`);
 *   - logout denies the token's jti (one derived from the token when it has none), and
 *     log out everywhere, a password or role change void it through the account's "tokens
 *     valid after" stamp, read from the database on every use, so the bound across
 *     instances is the database's, and no feed entry has to outlive the old token;
 *   - it never counts as a fresh login (no auth_time), and carries no session;
 *   - from LEGACY_JWT_UNTIL on, a valid old token is refused with `legacy_token_expired`.
 * Its use is audited (`legacy_token_used`), once per account per hour and instance.
 */
import type { AuditLog } from '../audit/log.ts';
import type { LegacyJwtConfig } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import { toSeconds, type Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { AccessClaims } from '../tokens/claims.ts';
import { isLegacyCandidate, verifyLegacyToken } from '../tokens/legacy.ts';
import { normalizeEmail, usernameKey } from '../users/model.ts';
import { findUserById, type UserWithRoles } from '../users/repo.ts';
import type { RevocationList } from './revocation.ts';

const AUDIT_EVERY_MS = 3_600_000;
const AUDIT_MEMORY = 10_000;

export interface LegacyRequest {
  readonly ip: string | null;
  readonly userAgent: string | null;
}

export class LegacyTokens {
  /** account id -> when its last legacy_token_used event was written here */
  private readonly audited = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly config: LegacyJwtConfig,
    private readonly leewaySec: number,
    private readonly revocations: RevocationList,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {}

  /** Whether the guard should verify this token here rather than as one of Bastion's own. */
  accepts(token: string): boolean {
    return isLegacyCandidate(token);
  }

  async verify(token: string, request: LegacyRequest): Promise<AccessClaims> {
    const now = this.clock.now();
    const claims = await verifyLegacyToken(token, {
      secret: this.config.secret,
      alg: this.config.alg,
      identityClaim: this.config.identityClaim,
      issuer: this.config.issuer,
      audience: this.config.audience,
      leewaySec: this.leewaySec,
      nowSec: toSeconds(now),
    });
    if (now >= this.config.until) throw new AppError('legacy_token_expired');
    const user = await this.findImported(claims.identity);
    if (!user) throw new AppError('invalid_token');
    if (user.disabled_at !== null) throw new AppError('account_disabled');
    const access: AccessClaims = {
      iss: this.config.issuer ?? 'legacy',
      aud: this.config.audience ?? 'legacy',
      sub: user.id,
      iat: claims.iat,
      exp: claims.exp,
      jti: claims.jti,
      roles: user.roles,
      legacy: true,
      ...(claims.csrf ? { csrf: claims.csrf } : {}),
    };
    if (this.revocations.isRevoked(access) || claims.iat * 1000 < user.tokens_valid_after) throw new AppError('token_revoked');
    await this.noteUse(user.id, now, request);
    return access;
  }

  /** Imported accounts only: by the old app's id, else username, else email. */
  private async findImported(identity: string): Promise<UserWithRoles | undefined> {
    const imported = () => this.db.selectFrom('users').select('id').where('imported_at', 'is not', null);
    const row =
      (await imported().where('legacy_id', '=', identity).executeTakeFirst()) ??
      (await imported().where('username_key', '=', usernameKey(identity)).executeTakeFirst()) ??
      (identity.includes('@') ? await imported().where('email', '=', normalizeEmail(identity)).executeTakeFirst() : undefined);
    return row ? findUserById(this.db, row.id) : undefined;
  }

  private async noteUse(userId: string, now: number, request: LegacyRequest): Promise<void> {
    const last = this.audited.get(userId);
    if (last !== undefined && now - last < AUDIT_EVERY_MS) return;
    if (this.audited.size >= AUDIT_MEMORY) {
      for (const [id, at] of this.audited) if (now - at >= AUDIT_EVERY_MS) this.audited.delete(id);
      if (this.audited.size >= AUDIT_MEMORY) this.audited.clear();
    }
    this.audited.set(userId, now);
    await this.audit.record('legacy_token_used', {
      userId,
      ip: request.ip,
      userAgent: request.userAgent,
      details: { claim: this.config.identityClaim, alg: this.config.alg },
    });
  }
}
