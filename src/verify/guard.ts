/**
 * What the Fastify plugin and the Express middleware share: reading the bearer token
 * (RFC 6750 §2.1) and checking a route's scopes and roles. Framework-free.
 */
import { bearerChallenge, VerifyError } from './errors.ts';
import { scopesOf, type AccessTokenClaims, type Verifier } from './verifier.ts';

/** What a route asks of a token beyond being valid. */
export interface GuardPolicy {
  /** every one of these scopes (RFC 6749 §3.3), e.g. ['reports:read'] */
  readonly scopes?: readonly string[];
  /** at least one of these roles (a user's token), e.g. ['admin'] */
  readonly roles?: readonly string[];
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
 * case-insensitive, RFC 9110 §11.1). Absent: missing_token; another scheme or a
 * malformed value: invalid_token.
 */
export function bearerToken(authorization: string | string[] | undefined): string {
  if (authorization === undefined || authorization === '') throw new VerifyError('missing_token');
  const header = Array.isArray(authorization) ? authorization[0] ?? '' : authorization;
  const match = BEARER.exec(header);
  if (!match) throw new VerifyError('invalid_token', 'The Authorization header must be "Bearer <access token>"');
  return match[1]!;
}

/** Verifies the request's token and applies the policy; resolves to the claims or rejects with a VerifyError. */
export async function authorize(verifier: Verifier, authorization: string | string[] | undefined, policy: GuardPolicy = {}): Promise<AccessTokenClaims> {
  const claims = await verifier.verify(bearerToken(authorization));
  if (policy.scopes && policy.scopes.length > 0) {
    const held = new Set(scopesOf(claims));
    if (!policy.scopes.every((s) => held.has(s))) throw new VerifyError('insufficient_scope');
  }
  if (policy.roles && policy.roles.length > 0 && !(claims.roles ?? []).some((r) => policy.roles!.includes(r))) {
    throw new VerifyError('forbidden');
  }
  return claims;
}

/** The error as a response: status, headers (the RFC 6750 challenge) and the `{code, message}` body Bastion answers with too. */
export function errorResponse(err: VerifyError, realm: string | undefined, policy: GuardPolicy = {}): { status: number; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  // RFC 6750 §3.1: insufficient_scope names the scope the route needs
  const challenge = bearerChallenge(err, realm, err.code === 'insufficient_scope' ? policy.scopes?.join(' ') : undefined);
  if (challenge) headers['www-authenticate'] = challenge;
  return { status: err.status, headers, body: JSON.stringify({ code: err.code, message: err.message }) };
}

