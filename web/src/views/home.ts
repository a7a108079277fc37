/**
 * Home: the seed 000 page. Log in with a demo account, then ask for data the API
 * protects and data it does not; each answer is shown as the JSON the API sent.
 */
import type { View } from '../app.ts';
import { ApiError } from '../http.ts';
import { h } from '../ui/dom.ts';
import { errorMessage } from '../ui/errors.ts';
import { button, whileBusy } from '../ui/forms.ts';
import { loginForm } from '../ui/login-form.ts';
import { card, pageHeading } from '../ui/status.ts';

export const homeView: View = (app, { root, signal }) => {
  const output = h('div', { class: 'response', attrs: { 'aria-live': 'polite' } });

  /** The answer under the buttons: the JSON the API sent, or its error body. */
  const show = (request: string, ok: boolean, body: unknown) => {
    output.replaceChildren(
      h(
        'p',
        { class: `response-label response-${ok ? 'ok' : 'failed'}` },
        request,
        ' ',
        h('span', { class: 'badge' }, ok ? '200 OK' : 'Error'),
      ),
      h(
        'pre',
        { class: 'code', attrs: { tabindex: 0, 'aria-label': `Response to ${request}` } },
        typeof body === 'string' ? body : JSON.stringify(body, null, 2),
      ),
    );
  };

  const fetchButton = (label: string, kind: 'primary' | 'secondary', request: string, load: () => Promise<unknown>) => {
    const control = button(label, { kind });
    control.addEventListener('click', () => {
      void whileBusy(control, 'Loading…', async () => {
        try {
          show(request, true, await load());
        } catch (err) {
          if (signal.aborted) return;
          show(request, false, err instanceof ApiError ? { code: err.code, message: err.message } : errorMessage(err));
        }
      });
    });
    return control;
  };

  const { status, user } = app.session.current;
  const note = h(
    'p',
    { class: 'muted' },
    'Try the demo account kyle / p1.',
    status === 'signed-in' && user ? ` You are logged in as ${user.username}; logging in again switches account.` : '',
  );

  root.append(
    pageHeading('Secure and unsecure data', 'The seed 000 tutorial, in the browser: log in, then fetch data the API protects.'),
    h(
      'div',
      { class: 'grid-2' },
      card(
        'Log in',
        note,
        loginForm(app.session, {
          identifierLabel: 'Username',
          submitLabel: 'Log In',
          offerSignup: false,
          successMessage: (user, name) => `Logged in as ${user?.username ?? name}. The session is kept in HttpOnly cookies.`,
        }),
      ),
      card(
        'Data',
        h('p', { class: 'muted' }, 'GET /api/secure needs a login; GET /api/unsecure does not.'),
        h(
          'div',
          { class: 'button-row' },
          fetchButton('Get Secure Data', 'primary', 'GET /api/secure', () => app.api.secure(signal)),
          fetchButton('Get Unsecure Data', 'secondary', 'GET /api/unsecure', () => app.api.unsecure(signal)),
        ),
        output,
      ),
    ),
  );
};
