/**
 * Some changes (turning 2FA off, a new email) want a recent password login, so that a
 * browser left logged in cannot make them: the server answers 401 fresh_login_required.
 * The card that asked shows the login form in place of the message; once the person has
 * logged in again, the change is tried once more.
 */
import type { App } from '../app.ts';
import { ApiError } from '../http.ts';
import { formAlert } from './forms.ts';
import { loginForm } from './login-form.ts';

export const needsFreshLogin = (err: unknown): boolean => err instanceof ApiError && err.code === 'fresh_login_required';

/** Runs `task`; if it needs a fresh login, asks for one in `slot` and runs it again. */
export async function withFreshLogin<T>(app: App, slot: HTMLElement, username: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (err) {
    if (!needsFreshLogin(err)) throw err;
  }
  await new Promise<void>((resolve) => {
    const alert = formAlert();
    alert.show('info', 'Log in again to do this.');
    const form = loginForm(app.session, {
      identifier: username,
      offerSignup: false,
      onLoggedIn: () => {
        slot.replaceChildren();
        resolve();
      },
    });
    slot.replaceChildren(alert.element, form);
    form.querySelector<HTMLInputElement>('input[type=password]')?.focus();
  });
  return task();
}
