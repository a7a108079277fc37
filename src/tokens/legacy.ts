/**
 * Access tokens of the Flask application Bastion replaces (issue #12 part 7): JWTs signed
 * with that app's shared secret by Flask-JWT-Extended (`sub`, `type: "access"`, `jti`,
 * `csrf` in cookie mode) or Flask-JWT (`identity`, no jti). Pure, like access.ts: every
 * input is an argument; the mapping to an account lives in sessions/legacy.ts.
 */
import { createHash } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { LEGACY_JWT_ALGS } from '../config/schema.ts';
import { AppError } from '../errors/app-error.ts';
import { ACCESS_TOKEN_TYP } from './access.ts';

export interface LegacyVerifyInput {
  readonly secret: string;
  readonly alg: (typeof LEGACY_JWT_ALGS)[number];
  /** the claim that names the user */
  readonly identityClaim: string;
  readonly issuer: string | null;
  readonly audience: string | null;
  readonly leewaySec: number;
  readonly nowSec: number;
}

export interface LegacyClaims {
  /** the identity claim's value, as text (Flask apps often put the numeric user id there) */
  readonly identity: string;
  /** 0 when the token has none: then any "tokens valid after" stamp of the user voids it */
  readonly iat: number;
  readonly exp: number;
  /** the token's own jti (Flask-JWT-Extended), or one derived from the token (Flask-JWT has none), so that logout can deny it */
  readonly jti: string;
  /** Flask-JWT-Extended's double-submit CSRF value, when the old app ran in cookie mode */
  readonly csrf?: string;
}

/**
 * Whether a token should be tried as an old app's token: any JWT that is not typed as one
 * of Bastion's own (RFC 9068's at+jwt), since those never verify as anything else. Bastion's
 * tokens never come here, and an old token never reaches Bastion's verifier.
 */
export function isLegacyCandidate(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ !== ACCESS_TOKEN_TYP;
  } catch {
    return false;
  }
}

/**
 * Verifies signature, alg and claims; throws AppError token_expired or invalid_token.
 * RFC 8725 §3.1: the one configured HMAC algorithm only, so the legacy secret is never
 * used with another algorithm, and a token with `alg: none` or an asymmetric alg fails.
 * `exp` is required: a token that never expires would outlive any revocation record.
 */
export async function verifyLegacyToken(token: string, input: LegacyVerifyInput): Promise<LegacyClaims> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, new TextEncoder().encode(input.secret), {
      algorithms: [input.alg],
      ...(input.issuer !== null ? { issuer: input.issuer } : {}),
      ...(input.audience !== null ? { audience: input.audience } : {}),
      clockTolerance: input.leewaySec,
      currentDate: new Date(input.nowSec * 1000),
      requiredClaims: ['exp', input.identityClaim],
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new AppError('token_expired', undefined, { cause: err });
    throw new AppError('invalid_token', undefined, { cause: err });
  }
  const { exp, iat, jti, csrf, type } = payload;
  // Flask-JWT-Extended marks its refresh tokens `type: "refresh"`: they are not access tokens
  if (type !== undefined && type !== 'access') throw new AppError('invalid_token');
  const identity = identityOf(payload[input.identityClaim]);
  if (identity === null || typeof exp !== 'number') throw new AppError('invalid_token');
  if (iat !== undefined && (typeof iat !== 'number' || iat > input.nowSec + input.leewaySec)) throw new AppError('invalid_token');
  return {
    identity,
    iat: typeof iat === 'number' ? Math.floor(iat) : 0,
    exp,
    jti: typeof jti === 'string' && jti !== '' ? jti : `legacy-${createHash('sha256').update(token).digest('hex').slice(0, 32)}`,
    ...(typeof csrf === 'string' && csrf !== '' ? { csrf } : {}),
  };
}

/** Text, or a whole number (Flask-JWT's `identity: 1`), as text. */
function identityOf(value: unknown): string | null {
  if (typeof value === 'string' && value !== '' && value.length <= 255) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}
