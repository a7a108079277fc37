/**
 * Recovery codes (OWASP MFA Cheat Sheet, "Recovery codes"): 10 random single-use codes shown
 * once at enrolment. 12 characters from a 32-letter alphabet = 60 bits each, far beyond
 * guessing even without the login throttle, so a fast hash (SHA-256) is enough to store
 * them, as for refresh tokens: there is nothing to brute-force offline.
 */
import { randomInt } from 'node:crypto';
import { sha256Hex } from '../lib/random.ts';

export const RECOVERY_CODE_COUNT = 10;
/** Crockford-style: no i, l, o, u, so codes read back unambiguously. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const LENGTH = 12; // 12 × log2(32) = 60 bits
const GROUP = 4;

function newCode(): string {
  let code = '';
  for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return code.match(new RegExp(`.{${GROUP}}`, 'g'))!.join('-');
}

/** Distinct codes, formatted `xxxx-xxxx-xxxx` for reading. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(newCode());
  return [...codes];
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export const normalizeRecoveryCode = (code: string): string => code.toLowerCase().replace(/[\s-]+/g, '');

export const hashRecoveryCode = (code: string): string => sha256Hex(normalizeRecoveryCode(code));
