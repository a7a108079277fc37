/**
 * Start-up: read config.json, wire the API, the session and the page shell, then check
 * whether the person is still logged in (refresh cookie) while the first page renders.
 */
import './styles.css';
import { Api } from './api.ts';
import type { App } from './app.ts';
import { loadConfig } from './config.ts';
import { Http } from './http.ts';
import { Router } from './router.ts';
import { NOT_FOUND, ROUTES } from './routes.ts';
import { Session } from './session.ts';
import { TabSync } from './tab-sync.ts';
import { h } from './ui/dom.ts';
import { errorMessage } from './ui/errors.ts';
import { Flash } from './ui/flash.ts';
import { Header } from './ui/header.ts';
import { LoginGate } from './ui/login-gate.ts';

async function main(mount: HTMLElement): Promise<void> {
  let config;
  try {
    config = await loadConfig();
  } catch (err) {
    mount.replaceChildren(fatal(err instanceof Error ? err.message : String(err)));
    return;
  }

  // The session supplies the CSRF token to the HTTP layer, which it also uses: break the
  // cycle with a late-bound reader.
  let session: Session | null = null;
  const http = new Http(config.apiBase, () => session?.csrfToken() ?? null);
  session = new Session(http, new TabSync());
  const outlet = h('main', { class: 'outlet', attrs: { id: 'main', tabindex: -1 } });
  const gate = new LoginGate(outlet, session);
  const flash = new Flash();
  const router = new Router(outlet, ROUTES, NOT_FOUND, {
    beforeRender: (match) => {
      gate.cancel();
      flash.advance();
      header.setActive(match.route.path);
    },
  });
  const app: App = {
    config,
    api: new Api(http, session, gate),
    session,
    flash,
    navigate: (path) => router.navigate(path),
  };
  const header = new Header({
    session,
    docsUrl: `${config.apiBase}/docs`,
    onLogout: async () => {
      try {
        await app.session.logout();
        flash.next('You have logged out.', 'success');
        app.navigate('/');
      } catch (err) {
        flash.now(`Could not log out: ${errorMessage(err)}`, 'error');
      }
    },
  });

  // Logged out in another tab: a page of private data must not stay on screen here.
  // Rendering it again asks the server, whose 401 brings up the login form.
  session.subscribe((_state, change) => {
    if (change === 'signed-out-elsewhere' && router.current.route.private) router.render();
  });

  mount.replaceChildren(
    // Not a #main link: the hash belongs to the router.
    h('button', { class: 'skip-link', attrs: { type: 'button' }, on: { click: () => outlet.focus() } }, 'Skip to content'),
    header.element,
    h('div', { class: 'page' }, flash.element, outlet),
    h(
      'footer',
      { class: 'site-footer' },
      h('p', null, 'Bastion · tokens stay in HttpOnly cookies · API at ', h('code', null, config.apiBase)),
    ),
  );
  router.start(app);
  await session.start();
}

function fatal(message: string): HTMLElement {
  return h('div', { class: 'fatal', attrs: { role: 'alert' } }, h('h1', null, 'Bastion could not start'), h('p', null, message));
}

const mount = document.getElementById('app');
if (mount) void main(mount);
