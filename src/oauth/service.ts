/**
 * The OAuth side of Bastion for other services: access tokens for machine clients (RFC
 * 6749 §4.4, in the RFC 9068 profile), token introspection (RFC 7662) and revocation
 * (RFC 7009). Every answer about a token goes through the same checks as the guard
 * (SessionService.verify: signature, iss, aud, typ, exp, then the in-memory revocation
 * list that every instance keeps current from the feed), so introspection honours every
 * revocation kind within the same bound as Bastion's own routes.
 */
import type { AuditContext, AuditLog } from '../audit/log.ts';
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import type { KeyService } from '../keys/service.ts';
import { toSeconds, type Clock } from '../lib/clock.ts';
import { findTokenWithFamily, sessionLapse } from '../sessions/repo.ts';
import { waitForStamp, type RevocationList } from '../sessions/revocation.ts';
import type { SessionService } from '../sessions/service.ts';
import type { Db } from '../storage/db.ts';
import { issueAccessToken } from '../tokens/access.ts';
import { isClientToken, type AccessClaims } from '../tokens/claims.ts';
import { parseRefreshToken, refreshSecretMatches, type RefreshTokenParts } from '../tokens/refresh.ts';
import { findUserById } from '../users/repo.ts';
import type { Client, ClientService } from './clients.ts';
import { formatScope, parseScope } from './scopes.ts';

/** RFC 6749 §5.1 */
export interface ClientTokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly scope?: string;
}

/** RFC 7662 §2.2: claims of an active token; `{active: false}` says nothing more. */
export type Introspection =
  | { readonly active: false }
  | {
      readonly active: true;
      readonly sub: string;
      readonly iss: string;
      readonly exp: number;
      readonly iat?: number;
      readonly aud?: string;
      readonly jti?: string;
      readonly token_type?: 'Bearer';
      readonly client_id?: string;
      readonly scope?: string;
      readonly username?: string;
      readonly roles?: string[];
      readonly sid?: string;
      readonly auth_time?: number;
    };

const INACTIVE: Introspection = { active: false };

/** A bad token is not an error here: introspection says inactive, revocation does nothing. */
async function verifiedOrNull(sessions: SessionService, token: string): Promise<AccessClaims | null> {
  try {
    return await sessions.verify(token);
  } catch (err) {
    if (err instanceof AppError) return null;
    throw err;
  }
}

export class OAuthService {
  constructor(
    private readonly db: Db,
    private readonly config: Pick<Config, 'jwt' | 'session'>,
    private readonly clock: Clock,
    private readonly keys: KeyService,
    private readonly sessions: SessionService,
    private readonly revocations: RevocationList,
    private readonly clients: ClientService,
    private readonly audit: AuditLog,
  ) {}

  /**
   * client_credentials (RFC 6749 §4.4.3): the requested scopes, each granted to the client,
   * or all of the client's when none are asked for (§3.3 lets the server pick a default).
   * No refresh token (§4.4.3: "SHOULD NOT be included").
   */
  async issueClientToken(client: Client, requested: string | undefined, context: AuditContext = {}): Promise<ClientTokenResponse> {
    let scopes = client.scopes;
    if (requested !== undefined) {
      const asked = parseScope(requested);
      if (!asked) throw new AppError('invalid_scope', 'scope must be scope tokens separated by single spaces (RFC 6749 section 3.3)');
      const missing = asked.filter((s) => !client.scopes.includes(s));
      if (missing.length > 0) throw new AppError('invalid_scope', `Not granted to this client: ${formatScope(missing).slice(0, 200)}`);
      scopes = asked;
    }
    // a token minted in the second of a secret rotation would be void already (revocation.ts)
    await waitForStamp(client.tokensValidAfter, this.clock);
    const { jwt } = this.config;
    const scope = scopes.length > 0 ? formatScope(scopes) : undefined;
    const { token, claims } = await issueAccessToken({
      sub: client.id,
      roles: [],
      clientId: client.id,
      ...(scope !== undefined ? { scope } : {}),
      key: this.keys.ring.active,
      issuer: jwt.issuer,
      audience: jwt.audience,
      ttlSec: jwt.accessTtlSec,
      nowSec: toSeconds(this.clock.now()),
    });
    await this.audit.record('client_token_issued', { ...context, actorId: client.id, details: { client_id: client.id, scope: scope ?? null, jti: claims.jti } });
    return { access_token: token, token_type: 'Bearer', expires_in: jwt.accessTtlSec, ...(scope !== undefined ? { scope } : {}) };
  }

  /**
   * RFC 7662 §2.2. The kind of token is known from its shape (a JWT, or a refresh token's
   * `<id>.<secret>`), so `token_type_hint` is not needed (§2.1 lets the server ignore it).
   */
  async introspect(token: string): Promise<Introspection> {
    const refresh = parseRefreshToken(token);
    if (refresh) return this.introspectRefresh(refresh);
    const claims = await verifiedOrNull(this.sessions, token);
    if (!claims) return INACTIVE;
    const base = { active: true, sub: claims.sub, iss: claims.iss, aud: claims.aud, exp: claims.exp, iat: claims.iat, jti: claims.jti, token_type: 'Bearer' } as const;
    if (isClientToken(claims)) {
      // removal revokes the client's tokens already; this also covers the moment in between
      if (!(await this.clients.find(claims.sub))) return INACTIVE;
      return { ...base, client_id: claims.sub, ...(claims.scope !== undefined ? { scope: claims.scope } : {}) };
    }
    const user = await findUserById(this.db, claims.sub);
    if (!user || user.disabled_at !== null) return INACTIVE;
    // never the csrf claim: it is the cookie session's second secret
    return {
      ...base,
      username: user.username,
      roles: [...claims.roles],
      ...(claims.sid !== undefined ? { sid: claims.sid } : {}),
      ...(claims.auth_time !== undefined ? { auth_time: claims.auth_time } : {}),
      ...(claims.client_id !== undefined ? { client_id: claims.client_id } : {}),
      ...(claims.scope !== undefined ? { scope: claims.scope } : {}),
    };
  }

  /** A refresh token is active while it is the session's current one and the session lives (sessions/service.ts rules). */
  private async introspectRefresh(parts: RefreshTokenParts): Promise<Introspection> {
    const row = await findTokenWithFamily(this.db, parts.id);
    if (!row || !refreshSecretMatches(parts.secret, row.secret_hash)) return INACTIVE;
    if (row.used_at !== null || sessionLapse(row, this.clock.now(), this.config.session.idleTtlSec * 1000)) return INACTIVE;
    const user = await findUserById(this.db, row.user_id);
    if (!user || user.disabled_at !== null) return INACTIVE;
    return { active: true, sub: user.id, username: user.username, iss: this.config.jwt.issuer, exp: toSeconds(row.expires_at), sid: row.family_id };
  }

  /**
   * RFC 7009 §2.1. A refresh token ends its whole session and that session's access tokens,
   * as logout does. An access token is denied by its jti on every instance (the feed). A
   * client token may be revoked only by its own client (§2.1: "the token was issued to the
   * client making the revocation request"); a user's tokens were issued by Bastion's own
   * login, to no registered client, so any authenticated client holding one may revoke it
   * (a gateway logging its user out). Unknown, expired and already revoked tokens: nothing
   * to do, and the answer is the same 200 (§2.2).
   */
  async revoke(client: Client, token: string, context: AuditContext = {}): Promise<void> {
    const by = { ...context, actorId: client.id };
    const refresh = parseRefreshToken(token);
    if (refresh) {
      const row = await findTokenWithFamily(this.db, refresh.id);
      if (!row || !refreshSecretMatches(refresh.secret, row.secret_hash) || row.revoked_at !== null) return;
      await this.sessions.revokeSession(row.user_id, row.family_id, by).catch((err: unknown) => {
        if (!(err instanceof AppError && err.code === 'session_not_found')) throw err; // revoked meanwhile
      });
      return;
    }
    const claims = await verifiedOrNull(this.sessions, token);
    if (!claims) return;
    const clientToken = isClientToken(claims);
    if (clientToken && claims.sub !== client.id) {
      throw new AppError('unauthorized_client', 'This token was issued to another client; only that client may revoke it (RFC 7009 section 2.1)');
    }
    await this.revocations.revokeToken(claims.jti, claims.exp, this.config.jwt.leewaySec);
    await this.audit.record('token_revoked', {
      ...by,
      userId: clientToken ? null : claims.sub,
      details: { jti: claims.jti, ...(clientToken ? { client_id: claims.sub } : { session: claims.sid ?? null }) },
    });
  }
}
