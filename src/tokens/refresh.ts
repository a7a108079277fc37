/**
 * Refresh tokens are opaque: `<id>.<secret>`. The id finds the row; only SHA-256 of the
 * secret is stored and it is compared in constant time (lucia's session tokens). A fast
 * hash suffices: the secret has 256 bits of entropy, so there is nothing to brute-force.
 */
import { constantTimeEqual, randomToken, sha256Hex } from '../lib/random.ts';

const ID_BYTES = 16;
const SECRET_BYTES = 32;
const FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface RefreshTokenParts {
  readonly id: string;
  readonly secret: string;
}

export function newRefreshToken(): RefreshTokenParts & { token: string; secretHash: string } {
  const id = randomToken(ID_BYTES);
  const secret = randomToken(SECRET_BYTES);
  return { id, secret, token: `${id}.${secret}`, secretHash: sha256Hex(secret) };
}

export function parseRefreshToken(token: string): RefreshTokenParts | null {
  const match = FORMAT.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

export const refreshSecretMatches = (secret: string, storedHash: string): boolean =>
  constantTimeEqual(sha256Hex(secret), storedHash);
