/**
 * Confirm email, from the mailed link (#/confirm-email?token=…): opening the link is the
 * confirmation, so the page sends the token as soon as it loads.
 */
import type { View } from '../app.ts';
import { ApiError } from '../http.ts';
import { h } from '../ui/dom.ts';
import { errorMessage } from '../ui/errors.ts';
import { formAlert } from '../ui/forms.ts';
import { card, loading, pageHeading } from '../ui/status.ts';
import { BAD_LINK } from './reset-password.ts';

export const confirmEmailView: View = async (app, { root, query, signal }) => {
  const token = query.get('token') ?? '';
  const alert = formAlert();
  const body = card(null, loading('Confirming your email…'));
  root.append(pageHeading('Confirm email'), body);
  try {
    if (token === '') throw new ApiError(400, 'invalid_one_time_token', BAD_LINK);
    await app.api.confirmEmail(token, signal);
  } catch (err) {
    if (signal.aborted) return;
    alert.show('error', err instanceof ApiError && err.code === 'invalid_one_time_token' ? BAD_LINK : errorMessage(err));
    body.replaceChildren(alert.element);
    return;
  }
  alert.show('success', 'Email confirmed.');
  await app.session.ready;
  const signedIn = app.session.current.status === 'signed-in';
  // A changed address applies now: the profile (and the header) should show it.
  if (signedIn) void app.session.reloadUser();
  body.replaceChildren(
    alert.element,
    h('p', null, h('a', { attrs: { href: signedIn ? '#/account' : '#/login' } }, signedIn ? 'Back to your account' : 'Log in')),
  );
};
