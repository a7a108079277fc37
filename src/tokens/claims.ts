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
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Narrows a verified payload to AccessClaims, or null when a claim has the wrong shape. */
export function asAccessClaims(payload: Record<string, unknown>): AccessClaims | null {
  const { iss, aud, sub, iat, exp, jti, roles, sid, csrf, auth_time } = payload;
  if (typeof iss !== 'string' || typeof aud !== 'string' || typeof sub !== 'string') return null;
  if (typeof iat !== 'number' || typeof exp !== 'number' || typeof jti !== 'string') return null;
  if (!isStringArray(roles)) return null;
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
    roles,
    ...(sid ? { sid } : {}),
    ...(csrf ? { csrf } : {}),
    ...(auth_time !== undefined ? { auth_time } : {}),
  };
}
