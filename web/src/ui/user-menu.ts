/**
 * The logged-in person's name in the upper right, opening a small menu (Account, Log
 * out). A disclosure button: Escape or a click elsewhere closes it, focus returns to it.
 */
import type { User } from '../types.ts';
import { h } from './dom.ts';

export interface UserMenuOptions {
  readonly onLogout: () => Promise<void>;
  /** aborted when the menu is replaced, to drop its document listener */
  readonly signal: AbortSignal;
}

export function displayName(user: User | null): string {
  return user?.name || user?.username || 'Account';
}

export function userMenu(user: User | null, options: UserMenuOptions): HTMLElement {
  const menuId = 'user-menu-list';
  const toggle = h(
    'button',
    { class: 'user-menu-toggle', attrs: { type: 'button', 'aria-expanded': 'false', 'aria-controls': menuId } },
    h('span', { class: 'avatar', attrs: { 'aria-hidden': 'true' } }, displayName(user).slice(0, 1).toUpperCase()),
    h('span', { class: 'user-menu-name' }, displayName(user)),
    h('span', { class: 'caret', attrs: { 'aria-hidden': 'true' } }),
  );
  const logout = h('button', { class: 'menu-item', attrs: { type: 'button' } }, 'Log out');
  const list = h(
    'div',
    { class: 'user-menu-list', attrs: { id: menuId, hidden: true } },
    user ? h('p', { class: 'menu-caption' }, 'Logged in as ', h('strong', null, user.username)) : null,
    h('a', { class: 'menu-item', attrs: { href: '#/account' } }, 'Account'),
    logout,
  );
  const root = h('div', { class: 'user-menu' }, toggle, list);

  const setOpen = (open: boolean) => {
    list.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
  };
  toggle.addEventListener('click', () => setOpen(list.hidden));
  list.addEventListener('click', (event) => {
    if ((event.target as Element).closest('.menu-item')) setOpen(false);
  });
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !list.hidden) {
      setOpen(false);
      toggle.focus();
    }
  });
  // Leaving the menu with Tab or a click elsewhere closes it.
  root.addEventListener('focusout', (event) => {
    if (!root.contains(event.relatedTarget as Node | null)) setOpen(false);
  });
  // (Safari does not focus a clicked button, so focusout alone is not enough.)
  document.addEventListener(
    'click',
    (event) => {
      if (!root.contains(event.target as Node)) setOpen(false);
    },
    { signal: options.signal },
  );
  logout.addEventListener('click', () => void options.onLogout());
  return root;
}
