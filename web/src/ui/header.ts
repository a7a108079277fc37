/**
 * The header on every page: the brand, Login / Sign up in the upper left while logged
 * out, the person's name and menu in the upper right while logged in, and the nav (Admin
 * only for the admin role). It follows the session, including changes made in other tabs.
 */
import type { AuthState, Session } from '../session.ts';
import { h, setAttr } from './dom.ts';
import { userMenu } from './user-menu.ts';

export interface HeaderOptions {
  readonly session: Session;
  /** Swagger UI on the API's origin */
  readonly docsUrl: string;
  readonly onLogout: () => Promise<void>;
}

interface NavItem {
  readonly path: string;
  readonly label: string;
}

const NAV: readonly NavItem[] = [
  { path: '/', label: 'Home' },
  { path: '/people', label: 'People' },
  { path: '/admin', label: 'Admin' },
  { path: '/inspector', label: 'Token inspector' },
];

/** Pages that make no sense to come back to after logging in (a mailed link works once). */
const NO_RETURN = new Set(['/', '/login', '/signup', '/forgot-password', '/reset-password', '/confirm-email']);

export class Header {
  readonly element: HTMLElement;
  private readonly guestActions = h('div', { class: 'guest-actions' });
  private readonly userArea = h('div', { class: 'user-area' });
  private readonly bannerText = h('p', { class: 'banner-text' });
  private readonly banner = h('div', { class: 'banner', attrs: { role: 'alert', hidden: true } }, this.bannerText);
  private readonly links = new Map<string, HTMLAnchorElement>();
  private menuScope: AbortController | null = null;
  private activePath = '/';

  constructor(private readonly options: HeaderOptions) {
    const nav = h(
      'nav',
      { class: 'site-nav', attrs: { 'aria-label': 'Main' } },
      h(
        'ul',
        null,
        ...NAV.map((item) => {
          const link = h('a', { attrs: { href: `#${item.path}` } }, item.label);
          this.links.set(item.path, link);
          return h('li', null, link);
        }),
        h(
          'li',
          null,
          h('a', { class: 'external', attrs: { href: options.docsUrl, target: '_blank', rel: 'noopener noreferrer' } }, 'API docs'),
        ),
      ),
    );
    const brand = h(
      'a',
      { class: 'brand', attrs: { href: '#/' } },
      h('img', { attrs: { src: 'favicon.svg', alt: '', width: 28, height: 28 } }),
      h('span', null, 'Bastion'),
    );
    this.element = h(
      'header',
      { class: 'site-header' },
      h('div', { class: 'bar' }, brand, this.guestActions, h('div', { class: 'bar-spacer' }), this.userArea),
      nav,
      this.banner,
    );
    options.session.subscribe((state) => this.renderAuth(state));
    this.renderAuth(options.session.current);
  }

  /** Marks the current page in the nav and makes Login come back to it. */
  setActive(path: string): void {
    this.activePath = path;
    for (const [itemPath, link] of this.links) setAttr(link, 'aria-current', itemPath === path ? 'page' : null);
    const login = this.guestActions.querySelector<HTMLAnchorElement>('a.login-link');
    if (login) login.href = loginHref(path);
  }

  private renderAuth(state: AuthState): void {
    const signedIn = state.status === 'signed-in';
    const isAdmin = signedIn && (state.user?.roles.includes('admin') ?? false);
    // Not offered to others; the page itself also refuses them (and the server does).
    this.links.get('/admin')!.parentElement!.hidden = !isAdmin;

    this.guestActions.replaceChildren();
    if (state.status === 'signed-out') {
      this.guestActions.append(
        h('a', { class: 'btn btn-ghost btn-small login-link', attrs: { href: loginHref(this.activePath) } }, 'Login'),
        h('a', { class: 'btn btn-primary btn-small', attrs: { href: '#/signup' } }, 'Sign up'),
      );
    }

    this.menuScope?.abort();
    this.menuScope = null;
    this.userArea.replaceChildren();
    if (signedIn) {
      this.menuScope = new AbortController();
      this.userArea.append(userMenu(state.user, { onLogout: this.options.onLogout, signal: this.menuScope.signal }));
    }

    this.bannerText.textContent = state.problem ?? '';
    this.banner.hidden = state.problem === null;
  }
}

function loginHref(path: string): string {
  return NO_RETURN.has(path) ? '#/login' : `#/login?next=${encodeURIComponent(path)}`;
}
