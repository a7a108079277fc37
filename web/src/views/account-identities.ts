/**
 * Linked identities on the Account page (issue #11): the provider accounts that log in to
 * this one, a "Link <provider>" button per configured provider, and Unlink. The server
 * refuses to unlink the last way to log in (409 oidc_last_login_method) and says so.
 * Linking is a full-page trip to the provider and back (to #/account); a failure comes
 * back as #/account?error=<code>.
 */
import type { App } from '../app.ts';
import type { User } from '../types.ts';
import { h } from '../ui/dom.ts';
import { errorMessage } from '../ui/errors.ts';
import { formatDateTime } from '../ui/format.ts';
import { button, formAlert, whileBusy } from '../ui/forms.ts';
import { oidcFailureMessage, oidcStartUrl, type OidcProvider } from '../ui/oidc-login.ts';
import { card } from '../ui/status.ts';

export interface LinkedIdentity {
  readonly id: string;
  readonly provider_id: string;
  readonly provider_name: string;
  readonly issuer: string;
  readonly subject: string;
  readonly email: string | null;
  readonly linked_at: string;
  readonly last_login_at: string | null;
}

/** GET /api/auth/me as the Account page reads it: the user and how they log in. */
export type AccountInfo = User & { readonly has_password: boolean; readonly identities: readonly LinkedIdentity[] };

export function identitiesCard(app: App, signal: AbortSignal, failureCode: string | null): HTMLElement {
  const container = card('Linked logins');
  const alert = formAlert();
  const failure = oidcFailureMessage(failureCode);
  if (failure) alert.show('error', failure);

  const render = (account: AccountInfo, providers: readonly OidcProvider[]) => {
    const items = account.identities.map((identity) => {
      const unlink = button('Unlink', { kind: 'secondary', small: true });
      unlink.addEventListener('click', () => {
        alert.clear();
        void whileBusy(unlink, 'Unlinking…', () => app.api.unlinkIdentity(identity.id)).then(
          () => void reload(),
          (err: unknown) => alert.show('error', errorMessage(err)),
        );
      });
      return h(
        'li',
        { class: 'session' },
        h(
          'div',
          { class: 'session-main' },
          h('p', { class: 'session-device' }, identity.provider_name, identity.email ? ` · ${identity.email}` : ''),
          h('p', { class: 'session-meta' }, `Linked ${formatDateTime(identity.linked_at)} · ${identity.issuer} · subject ${identity.subject}`),
        ),
        unlink,
      );
    });
    const links = providers.map((p) => {
      // The API checks the session this navigation carries; make sure it is fresh first.
      const link = button(`Link ${p.name}`, { kind: 'secondary' });
      link.addEventListener('click', () => {
        void whileBusy(link, 'Opening…', async () => {
          await app.api.me();
          location.assign(oidcStartUrl(app, p.id, '/#/account', 'link'));
        }).catch((err: unknown) => alert.show('error', errorMessage(err)));
      });
      return link;
    });
    container.replaceChildren(
      h('h2', { class: 'card-title' }, 'Linked logins'),
      alert.element,
      account.identities.length === 0
        ? h('p', { class: 'muted' }, providers.length > 0 ? 'No provider is linked to this account yet.' : 'No login provider is configured.')
        : h('ul', { class: 'sessions', attrs: { 'aria-label': 'Linked logins' } }, ...items),
      account.has_password ? '' : h('p', { class: 'muted' }, 'This account has no password: keep at least one login linked, or set a password with “Forgot password?”.'),
      links.length > 0 ? h('div', { class: 'form-actions' }, ...links) : '',
    );
  };

  const reload = async () => {
    try {
      const [account, providers] = await Promise.all([app.api.account(signal), app.api.oidcProviders(signal)]);
      if (!signal.aborted) render(account, providers);
    } catch (err) {
      if (!signal.aborted) alert.show('error', errorMessage(err));
    }
  };
  void reload();
  return container;
}
