/**
 * "Log in with <provider>" (issue #11): one link-styled button per provider the server
 * lists (GET /api/auth/oidc/providers), and the words for the codes a failed provider
 * login brings back to the login page (/#/login?error=<code>). The flow itself is a
 * full-page navigation to the API: the provider's pages and the callback are not
 * fetch()es, and the session arrives as HttpOnly cookies.
 */
import type { App } from '../app.ts';
import { h } from './dom.ts';
import { formAlert } from './forms.ts';

export interface OidcProvider {
  readonly id: string;
  readonly name: string;
}

/** What the login page shows for each code; only codes listed here are shown as such (the text is ours, not the URL's). */
const MESSAGES: Readonly<Record<string, string>> = {
  oidc_provider_unknown: 'That login provider is not configured.',
  oidc_provider_unavailable: 'The login provider cannot be reached right now. Try again later.',
  oidc_provider_rejected: 'The login provider refused to complete the login. Tell the administrator.',
  oidc_access_denied: 'The login was cancelled at the provider.',
  oidc_state_mismatch: 'The login response did not belong to the login this browser started. Start again.',
  oidc_issuer_mismatch: 'The login response came from another provider than the one you chose. Start again.',
  oidc_nonce_mismatch: 'The provider’s answer did not belong to this login. Start again.',
  oidc_invalid_id_token: 'The provider’s answer could not be verified. Start again.',
  oidc_flow_missing: 'This login was not started in this browser, or has already finished. Start again.',
  oidc_flow_replayed: 'This login response was already used. Start again.',
  oidc_flow_expired: 'This login took too long. Start again.',
  oidc_link_required:
    'An account with this email already exists. Log in with your password first, then link the provider on the Account page.',
  oidc_identity_in_use: 'That provider account is already linked to another Bastion account.',
  oidc_link_session_lost: 'Linking needs you to stay logged in as the account that started it. Log in and try again.',
  oidc_mfa_required: 'This account uses two-factor authentication: log in with your password and code.',
  account_disabled: 'This account is disabled.',
  too_many_requests: 'Too many requests. Wait a minute and try again.',
  internal: 'Something went wrong. Please try again.',
};

/** The words for a provider-login failure code, or null when the page was not sent here by one. */
export function oidcFailureMessage(code: string | null): string | null {
  if (!code) return null;
  const text = MESSAGES[code] ?? 'Logging in through the provider failed.';
  return `${text} (${code})`;
}

/** The message box for a failed provider login, or nothing when the page was not sent here by one. */
export function oidcFailureAlert(code: string | null): HTMLElement | null {
  const message = oidcFailureMessage(code);
  if (message === null) return null;
  const alert = formAlert();
  alert.show('error', message);
  return alert.element;
}

/** The API URL that starts a flow; the browser goes there, the API sends it on to the provider. */
export function oidcStartUrl(app: App, providerId: string, returnTo: string, intent: 'login' | 'link' = 'login'): string {
  const query = new URLSearchParams({ return_to: returnTo });
  if (intent === 'link') query.set('intent', 'link');
  return `${app.config.apiBase}/api/auth/oidc/${encodeURIComponent(providerId)}/start?${query}`;
}

/**
 * The provider buttons for the login page; empty (and invisible) when none is configured
 * or the list cannot be read. `next` is the hash path to land on afterwards ("/people").
 */
export function providerButtons(app: App, next: string, signal: AbortSignal): HTMLElement {
  const box = h('div', { class: 'oidc-providers', attrs: { hidden: true } });
  app.api.oidcProviders(signal).then(
    (providers) => {
      if (signal.aborted || providers.length === 0) return;
      box.replaceChildren(
        h('p', { class: 'muted' }, 'Or log in with'),
        ...providers.map((p) =>
          h('a', { class: 'btn btn-secondary oidc-provider', attrs: { href: oidcStartUrl(app, p.id, `/#${next}`) } }, `Log in with ${p.name}`),
        ),
      );
      box.hidden = false;
    },
    () => undefined, // no buttons: password login still works
  );
  return box;
}
