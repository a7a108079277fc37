/**
 * Admin (role admin only): every user with their roles, status and active sessions, and
 * the actions an admin has. Anyone else sees why they cannot; the server refuses them
 * anyway (403), this page only avoids asking.
 */
import type { App, View } from '../app.ts';
import { ApiError } from '../http.ts';
import type { AdminUser } from '../types.ts';
import { h, type Child } from '../ui/dom.ts';
import { errorMessage } from '../ui/errors.ts';
import { button, formAlert, whileBusy, type Alert } from '../ui/forms.ts';
import { emptyState, loading, pageHeading } from '../ui/status.ts';

export const adminView: View = async (app, { root, signal }) => {
  const body = h('div', { class: 'stack' }, loading('Loading users…'));
  root.append(pageHeading('Admin', 'Manage users: roles, status and sessions.'), body);

  // Asking who is logged in first shows the login form to a logged-out visitor and
  // spares everyone else a request the server would refuse.
  const me = await app.api.me(signal);
  if (!me.roles.includes('admin')) {
    body.replaceChildren(notAllowed());
    return;
  }
  const alert = formAlert();
  const table = h('div', null);
  const note = h(
    'p',
    { class: 'muted small' },
    'Changing a role revokes the user’s access tokens, so their next request already carries the new roles.',
  );
  body.replaceChildren(alert.element, table, note);

  const reload = async () => {
    try {
      renderUsers({ app, me: me.id, table, alert, reload }, await app.api.adminUsers(signal));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'forbidden') body.replaceChildren(notAllowed());
      else throw err;
    }
  };
  await reload();
};

function notAllowed(): HTMLElement {
  return h(
    'div',
    { class: 'state state-denied', attrs: { role: 'alert' } },
    h('p', { class: 'state-title' }, 'Not allowed'),
    h('p', null, 'This page is for administrators. Your account does not have the admin role.'),
    h('p', null, h('a', { attrs: { href: '#/' } }, 'Back to the home page')),
  );
}

interface TableContext {
  readonly app: App;
  /** the admin's own id, to mark their row (the server refuses self-lockout with 409) */
  readonly me: string;
  readonly table: HTMLElement;
  readonly alert: Alert;
  readonly reload: () => Promise<void>;
}

function renderUsers(ctx: TableContext, users: readonly AdminUser[]): void {
  if (users.length === 0) {
    ctx.table.replaceChildren(emptyState('No users yet.'));
    return;
  }
  const th = (label: string, className?: string) => h('th', { class: className, attrs: { scope: 'col' } }, label);
  ctx.table.replaceChildren(
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table table-admin' },
        h('caption', { class: 'visually-hidden' }, 'Users'),
        h('thead', null, h('tr', null, th('User'), th('Roles'), th('Status'), th('Sessions', 'numeric'), th('Actions'))),
        h('tbody', null, ...users.map((user) => userRow(ctx, user))),
      ),
    ),
  );
}

function userRow(ctx: TableContext, user: AdminUser): HTMLElement {
  /** Runs one admin action, reports it, and reloads the table to show the result. */
  const act = (control: HTMLButtonElement, busy: string, action: () => Promise<string>) => {
    ctx.alert.clear();
    void whileBusy(control, busy, action).then(
      async (done) => {
        ctx.alert.show('success', done);
        await ctx.reload();
      },
      (err: unknown) => ctx.alert.show('error', `${user.username}: ${errorMessage(err)}`),
    );
  };

  const chips = user.roles.map((role) => {
    const remove = h(
      'button',
      { class: 'chip-remove', attrs: { type: 'button', 'aria-label': `Remove role ${role} from ${user.username}` } },
      '×',
    );
    remove.addEventListener('click', () =>
      act(remove, '…', async () => {
        await ctx.app.api.removeRole(user.id, role);
        return `Removed role ${role} from ${user.username}.`;
      }),
    );
    return h('li', { class: 'chip' }, role, remove);
  });

  const roleInput = h('input', {
    class: 'input input-small',
    attrs: {
      type: 'text',
      name: 'role',
      required: true,
      maxlength: 32,
      placeholder: 'role',
      'aria-label': `New role for ${user.username}`,
    },
  });
  const add = button('Add role', { type: 'submit', small: true });
  const addForm = h('form', { class: 'inline-form', attrs: { 'aria-label': `Add a role to ${user.username}` } }, roleInput, add);
  addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const role = roleInput.value.trim();
    if (!role) return;
    act(add, 'Adding…', async () => {
      await ctx.app.api.addRole(user.id, role);
      return `Added role ${role} to ${user.username}.`;
    });
  });

  const toggle = button(user.disabled ? 'Enable' : 'Disable', { kind: user.disabled ? 'secondary' : 'danger', small: true });
  toggle.addEventListener('click', () =>
    act(toggle, user.disabled ? 'Enabling…' : 'Disabling…', async () => {
      await ctx.app.api.setDisabled(user.id, !user.disabled);
      return `${user.username} is ${user.disabled ? 'enabled' : 'disabled'}.`;
    }),
  );
  const revoke = button('Revoke sessions', { small: true });
  revoke.addEventListener('click', () =>
    act(revoke, 'Revoking…', async () => {
      const { revoked } = await ctx.app.api.revokeSessions(user.id);
      return `Ended ${revoked} session${revoked === 1 ? '' : 's'} of ${user.username}.`;
    }),
  );

  const who = [user.name, user.email].filter(Boolean).join(' · ');
  return h(
    'tr',
    { attrs: { 'data-user': user.username } },
    cell(
      'User',
      null,
      h('strong', null, user.username),
      user.id === ctx.me ? h('span', { class: 'badge' }, 'you') : null,
      who ? h('div', { class: 'muted small' }, who) : null,
    ),
    cell(
      'Roles',
      null,
      chips.length > 0
        ? h('ul', { class: 'chips', attrs: { 'aria-label': `Roles of ${user.username}` } }, ...chips)
        : h('span', { class: 'muted small' }, 'No roles'),
      addForm,
    ),
    cell(
      'Status',
      null,
      h('span', { class: `badge ${user.disabled ? 'badge-danger' : 'badge-ok'}` }, user.disabled ? 'Disabled' : 'Active'),
    ),
    cell('Sessions', 'numeric', String(user.sessions)),
    cell('Actions', null, h('div', { class: 'button-row' }, toggle, revoke)),
  );
}

/**
 * A cell whose content sits in one wrapper: on phones each cell is a two-column grid of
 * its label (data-label) and that wrapper.
 */
function cell(label: string, className: string | null, ...content: Child[]): HTMLTableCellElement {
  return h('td', { class: className ?? undefined, attrs: { 'data-label': label } }, h('div', null, ...content));
}
