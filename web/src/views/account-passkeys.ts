/**
 * Passkeys, on the account page: add one (named, so several can be told apart), rename
 * and delete them. Adding and deleting change how the account can be logged in to, so the
 * server wants a recent login for them (401 fresh_login_required): the login form then
 * appears in the card and the action is tried again (ui/fresh-login.ts).
 */
import type { App } from '../app.ts';
import { ApiError } from '../http.ts';
import { createPasskey, passkeyProblem, passkeysSupported, type Passkey } from '../passkeys.ts';
import type { User } from '../types.ts';
import { h } from '../ui/dom.ts';
import { errorDetails, errorMessage } from '../ui/errors.ts';
import { button, field, form, formAlert, whileBusy } from '../ui/forms.ts';
import { formatDateTime, formatRelative } from '../ui/format.ts';
import { withFreshLogin } from '../ui/fresh-login.ts';
import { card } from '../ui/status.ts';

export function passkeysCard(app: App, user: User, signal: AbortSignal): HTMLElement {
  const alert = formAlert();
  const list = h('ul', { class: 'sessions passkeys', attrs: { 'aria-label': 'Passkeys' } });
  const summary = h('p', { class: 'muted' });
  const reauth = h('div');

  const show = (passkeys: readonly Passkey[]) => {
    summary.textContent =
      passkeys.length === 0
        ? 'You have no passkeys yet.'
        : `You have ${passkeys.length} ${passkeys.length === 1 ? 'passkey' : 'passkeys'}.`;
    list.replaceChildren(...passkeys.map(item));
  };
  const reload = async () => {
    try {
      show(await app.api.passkeys(signal));
    } catch (err) {
      if (!signal.aborted) alert.show('error', errorMessage(err));
    }
  };

  /** One passkey: its name and dates, Rename and Delete. */
  const item = (passkey: Passkey): HTMLElement => {
    const rename = button('Rename', { kind: 'secondary', small: true });
    const remove = button('Delete', { kind: 'danger', small: true });
    const row = h(
      'li',
      { class: 'session passkey' },
      h(
        'div',
        { class: 'session-main' },
        h('p', { class: 'session-device' }, passkey.name, passkey.backup_eligible ? h('span', { class: 'badge' }, 'Synced') : null),
        h(
          'p',
          { class: 'session-meta' },
          `Added ${formatDateTime(passkey.created_at)} · ${passkey.last_used_at ? `last used ${formatRelative(passkey.last_used_at)}` : 'not used yet'}`,
        ),
      ),
      rename,
      remove,
    );
    rename.addEventListener('click', () => row.replaceWith(renameForm(passkey, row)));
    remove.addEventListener('click', () => {
      alert.clear();
      void withFreshLogin(app, reauth, user.username, () => whileBusy(remove, 'Deleting…', () => app.api.deletePasskey(passkey.id))).then(
        () => {
          alert.show('success', `Passkey “${passkey.name}” deleted.`);
          return reload();
        },
        (err: unknown) => alert.show('error', errorMessage(err)),
      );
    });
    return row;
  };

  const renameForm = (passkey: Passkey, row: HTMLElement): HTMLElement => {
    const name = field({ label: 'New name', name: 'passkey_name', required: true, value: passkey.name });
    const save = button('Save', { kind: 'primary', type: 'submit', small: true });
    const cancel = button('Cancel', { kind: 'ghost', small: true });
    const element = h(
      'li',
      { class: 'session passkey' },
      form(
        `Rename passkey ${passkey.name}`,
        () =>
          void whileBusy(save, 'Saving…', () => app.api.renamePasskey(passkey.id, name.input.value)).then(
            () => reload(),
            (err: unknown) => name.setError(errorMessage(err), errorDetails(err)),
          ),
        name.root,
        h('div', { class: 'form-actions' }, save, cancel),
      ),
    );
    cancel.addEventListener('click', () => element.replaceWith(row));
    queueMicrotask(() => name.input.select());
    return element;
  };

  // Adding: a name first, then the browser's prompt, then the server checks the answer.
  const name = field({ label: 'Name for the new passkey', name: 'passkey_name', required: true, hint: 'E.g. “Laptop” or “Phone”, to tell your passkeys apart.' });
  const add = button('Add a passkey', { kind: 'primary', type: 'submit' });
  const register = async () => {
    alert.clear();
    name.setError(null);
    const label = name.input.value.trim();
    if (label === '') {
      // before the browser's prompt: a passkey made on the device but refused here would linger there
      name.setError('Give the passkey a name.');
      name.input.focus();
      return;
    }
    try {
      const passkey = await withFreshLogin(app, reauth, user.username, () =>
        whileBusy(add, 'Waiting for your passkey…', async () => app.api.addPasskey(label, await createPasskey(await app.api.passkeyOptions()))),
      );
      name.input.value = '';
      alert.show('success', `Passkey “${passkey.name}” added. You can now log in with it, without your password.`);
      await reload();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'validation_failed') name.setError(err.message, errorDetails(err));
      else alert.show('error', passkeyProblem(err) ?? errorMessage(err), errorDetails(err));
    }
  };

  void reload();
  return card(
    'Passkeys',
    h('p', { class: 'muted' }, 'Log in with your fingerprint, face or device PIN instead of a password, or use a passkey as the second step after it.'),
    alert.element,
    summary,
    list,
    passkeysSupported()
      ? form('Add a passkey', () => void register(), name.root, h('div', { class: 'form-actions' }, add))
      : h('p', { class: 'muted' }, 'This browser cannot use passkeys here. Passkeys need a browser that supports them and a page opened by host name (https://…, or http://localhost).'),
    reauth,
  );
}
