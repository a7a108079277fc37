/**
 * Change email, on the account page. The new address applies only once the link mailed
 * to it is followed (#/confirm-email), so a typo cannot lock the person out of resets.
 */
import type { App } from '../app.ts';
import { ApiError } from '../http.ts';
import type { User } from '../types.ts';
import { h } from '../ui/dom.ts';
import { errorDetails, errorMessage } from '../ui/errors.ts';
import { button, field, form, formAlert, whileBusy } from '../ui/forms.ts';
import { withFreshLogin } from '../ui/fresh-login.ts';
import { card } from '../ui/status.ts';

export function emailCard(app: App, user: User): HTMLElement {
  const alert = formAlert();
  const email = field({ label: 'New email', name: 'email', type: 'email', autocomplete: 'email', required: true });
  const submit = button('Send confirmation link', { kind: 'primary', type: 'submit' });
  const reauth = h('div');

  const change = async () => {
    alert.clear();
    email.setError(null);
    const value = email.input.value.trim();
    try {
      await withFreshLogin(app, reauth, user.username, () => whileBusy(submit, 'Sending…', () => app.api.changeEmail(value)));
      alert.show('success', 'Check your new inbox for a confirmation link.');
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'email_taken' || err.code === 'validation_failed')) {
        email.setError(err.code === 'email_taken' ? err.message : (errorDetails(err)[0] ?? err.message));
        email.input.focus();
      } else {
        alert.show('error', errorMessage(err), errorDetails(err));
      }
    }
  };

  return card(
    'Email',
    h('p', { class: 'muted' }, user.email ? `Now: ${user.email}` : 'No email address yet: add one to be able to reset your password.'),
    form('Change email', () => void change(), alert.element, email.root, h('div', { class: 'form-actions' }, submit)),
    reauth,
  );
}
