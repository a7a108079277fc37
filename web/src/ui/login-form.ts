/**
 * The login form: on the login page, on the seed 000 page and wherever a 401 asks for it.
 * Two steps when the account has 2FA on: the password, then a code from the app (or a
 * recovery code); whoever shows the form sees one login either way.
 */
import { ApiError } from '../http.ts';
import { mfaAllowsPasskey, mfaChallenge, proofFrom } from '../mfa.ts';
import { passkeyProblem, passkeysSupported } from '../passkeys.ts';
import type { Session } from '../session.ts';
import type { User } from '../types.ts';
import { h } from './dom.ts';
import { errorDetails, errorMessage } from './errors.ts';
import { button, codeField, field, form, formAlert, whileBusy } from './forms.ts';

export interface LoginFormOptions {
  /** prefills "Username or email" (after sign-up) */
  readonly identifier?: string;
  readonly identifierLabel?: string;
  readonly submitLabel?: string;
  /** a line shown in the form's message box once logged in (the seed page says so) */
  readonly successMessage?: (user: User | null, identifier: string) => string;
  readonly onLoggedIn?: (user: User | null) => void;
  /** show the "No account yet? Sign up" line */
  readonly offerSignup?: boolean;
  /** show "Log in with a passkey" (where the browser can) */
  readonly offerPasskey?: boolean;
}

export function loginForm(session: Session, options: LoginFormOptions = {}): HTMLElement {
  const root = h('div', { class: 'login-steps' });
  const alert = formAlert();
  const identifier = field({
    label: options.identifierLabel ?? 'Username or email',
    name: 'username',
    autocomplete: 'username',
    required: true,
    ...(options.identifier ? { value: options.identifier } : {}),
  });
  const password = field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = button(options.submitLabel ?? 'Log in', { kind: 'primary', type: 'submit' });

  const loggedIn = (user: User | null, name: string) => {
    password.input.value = '';
    root.replaceChildren(passwordStep);
    if (options.successMessage) alert.show('success', options.successMessage(user, name));
    options.onLoggedIn?.(user);
  };

  const logIn = async () => {
    alert.clear();
    const name = identifier.input.value.trim();
    try {
      loggedIn(await whileBusy(submit, 'Logging in…', () => session.login(name, password.input.value)), name);
    } catch (err) {
      const challenge = mfaChallenge(err);
      if (challenge !== null) {
        password.input.value = '';
        showCodeStep(challenge, name, mfaAllowsPasskey(err));
        return;
      }
      alert.show('error', errorMessage(err), errorDetails(err));
      password.input.select();
    }
  };

  /** The password was right; the challenge now stands in for it for a few minutes. */
  const showCodeStep = (challenge: string, name: string, allowsPasskey = false) => {
    const codeAlert = formAlert();
    const code = codeField();
    const verify = button('Verify', { kind: 'primary', type: 'submit' });
    const back = button('Back', { kind: 'ghost' });
    back.addEventListener('click', () => backToPassword(null));
    // issue #11: one of the account's passkeys answers instead of a code
    const withPasskey = allowsPasskey && passkeysSupported() ? button('Use a passkey', { kind: 'secondary' }) : null;
    withPasskey?.addEventListener('click', () => {
      codeAlert.clear();
      void whileBusy(withPasskey, 'Waiting for your passkey…', () => session.loginWithPasskeyAsSecondFactor(challenge)).then(
        (user) => loggedIn(user, name),
        (err: unknown) => {
          if (err instanceof ApiError && err.code === 'invalid_one_time_token') {
            backToPassword('This login took too long or had too many wrong tries. Enter your password again.');
          } else {
            codeAlert.show('error', passkeyProblem(err) ?? errorMessage(err), errorDetails(err));
          }
        },
      );
    });

    const send = async () => {
      codeAlert.clear();
      code.setError(null);
      try {
        loggedIn(await whileBusy(verify, 'Verifying…', () => session.loginWithCode(challenge, proofFrom(code.input.value))), name);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'invalid_one_time_token') {
          // Expired, or burned by too many wrong codes: only the password starts a new one.
          backToPassword('This login took too long or had too many wrong codes. Enter your password again.');
        } else if (err instanceof ApiError && err.code === 'invalid_mfa_code') {
          code.setError(err.message);
          code.input.select();
        } else {
          codeAlert.show('error', errorMessage(err), errorDetails(err));
        }
      }
    };

    root.replaceChildren(
      form(
        'Two-factor code',
        () => void send(),
        codeAlert.element,
        h('p', { class: 'muted' }, `Password accepted for ${name}. Two-factor authentication is on for this account.`),
        code.root,
        h('div', { class: 'form-actions' }, verify, withPasskey, back),
      ),
    );
    code.input.focus();
  };

  const backToPassword = (message: string | null) => {
    root.replaceChildren(passwordStep);
    if (message) alert.show('error', message);
    password.input.focus();
  };

  // issue #11: a passkey logs in without a username (discoverable credentials)
  const passkeyButton = options.offerPasskey !== false && passkeysSupported() ? button('Log in with a passkey', { kind: 'secondary' }) : null;
  passkeyButton?.addEventListener('click', () => {
    alert.clear();
    void whileBusy(passkeyButton, 'Waiting for your passkey…', () => session.loginWithPasskey()).then(
      (user) => loggedIn(user, user?.username ?? ''),
      (err: unknown) => alert.show('error', passkeyProblem(err) ?? errorMessage(err), errorDetails(err)),
    );
  });

  const passwordStep = form(
    'Log in',
    () => void logIn(),
    alert.element,
    identifier.root,
    password.root,
    h(
      'div',
      { class: 'form-actions' },
      submit,
      passkeyButton,
      h('p', { class: 'form-aside' }, h('a', { attrs: { href: '#/forgot-password' } }, 'Forgot password?')),
      options.offerSignup === false
        ? null
        : h('p', { class: 'form-aside' }, 'No account yet? ', h('a', { attrs: { href: '#/signup' } }, 'Sign up')),
    ),
  );
  root.append(passwordStep);
  return root;
}
