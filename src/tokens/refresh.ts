/**
 * Refresh tokens are opaque: `<id>.<secret>`. The id finds the row; only SHA-256 of the
 * secret is stored and it is compared in constant time (lucia's session tokens). A fast
 * hash suffices: the secret has 256 bits of entropy, so there is nothing to brute-force.
 *
 * A rotated token's successor has a random id but a derived secret (`childRefreshToken`),
 * so a client that lost the response and retries the spent token can be handed the same
 * successor again (docs/security.md, "Refresh families").
 */
import { createHmac } from 'node:crypto';
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

/** Domain separation: this HMAC key (a refresh secret) signs nothing else. */
const CHILD_CONTEXT = 'bastion/refresh-child/v1:';

/**
 * The successor of the token whose secret is `parentSecret`, under `childId`:
 * HMAC-SHA256(parentSecret, context + childId), 32 bytes as base64url like any secret.
 * Only the holder of the parent's secret can compute it, and the server can compute it
 * again whenever that holder presents the parent, without ever storing the secret.
 */
export function childRefreshToken(
  parentSecret: string,
  childId: string = randomToken(ID_BYTES),
): RefreshTokenParts & { token: string; secretHash: string } {
  const secret = createHmac('sha256', parentSecret).update(CHILD_CONTEXT + childId).digest('base64url');
  return { id: childId, secret, token: `${childId}.${secret}`, secretHash: sha256Hex(secret) };
}

export function parseRefreshToken(token: string): RefreshTokenParts | null {
  const match = FORMAT.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

export const refreshSecretMatches = (secret: string, storedHash: string): boolean =>
  constantTimeEqual(sha256Hex(secret), storedHash);
