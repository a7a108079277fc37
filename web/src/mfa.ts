/**
 * The second factor as the page handles it: what a person typed becomes the proof the
 * server expects, and a login that needs a code is recognised by its error.
 */
import { ApiError } from './http.ts';
import type { PasskeyAssertion } from './passkeys.ts';

/** A 6-digit code from the authenticator app, one of the single-use recovery codes, or a passkey's answer. */
export type MfaProof = { readonly code: string } | { readonly recovery_code: string } | { readonly passkey: PasskeyAssertion };

/** Six digits (spaces allowed, as apps show "123 456") are an app code; anything else a recovery code. */
export function proofFrom(input: string): MfaProof {
  const compact = input.replace(/\s+/g, '');
  return /^\d{6}$/.test(compact) ? { code: compact } : { recovery_code: input.trim() };
}

/** The challenge of a correct password on an account with 2FA on (401 mfa_required), else null. */
export function mfaChallenge(err: unknown): string | null {
  if (!(err instanceof ApiError) || err.code !== 'mfa_required') return null;
  const token = (err.details as { challenge_token?: unknown } | undefined)?.challenge_token;
  return typeof token === 'string' && token !== '' ? token : null;
}

/** Whether the mfa_required answer says the account has a passkey that may answer instead of a code. */
export function mfaAllowsPasskey(err: unknown): boolean {
  return err instanceof ApiError && err.code === 'mfa_required' && (err.details as { passkey?: unknown } | undefined)?.passkey === true;
}
