/**
 * Access tokens: short-lived JWTs. Pure functions; every input is an argument
 * (STYLE.md §4.7), so the same code serves the server, the CLI and the tests.
 */
import { randomUUID } from 'node:crypto';
import { errors, jwtVerify, type JWTHeaderParameters } from 'jose';
import type { JwtAlg } from '../config/schema.ts';
import { AppError } from '../errors/app-error.ts';
import { asAccessClaims, isClientToken, type AccessClaims } from './claims.ts';
import type { KeyRing, SigningKey } from './keys.ts';
import { signCompact } from './sign.ts';

/** RFC 9068 §2.1: access tokens are typed, so an ID token or other JWT cannot pass as one. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

export interface IssueInput {
  readonly sub: string;
  /** a user's roles; a machine client's token (with `clientId`) carries none */
  readonly roles: readonly string[];
  /** RFC 9068 §2.2: the client the token is issued to; a client-credentials token has sub = client_id */
  readonly clientId?: string;
  /** RFC 9068 §2.2.3: granted scopes, space-separated */
  readonly scope?: string;
  readonly sid?: string;
  readonly csrf?: string;
  readonly authTime?: number;
  readonly key: SigningKey;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSec: number;
  readonly nowSec: number;
}

export async function issueAccessToken(input: IssueInput): Promise<{ token: string; claims: AccessClaims }> {
  const claims: AccessClaims = {
    iss: input.issuer,
    aud: input.audience,
    sub: input.sub,
    iat: input.nowSec,
    exp: input.nowSec + input.ttlSec,
    jti: randomUUID(),
    roles: [...input.roles],
    ...(input.sid ? { sid: input.sid } : {}),
    ...(input.csrf ? { csrf: input.csrf } : {}),
    ...(input.authTime !== undefined ? { auth_time: input.authTime } : {}),
    ...(input.clientId !== undefined ? { client_id: input.clientId } : {}),
    ...(input.scope !== undefined ? { scope: input.scope } : {}),
  };
  // a client's own token leaves `roles` out (RFC 9068 §2.2.3.1: roles belong to users)
  const { roles: _none, ...withoutRoles } = claims;
  const token = signCompact(input.key.alg, { kid: input.key.kid, typ: ACCESS_TOKEN_TYP }, isClientToken(claims) ? withoutRoles : claims, input.key.signKey);
  return { token, claims };
}

export interface VerifyInput {
  readonly keys: KeyRing | ((header: JWTHeaderParameters) => Promise<SigningKey | undefined>);
  readonly alg: JwtAlg;
  readonly issuer: string;
  readonly audience: string;
  readonly leewaySec: number;
  readonly nowSec: number;
}

/**
 * Verifies signature and claims; throws AppError token_expired or invalid_token.
 * RFC 8725 §3.1: only the configured algorithm is accepted, so `none` and an HS256 token
 * signed with a public key both fail. Keys come only from our own ring: jku, x5u and an
 * embedded jwk header are never followed (RFC 8725 §3.10).
 */
export async function verifyAccessToken(token: string, input: VerifyInput): Promise<AccessClaims> {
  const lookup = input.keys;
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const key = typeof lookup === 'function' ? await lookup(header) : lookup.find(header.kid);
        if (!key || key.alg !== header.alg) throw new errors.JWKSNoMatchingKey();
        return key.verifyKey;
      },
      {
        algorithms: [input.alg],
        issuer: input.issuer,
        audience: input.audience,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance: input.leewaySec,
        currentDate: new Date(input.nowSec * 1000),
        requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
      },
    );
    const claims = asAccessClaims(payload as Record<string, unknown>);
    if (!claims) throw new AppError('invalid_token');
    return claims;
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof errors.JWTExpired) throw new AppError('token_expired', undefined, { cause: err });
    throw new AppError('invalid_token', undefined, { cause: err });
  }
}
