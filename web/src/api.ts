/**
 * The API as the views use it. Protected calls recover from a lost session the way a
 * person expects: a stale access token is refreshed silently and the call repeated; if
 * there is no session at all, the login form appears and, once the person has logged
 * in, the same call is made again and its answer returned to the page that asked.
 */
import { ApiError, type Http, type Method, type SendOptions } from './http.ts';
import type { Session } from './session.ts';
import type { MfaProof } from './mfa.ts';
import type { Passkey, PasskeyAttestation, PasskeyCreationOptions } from './passkeys.ts';
import type { OidcProvider } from './ui/oidc-login.ts';
import type { AccountInfo } from './views/account-identities.ts';
import type { AdminUser, MfaEnrollment, Person, SessionInfo, SignupInput, User, VerifyResult } from './types.ts';

/** Shows the login form; resolves once someone has logged in, rejects if the page is left. */
export interface LoginPrompt {
  prompt(signal?: AbortSignal): Promise<void>;
}

type Signal = AbortSignal | undefined;

/**
 * 401s that are about the request, not the session: a wrong code, or an action that wants
 * a recent password login. Refreshing cannot help and the page answers them itself.
 */
const NOT_ABOUT_SESSION: ReadonlySet<string> = new Set(['invalid_mfa_code', 'fresh_login_required', 'mfa_required']);

/** The session is missing or stale (401), or the CSRF token is out of date. */
const needsSession = (err: ApiError) => (err.status === 401 && !NOT_ABOUT_SESSION.has(err.code)) || err.code === 'csrf_failed';

export class Api {
  constructor(
    private readonly http: Http,
    private readonly session: Session,
    private readonly login: LoginPrompt,
  ) {}

  // --- seed 000 ---------------------------------------------------------------------
  secure = (signal?: Signal) => this.call<unknown>('GET', '/api/secure', { signal });
  unsecure = (signal?: Signal) => this.open<unknown>('GET', '/api/unsecure', { signal });

  // --- account ----------------------------------------------------------------------
  signup = (input: SignupInput) => this.open<User>('POST', '/api/auth/signup', { body: input });
  me = (signal?: Signal) => this.call<User>('GET', '/api/auth/me', { signal });
  sessions = (signal?: Signal) => this.call<SessionInfo[]>('GET', '/api/auth/sessions', { signal });
  endSession = (id: string) => this.call<void>('DELETE', `/api/auth/sessions/${encodeURIComponent(id)}`);
  changePassword = (current: string, next: string) =>
    this.call<void>('POST', '/api/auth/password', { body: { current_password: current, new_password: next } });
  /** Mails a new confirmation link; the change applies once it is followed. Needs a recent login. */
  changeEmail = (email: string) => this.call<{ message: string }>('POST', '/api/auth/email', { body: { email } });

  // --- OpenID Connect providers (issue #11) -------------------------------------------
  oidcProviders = (signal?: Signal) => this.open<OidcProvider[]>('GET', '/api/auth/oidc/providers', { signal });
  /** /api/auth/me with the linked identities and whether a password is set */
  account = (signal?: Signal) => this.call<AccountInfo>('GET', '/api/auth/me', { signal });
  unlinkIdentity = (id: string) => this.call<void>('DELETE', `/api/auth/identities/${encodeURIComponent(id)}`);

  // --- mailed links (no session needed: the token is the proof) -------------------
  /** Answers the same whether or not the account exists. */
  forgotPassword = (identifier: string) =>
    this.open<{ message: string }>('POST', '/api/auth/forgot-password', {
      body: identifier.includes('@') ? { email: identifier } : { username: identifier },
    });
  resetPassword = (token: string, next: string) =>
    this.open<void>('POST', '/api/auth/reset-password', { body: { token, new_password: next } });
  confirmEmail = (token: string, signal?: Signal) => this.open<void>('POST', '/api/auth/confirm-email', { body: { token }, signal });

  // --- two-factor authentication ----------------------------------------------------
  mfaEnroll = () => this.call<MfaEnrollment>('POST', '/api/auth/mfa/enroll');
  mfaConfirm = (code: string) => this.call<{ recovery_codes: string[] }>('POST', '/api/auth/mfa/confirm', { body: { code } });
  /** Needs a recent login as well as the code. */
  mfaDisable = (proof: MfaProof) => this.call<void>('POST', '/api/auth/mfa/disable', { body: proof });

  // --- passkeys (adding and deleting one needs a recent login) ---------------------
  passkeys = (signal?: Signal) => this.call<Passkey[]>('GET', '/api/auth/passkeys', { signal });
  passkeyOptions = () => this.call<PasskeyCreationOptions>('POST', '/api/auth/passkeys/registration/options', { body: {} });
  addPasskey = (name: string, credential: PasskeyAttestation) => this.call<Passkey>('POST', '/api/auth/passkeys', { body: { name, credential } });
  renamePasskey = (id: string, name: string) => this.call<Passkey>('PATCH', `/api/auth/passkeys/${encodeURIComponent(id)}`, { body: { name } });
  deletePasskey = (id: string) => this.call<void>('DELETE', `/api/auth/passkeys/${encodeURIComponent(id)}`);

  /** Sends the token to the server only when asked (the inspector decodes locally). */
  verify = (token: string) => this.open<VerifyResult>('POST', '/api/auth/verify', { body: { token } });

  // --- people -----------------------------------------------------------------------
  people = (signal?: Signal) => this.call<Person[]>('GET', '/api/person/', { signal });

  // --- admin ------------------------------------------------------------------------
  adminUsers = (signal?: Signal) => this.call<AdminUser[]>('GET', '/api/admin/users', { signal });
  addRole = (userId: string, role: string) => this.call<User>('POST', `${adminUser(userId)}/roles`, { body: { role } });
  removeRole = (userId: string, role: string) => this.call<User>('DELETE', `${adminUser(userId)}/roles/${encodeURIComponent(role)}`);
  setDisabled = (userId: string, disabled: boolean) => this.call<User>('POST', `${adminUser(userId)}/${disabled ? 'disable' : 'enable'}`);
  revokeSessions = (userId: string) => this.call<{ revoked: number }>('POST', `${adminUser(userId)}/sessions/revoke`);

  /** A public endpoint: no session needed, so no recovery either. */
  private open<T>(method: Method, path: string, options: SendOptions = {}): Promise<T> {
    return this.http.send<T>(method, path, options);
  }

  /** A protected endpoint (see the file comment). */
  private async call<T>(method: Method, path: string, options: SendOptions = {}, refreshed = false): Promise<T> {
    // The first check on page load may still be renewing the session (and the CSRF token).
    await this.session.ready;
    try {
      return await this.http.send<T>(method, path, options);
    } catch (err) {
      if (!(err instanceof ApiError) || !needsSession(err)) throw err;
      if (!refreshed && this.session.current.status === 'signed-in' && (await this.session.refresh())) {
        return this.call<T>(method, path, options, true);
      }
      if (err.status !== 401) throw err;
      await this.login.prompt(options.signal);
      return this.call<T>(method, path, options);
    }
  }
}

const adminUser = (id: string) => `/api/admin/users/${encodeURIComponent(id)}`;
