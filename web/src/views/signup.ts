/**
 * Sign up. The server decides what is acceptable (password policy, taken names); its
 * answers are shown next to the field they concern, the policy's reasons as a list.
 */
import type { View } from '../app.ts';
import { ApiError } from '../http.ts';
import type { SignupInput } from '../types.ts';
import { h } from '../ui/dom.ts';
import { errorDetails, errorMessage } from '../ui/errors.ts';
import { button, field, form, formAlert, whileBusy, type Field } from '../ui/forms.ts';
import { card, pageHeading } from '../ui/status.ts';

export const signupView: View = (app, { root }) => {
  const alert = formAlert();
  const username = field({
    label: 'Username',
    name: 'username',
    autocomplete: 'username',
    required: true,
    hint: '3 to 64 letters, digits, dots, dashes or underscores.',
  });
  const email = field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'email' });
  const name = field({ label: 'Name', name: 'name', autocomplete: 'name' });
  const dob = field({ label: 'Date of birth', name: 'dob', type: 'date', autocomplete: 'bday' });
  const password = field({
    label: 'Password',
    name: 'password',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    hint: 'At least 8 characters, and not your username or email.',
  });
  const fields: Record<string, Field> = { username, email, name, dob, password };
  const submit = button('Create account', { kind: 'primary', type: 'submit' });

  const signUp = async () => {
    alert.clear();
    for (const f of Object.values(fields)) f.setError(null);
    const input: SignupInput = { username: username.input.value.trim(), password: password.input.value };
    if (email.input.value.trim()) input.email = email.input.value.trim();
    if (name.input.value.trim()) input.name = name.input.value.trim();
    if (dob.input.value) input.dob = dob.input.value;
    try {
      const user = await whileBusy(submit, 'Creating account…', () => app.api.signup(input));
      app.flash.next(`Account created. Log in as ${user.username}.`, 'success');
      app.navigate(`/login?username=${encodeURIComponent(user.username)}`);
    } catch (err) {
      const target = fieldFor(err, fields);
      if (target === null) {
        alert.show('error', errorMessage(err), errorDetails(err));
        return;
      }
      if (err instanceof ApiError && err.code === 'weak_password') {
        target.setError('Choose a stronger password. It:', errorDetails(err));
      } else {
        target.setError(errorDetails(err)[0] ?? errorMessage(err));
      }
      target.input.focus();
    }
  };

  root.append(
    pageHeading('Sign up', 'Create an account on this Bastion server.'),
    card(
      null,
      form(
        'Sign up',
        () => void signUp(),
        alert.element,
        username.root,
        email.root,
        name.root,
        dob.root,
        password.root,
        h(
          'div',
          { class: 'form-actions' },
          submit,
          h('p', { class: 'form-aside' }, 'Have an account? ', h('a', { attrs: { href: '#/login' } }, 'Log in')),
        ),
      ),
    ),
  );
};

/** Which field an error is about, from its code or its validation details. */
function fieldFor(err: unknown, fields: Record<string, Field>): Field | null {
  if (!(err instanceof ApiError)) return null;
  if (err.code === 'weak_password') return fields['password'] ?? null;
  if (err.code === 'username_taken') return fields['username'] ?? null;
  if (err.code === 'email_taken') return fields['email'] ?? null;
  if (err.code === 'validation_failed' && Array.isArray(err.details)) {
    const path = (err.details[0] as { path?: unknown } | undefined)?.path;
    if (typeof path === 'string') return fields[path.replace(/^body\//, '')] ?? null;
  }
  return null;
}
