/** The login page (the header's "Login"): after logging in, back to the page the person was on. */
import type { View } from '../app.ts';
import { h } from '../ui/dom.ts';
import { loginForm } from '../ui/login-form.ts';
import { card, pageHeading } from '../ui/status.ts';
import { oidcFailureAlert, providerButtons } from '../ui/oidc-login.ts';

/** Only this app's own pages: "/people", never "//elsewhere" or a full URL. */
export function safeNext(value: string | null): string {
  return value && /^\/[\w/-]*$/.test(value) && !value.startsWith('//') ? value : '/';
}

export const loginView: View = (app, { root, query, signal }) => {
  const next = safeNext(query.get('next'));
  const state = app.session.current;
  const goOn = () => app.navigate(next);
  // Logging in in another tab counts too.
  const unsubscribe = app.session.subscribe((s, change) => {
    if (change === 'signed-in' && s.status === 'signed-in') goOn();
  });
  signal.addEventListener('abort', unsubscribe, { once: true });

  root.append(
    pageHeading('Log in'),
    // issue #11: why a provider login came back here (/#/login?error=<code>)
    oidcFailureAlert(query.get('error')) ?? '',
    card(
      null,
      state.status === 'signed-in' && state.user
        ? h('p', { class: 'muted' }, `You are logged in as ${state.user.username}. Logging in again switches account.`)
        : null,
      loginForm(app.session, { identifier: query.get('username') ?? '' }),
      // issue #11: "Log in with <provider>"
      providerButtons(app, next, signal),
    ),
  );

  root.querySelector<HTMLInputElement>(query.get('username') ? 'input[type=password]' : 'input')?.focus();
};
