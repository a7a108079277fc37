/**
 * TOTP (RFC 6238) as a thin wrapper over `otpauth`: the parameters every authenticator app
 * understands (HMAC-SHA-1, 6 digits, 30 s steps; Google Authenticator ignores any others),
 * a ±1 step window for clock drift (RFC 6238 §5.2 / §6), and replay protection: a step at or
 * before the last accepted one is never accepted again (RFC 6238 §5.2, "the verifier MUST NOT
 * accept the second attempt of the OTP after the successful validation").
 * Time always comes from the caller (the injected Clock), never from Date.now().
 */
import { HOTP, Secret, TOTP } from 'otpauth';

export const ISSUER = 'Bastion';
const ALGORITHM = 'SHA1';
const DIGITS = 6;
const PERIOD_SEC = 30;
/** 160 bits: the key length RFC 4226 §4 (R6) recommends and RFC 6238 inherits. */
const SECRET_BYTES = 20;
/** Steps accepted either side of the current one (RFC 6238 §5.2: at most one step back is advised). */
const WINDOW = 1;

const CODE = /^\d{6}$/;

/** A fresh random secret, base32 as authenticator apps take it. */
export const newTotpSecret = (): string => new Secret({ size: SECRET_BYTES }).base32;

/** The provisioning URI for QR codes: otpauth://totp/Bastion:<username>?secret=…&issuer=Bastion… */
export function otpauthUri(secret: string, username: string): string {
  return new TOTP({
    issuer: ISSUER,
    label: username,
    secret: Secret.fromBase32(secret),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD_SEC,
  }).toString();
}

/** The RFC 6238 time step T = floor(unixtime / X) at `nowMs`. */
export const timeStep = (nowMs: number): number => TOTP.counter({ period: PERIOD_SEC, timestamp: nowMs });

/** Users type "123 456"; spaces are not part of the code. */
export const normalizeTotpCode = (code: string): string => code.replace(/\s+/g, '');

export const looksLikeTotpCode = (code: string): boolean => CODE.test(normalizeTotpCode(code));

/**
 * The time step `code` belongs to, within ±WINDOW of `nowMs` and strictly after `lastStep`,
 * or null. The caller must then record the step atomically (compare-and-set on
 * totp_last_step) so that two concurrent requests cannot both spend it.
 */
export function matchStep(secret: string, code: string, nowMs: number, lastStep: number | null): number | null {
  const token = normalizeTotpCode(code);
  if (!CODE.test(token)) return null;
  const key = Secret.fromBase32(secret);
  const current = timeStep(nowMs);
  // current first, then the drifted neighbours (the order otpauth itself uses)
  const candidates = [current];
  for (let i = 1; i <= WINDOW; i++) candidates.push(current - i, current + i);
  for (const step of candidates) {
    if (lastStep !== null && step <= lastStep) continue;
    // HOTP at counter T is TOTP at step T; otpauth compares in constant time
    if (HOTP.validate({ token, secret: key, algorithm: ALGORITHM, digits: DIGITS, counter: step, window: 0 }) === 0) return step;
  }
  return null;
}
