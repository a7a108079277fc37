/**
 * Forgot password: the server mails a reset link if the account exists. The page says
 * the same thing whatever the answer, as the server does, so nobody learns from it
 * which accounts exist.
 */
import type { View } from '../app.ts';
import { h } from '../ui/dom.ts';
import { errorDetails, errorMessage } from '../ui/errors.ts';
import { button, field, form, formAlert, whileBusy } from '../ui/forms.ts';
import { card, pageHeading } from '../ui/status.ts';

export const forgotPasswordView: View = (app, { root }) => {
  const alert = formAlert();
  const identifier = field({ label: 'Email or username', name: 'username', autocomplete: 'username', required: true });
  const submit = button('Send reset link', { kind: 'primary', type: 'submit' });

  const send = async () => {
    alert.clear();
    try {
      const answer = await whileBusy(submit, 'Sending…', () => app.api.forgotPassword(identifier.input.value.trim()));
      alert.show('success', answer.message);
    } catch (err) {
      // Only a malformed request or throttling gets here; neither says anything about the account.
      alert.show('error', errorMessage(err), errorDetails(err));
    }
  };

  root.append(
    pageHeading('Forgot password', 'Enter your email or username and we will mail you a link to set a new password.'),
    card(
      null,
      form(
        'Forgot password',
        () => void send(),
        alert.element,
        identifier.root,
        h(
          'div',
          { class: 'form-actions' },
          submit,
          h('p', { class: 'form-aside' }, 'Remembered it? ', h('a', { attrs: { href: '#/login' } }, 'Log in')),
        ),
      ),
    ),
  );
  identifier.input.focus();
};
