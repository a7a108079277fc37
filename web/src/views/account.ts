/**
 * Account: who I am, a new password, two-factor authentication, a new email, and where
 * I am logged in. A password change ends every session on the server, this one
 * included, so the page goes to the login form.
 */
import type { App, View } from '../app.ts';
import { ApiError } from '../http.ts';
import type { SessionInfo, User } from '../types.ts';
import { h } from '../ui/dom.ts';
import { errorDetails, errorMessage } from '../ui/errors.ts';
import { button, field, form, formAlert, whileBusy } from '../ui/forms.ts';
import { describeUserAgent, formatDate, formatDateTime, formatRelative } from '../ui/format.ts';
import { card, errorState, loading, pageHeading } from '../ui/status.ts';
import { emailCard } from './account-email.ts';
import { mfaCard } from './account-mfa.ts';
import { passkeysCard } from './account-passkeys.ts';
import { identitiesCard } from './account-identities.ts';

export const accountView: View = async (app, { root, signal, query }) => {
  const body = h('div', null, loading('Loading your account…'));
  root.append(pageHeading('Account'), body);
  const [user, sessions] = await Promise.all([app.api.me(signal), app.api.sessions(signal)]);
  const sessionsCard = card('Sessions');
  renderSessions(app, sessionsCard, sessions, signal);
  body.replaceChildren(
    h('div', { class: 'grid-2' }, profileCard(user), passwordCard(app, user)),
    h('div', { class: 'grid-2' }, mfaCard(app, user), emailCard(app, user)),
    passkeysCard(app, user, signal),
    identitiesCard(app, signal, query.get('error')),
    sessionsCard,
  );
};

function profileCard(user: User): HTMLElement {
  const row = (term: string, value: Node | string) => h('div', { class: 'dl-row' }, h('dt', null, term), h('dd', null, value));
  const none = () => h('span', { class: 'muted' }, 'Not given');
  return card(
    'Profile',
    h(
      'dl',
      { class: 'dl' },
      row('Username', user.username),
      row('Email', user.email ?? none()),
      row('Name', user.name ?? none()),
      row('Date of birth', user.dob ? formatDate(user.dob) : none()),
      row('Roles', user.roles.length > 0 ? roleList(user.roles) : h('span', { class: 'muted' }, 'No roles')),
      row('Member since', formatDateTime(user.created_at)),
    ),
  );
}

export function roleList(roles: readonly string[]): HTMLElement {
  return h('ul', { class: 'chips', attrs: { 'aria-label': 'Roles' } }, ...roles.map((role) => h('li', { class: 'chip' }, role)));
}

function passwordCard(app: App, user: User): HTMLElement {
  const alert = formAlert();
  const current = field({
    label: 'Current password',
    name: 'current_password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const next = field({
    label: 'New password',
    name: 'new_password',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    hint: 'At least 8 characters. Every session ends, this one too.',
  });
  const submit = button('Change password', { kind: 'primary', type: 'submit' });

  const change = async () => {
    alert.clear();
    current.setError(null);
    next.setError(null);
    try {
      await whileBusy(submit, 'Changing…', () => app.api.changePassword(current.input.value, next.input.value));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'wrong_password') {
        current.setError(err.message);
        current.input.focus();
      } else if (err instanceof ApiError && err.code === 'weak_password') {
        next.setError('Choose a stronger password. It:', errorDetails(err));
        next.input.focus();
      } else {
        alert.show('error', errorMessage(err), errorDetails(err));
      }
      return;
    }
    // The server has revoked every session and cleared the cookies.
    app.session.ended();
    app.flash.next('Password changed — please log in again.', 'success');
    app.navigate('/login?next=/account');
  };

  // Password managers file the new password under this username.
  const username = h('input', {
    attrs: { type: 'text', name: 'username', autocomplete: 'username', value: user.username, readonly: true, hidden: true },
  });
  return card(
    'Change password',
    form(
      'Change password',
      () => void change(),
      alert.element,
      username,
      current.root,
      next.root,
      h('div', { class: 'form-actions' }, submit),
    ),
  );
}

function renderSessions(app: App, container: HTMLElement, sessions: readonly SessionInfo[], signal: AbortSignal): void {
  const alert = formAlert();
  const reload = async () => {
    try {
      renderSessions(app, container, await app.api.sessions(signal), signal);
    } catch (err) {
      if (!signal.aborted)
        container.replaceChildren(
          h('h2', { class: 'card-title' }, 'Sessions'),
          errorState(err, () => void reload()),
        );
    }
  };

  const endSession = async (session: SessionInfo, control: HTMLButtonElement) => {
    alert.clear();
    try {
      if (session.current) {
        // Our own session: the regular logout also revokes the access token and clears the cookies.
        await whileBusy(control, 'Logging out…', () => app.session.logout());
        app.flash.next('You have logged out.', 'success');
        app.navigate('/');
        return;
      }
      await whileBusy(control, 'Logging out…', () => app.api.endSession(session.id));
      await reload();
    } catch (err) {
      alert.show('error', errorMessage(err));
    }
  };

  const everywhere = button('Log out everywhere', { kind: 'danger' });
  everywhere.addEventListener('click', () => {
    alert.clear();
    void whileBusy(everywhere, 'Logging out…', () => app.session.logoutEverywhere()).then(
      () => {
        app.flash.next('You have been logged out on every device.', 'success');
        app.navigate('/login');
      },
      (err: unknown) => alert.show('error', errorMessage(err)),
    );
  });

  const items = sessions.map((session) => {
    const control = button('Log out this session', { kind: 'secondary', small: true });
    control.addEventListener('click', () => void endSession(session, control));
    return h(
      'li',
      { class: `session${session.current ? ' session-current' : ''}` },
      h(
        'div',
        { class: 'session-main' },
        h(
          'p',
          { class: 'session-device' },
          describeUserAgent(session.user_agent),
          session.current ? h('span', { class: 'badge badge-accent' }, 'This device') : null,
        ),
        h(
          'p',
          { class: 'session-meta' },
          `Started ${formatDateTime(session.created_at)} · last used ${formatRelative(session.last_used_at)}`,
          session.ip ? ` · ${session.ip}` : '',
        ),
        session.user_agent ? h('p', { class: 'session-ua' }, session.user_agent) : null,
      ),
      control,
    );
  });

  container.replaceChildren(
    h('h2', { class: 'card-title' }, 'Sessions'),
    h(
      'p',
      { class: 'muted' },
      `You are logged in on ${sessions.length} ${sessions.length === 1 ? 'device or browser' : 'devices or browsers'}.`,
    ),
    alert.element,
    h('ul', { class: 'sessions' }, ...items),
    h('div', { class: 'form-actions' }, everywhere),
  );
}
