/**
 * The login challenge handed out after a correct password when TOTP is on: opaque
 * `<id>.<secret>` like refresh tokens (tokens/refresh.ts). The id finds the row in
 * one_time_tokens (purpose 'mfa_challenge'); only SHA-256 of the 256-bit secret is stored
 * and compared in constant time.
 */
import { constantTimeEqual, randomToken, sha256Hex } from '../lib/random.ts';

const ID_BYTES = 16;
const SECRET_BYTES = 32;
const FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/** Long enough to open the app and type a code, short enough to bound a stolen challenge. */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** Wrong codes one challenge survives; then it is burned and the password must be given again. */
export const CHALLENGE_MAX_FAILURES = 5;

export function newChallenge(): { id: string; token: string; secretHash: string } {
  const id = randomToken(ID_BYTES);
  const secret = randomToken(SECRET_BYTES);
  return { id, token: `${id}.${secret}`, secretHash: sha256Hex(secret) };
}

export function parseChallenge(token: string): { id: string; secret: string } | null {
  const match = FORMAT.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

export const challengeSecretMatches = (secret: string, storedHash: string): boolean => constantTimeEqual(sha256Hex(secret), storedHash);

/** `data` holds `{"failures": n}`; anything else counts as none. */
export function challengeFailures(data: string | null): number {
  if (!data) return 0;
  try {
    const parsed = JSON.parse(data) as { failures?: unknown };
    return typeof parsed.failures === 'number' ? parsed.failures : 0;
  } catch {
    return 0;
  }
}
