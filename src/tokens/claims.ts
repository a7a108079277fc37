/** What Bastion puts in an access token and what the guard hands to handlers. */
export interface AccessClaims {
  readonly iss: string;
  readonly aud: string;
  /** user id */
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
  readonly roles: readonly string[];
  /** the login session (refresh family) this token belongs to */
  readonly sid?: string;
  /** CSRF token bound to this access token, present in cookie mode */
  readonly csrf?: string;
  /** when the user last proved their password (OIDC Core §2): kept across refreshes */
  readonly auth_time?: number;
  /** a machine client's token (RFC 9068 §2.2): its client id, equal to `sub` */
  readonly client_id?: string;
  /** the granted scopes, space-separated (RFC 9068 §2.2.3, RFC 6749 §3.3) */
  readonly scope?: string;
  /** set by the guard only: an old Flask app's token, accepted for an imported account (LEGACY_JWT_*, sessions/legacy.ts) */
  readonly legacy?: true;
}

/** A machine client's own token (client credentials grant): no user, no roles, no session. */
export const isClientToken = (claims: Pick<AccessClaims, 'sub' | 'client_id'>): boolean =>
  claims.client_id !== undefined && claims.client_id === claims.sub;

/** The token's scopes (RFC 6749 §3.3: space-delimited, order does not matter). */
export const scopesOf = (claims: Pick<AccessClaims, 'scope'>): string[] => (claims.scope ? claims.scope.split(' ').filter(Boolean) : []);

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Narrows a verified payload to AccessClaims, or null when a claim has the wrong shape. */
export function asAccessClaims(payload: Record<string, unknown>): AccessClaims | null {
  const { iss, aud, sub, iat, exp, jti, roles, sid, csrf, auth_time, client_id, scope } = payload;
  if (typeof iss !== 'string' || typeof aud !== 'string' || typeof sub !== 'string') return null;
  if (typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string') return null;
  if (client_id !== undefined && typeof client_id !== 'string') return null;
  if (scope !== undefined && typeof scope !== 'string') return null;
  // a client's token carries no roles (a client is not a user); a user's always does
  const client = client_id !== undefined && client_id === sub;
  if (!(client && roles === undefined) && !isStringArray(roles)) return null;
  if (sid !== undefined && typeof sid !== 'string') return null;
  if (csrf !== undefined && typeof csrf !== 'string') return null;
  if (auth_time !== undefined && typeof auth_time !== 'number') return null;
  return {
    iss,
    aud,
    sub,
    iat,
    exp,
    jti,
    roles: isStringArray(roles) ? roles : [],
    ...(sid ? { sid } : {}),
    ...(csrf ? { csrf } : {}),
    ...(auth_time !== undefined ? { auth_time } : {}),
    ...(client_id !== undefined ? { client_id } : {}),
    ...(scope !== undefined ? { scope } : {}),
  };
}
