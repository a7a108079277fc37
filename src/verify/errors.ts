/**
 * What `verify(token)` and the guards throw: one class with a stable `code`, as jose's
 * errors have (STYLE.md §4.1), and the HTTP answer each code gets from the Fastify plugin
 * and the Express middleware (statuses here and only here).
 */

export const VERIFY_ERRORS = {
  /** no token in the request (RFC 6750 §3.1: the challenge then names no error) */
  missing_token: { status: 401, challenge: null, message: 'An access token is required' },
  /** bad signature, wrong issuer, audience or type, malformed, unknown key */
  invalid_token: { status: 401, challenge: 'invalid_token', message: 'The access token is invalid' },
  token_expired: { status: 401, challenge: 'invalid_token', message: 'The access token has expired' },
  /** revoked at the issuer: logout, logout everywhere, password or role change, a disabled account */
  token_revoked: { status: 401, challenge: 'invalid_token', message: 'The access token has been revoked' },
  /** RFC 6750 §3.1: the token lacks a scope the route needs */
  insufficient_scope: { status: 403, challenge: 'insufficient_scope', message: 'The access token does not carry the scope this action needs' },
  /** none of the roles the route needs */
  forbidden: { status: 403, challenge: 'insufficient_scope', message: 'The access token does not carry a role this action needs' },
  /**
   * Nothing can be decided now: the issuer's keys cannot be fetched, or (with
   * `failClosedAfter`) the revocation feed has not been read for too long. Not the
   * token's fault, so 503 rather than 401: the client should retry, not log in again.
   */
  verifier_unavailable: { status: 503, challenge: null, message: 'Tokens cannot be verified right now; try again shortly' },
} as const;

export type VerifyErrorCode = keyof typeof VERIFY_ERRORS;

export class VerifyError extends Error {
  override name = 'VerifyError';

  constructor(
    readonly code: VerifyErrorCode,
    message: string = VERIFY_ERRORS[code].message,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }

  get status(): number {
    return VERIFY_ERRORS[this.code].status;
  }
}

/** RFC 6750 §3: auth-param values are quoted-strings; keep them printable ASCII without " and \. */
const quoted = (text: string): string => `"${text.replace(/[^\x20-\x7e]|["\\]/g, "'")}"`;

/**
 * The `WWW-Authenticate` value for a refused request (RFC 6750 §3), or null (503 needs no
 * challenge). `scope` names what an insufficient_scope route needs (§3.1).
 */
export function bearerChallenge(error: VerifyError, realm: string | undefined, scope?: string): string | null {
  const { challenge, status } = VERIFY_ERRORS[error.code];
  if (status === 503) return null;
  const params = [
    ...(realm !== undefined ? [`realm=${quoted(realm)}`] : []),
    ...(challenge !== null ? [`error=${quoted(challenge)}`, `error_description=${quoted(error.message)}`] : []),
    ...(challenge === 'insufficient_scope' && scope ? [`scope=${quoted(scope)}`] : []),
  ];
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
}
