/**
 * Passkeys as the page uses them: the browser's WebAuthn prompts (through
 * @simplewebauthn/browser, loaded only when a passkey is used) and the words for what can
 * go wrong there. The server makes every option and checks every answer.
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/browser';

export type PasskeyCreationOptions = PublicKeyCredentialCreationOptionsJSON;
export type PasskeyRequestOptions = PublicKeyCredentialRequestOptionsJSON;
export type PasskeyAssertion = AuthenticationResponseJSON;
export type PasskeyAttestation = RegistrationResponseJSON;

/** GET /api/auth/passkeys */
export interface Passkey {
  readonly id: string;
  readonly name: string;
  readonly created_at: string;
  readonly last_used_at: string | null;
  readonly transports: readonly string[];
  /** a synced (multi-device) passkey */
  readonly backup_eligible: boolean;
  readonly backed_up: boolean;
}

const library = () => import('@simplewebauthn/browser');

/** Whether this browser can use passkeys at all (WebAuthn needs a secure context). */
export const passkeysSupported = (): boolean => window.isSecureContext && typeof window.PublicKeyCredential === 'function';

/** The browser asks for a new passkey (create) on the server's options. */
export async function createPasskey(optionsJSON: PasskeyCreationOptions): Promise<PasskeyAttestation> {
  const { startRegistration } = await library();
  return startRegistration({ optionsJSON });
}

/** The browser asks for one of the person's passkeys (get) on the server's options. */
export async function usePasskey(optionsJSON: PasskeyRequestOptions): Promise<PasskeyAssertion> {
  const { startAuthentication } = await library();
  return startAuthentication({ optionsJSON });
}

/**
 * What the browser's own refusals mean for a person (WebAuthn L3 §5.1.3, §5.1.4: the
 * DOMException names), or null when the error did not come from the browser's prompt.
 */
export function passkeyProblem(err: unknown): string | null {
  const name = err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'AbortError':
      return 'The passkey request was cancelled or timed out.';
    case 'SecurityError':
      return `Passkeys do not work at this address (${location.host}). Open the app by its host name, e.g. http://localhost${location.port ? `:${location.port}` : ''}.`;
    case 'InvalidStateError':
      return 'This device already holds a passkey for your account.';
    case 'NotSupportedError':
      return 'This browser or device cannot make a suitable passkey.';
    default:
      return err instanceof Error && err.message.startsWith('WebAuthn is not supported') ? 'This browser does not support passkeys.' : null;
  }
}
