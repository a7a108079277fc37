/** The login form: on the login page, on the seed 000 page and wherever a 401 asks for it. */
import type { Session } from '../session.ts';
import type { User } from '../types.ts';
import { h } from './dom.ts';
import { errorDetails, errorMessage } from './errors.ts';
import { button, field, form, formAlert, whileBusy } from './forms.ts';

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
}

export function loginForm(session: Session, options: LoginFormOptions = {}): HTMLFormElement {
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

  const logIn = async () => {
    alert.clear();
    const name = identifier.input.value.trim();
    try {
      const user = await whileBusy(submit, 'Logging in…', () => session.login(name, password.input.value));
      password.input.value = '';
      if (options.successMessage) alert.show('success', options.successMessage(user, name));
      options.onLoggedIn?.(user);
    } catch (err) {
      alert.show('error', errorMessage(err), errorDetails(err));
      password.input.select();
    }
  };

  return form(
    'Log in',
    () => void logIn(),
    alert.element,
    identifier.root,
    password.root,
    h(
      'div',
      { class: 'form-actions' },
      submit,
      options.offerSignup === false
        ? null
        : h('p', { class: 'form-aside' }, 'No account yet? ', h('a', { attrs: { href: '#/signup' } }, 'Sign up')),
    ),
  );
}
