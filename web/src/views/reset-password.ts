/**
 * Reset password, from the mailed link (#/reset-password?token=…). The token is the only
 * proof, and it works once: the server then ends every session of the account, so the
 * page offers the login form with the new password.
 */
import type { View } from '../app.ts';
import { ApiError } from '../http.ts';
import { h } from '../ui/dom.ts';
import { errorDetails, errorMessage } from '../ui/errors.ts';
import { button, field, form, formAlert, whileBusy } from '../ui/forms.ts';
import { loginForm } from '../ui/login-form.ts';
import { card, pageHeading } from '../ui/status.ts';

/** The server says "The link is invalid, used or expired"; here it is this page's link. */
export const BAD_LINK = 'This link is invalid, used or expired. Ask for a new one.';

export const resetPasswordView: View = (app, { root, query }) => {
  const token = query.get('token') ?? '';
  root.append(pageHeading('Set a new password'));
  if (token === '') {
    root.append(card(null, badLink()));
    return;
  }

  const alert = formAlert();
  const next = field({
    label: 'New password',
    name: 'new_password',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    hint: 'At least 8 characters. Every session of the account ends.',
  });
  const again = field({ label: 'Confirm new password', name: 'confirm_password', type: 'password', autocomplete: 'new-password', required: true });
  const submit = button('Set password', { kind: 'primary', type: 'submit' });
  const body = card(null);

  const reset = async () => {
    alert.clear();
    next.setError(null);
    again.setError(null);
    if (next.input.value !== again.input.value) {
      again.setError('The two passwords are not the same.');
      again.input.focus();
      return;
    }
    try {
      await whileBusy(submit, 'Saving…', () => app.api.resetPassword(token, next.input.value));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'weak_password') {
        next.setError('Choose a stronger password. It:', errorDetails(err));
        next.input.focus();
      } else if (err instanceof ApiError && err.code === 'invalid_one_time_token') {
        body.replaceChildren(badLink());
      } else {
        alert.show('error', errorMessage(err), errorDetails(err));
      }
      return;
    }
    // The server ended every session and cleared this browser's cookies.
    if (app.session.current.status !== 'signed-out') app.session.ended();
    const done = formAlert();
    done.show('success', 'Password changed — log in with your new password.');
    const login = loginForm(app.session, { offerSignup: false, onLoggedIn: () => app.navigate('/account') });
    body.replaceChildren(done.element, login);
    login.querySelector('input')?.focus();
  };

  body.append(form('Set a new password', () => void reset(), alert.element, next.root, again.root, h('div', { class: 'form-actions' }, submit)));
  root.append(body);
  next.input.focus();
};

function badLink(): HTMLElement {
  const alert = formAlert();
  alert.show('error', BAD_LINK);
  return h('div', null, alert.element, h('p', null, h('a', { attrs: { href: '#/forgot-password' } }, 'Send a new reset link')));
}
