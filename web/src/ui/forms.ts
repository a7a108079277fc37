/** Labelled inputs, inline messages and busy buttons: the parts every form here is made of. */
import { h, setAttr, uid } from './dom.ts';

export interface FieldOptions {
  readonly label: string;
  readonly name: string;
  readonly type?: string;
  readonly autocomplete?: string;
  readonly required?: boolean;
  /** a line under the input saying what is expected */
  readonly hint?: string;
  readonly value?: string;
  readonly placeholder?: string;
}

export interface Field {
  readonly root: HTMLElement;
  readonly input: HTMLInputElement;
  /** Shows (or with null, clears) a message under the input, announced with it. */
  setError(message: string | null, items?: readonly string[]): void;
}

export function field(options: FieldOptions): Field {
  const id = uid(options.name);
  const hint = options.hint ? h('p', { class: 'field-hint', attrs: { id: `${id}-hint` } }, options.hint) : null;
  const error = h('div', { class: 'field-error', attrs: { id: `${id}-error`, hidden: true } });
  const input = h('input', {
    class: 'input',
    attrs: {
      id,
      name: options.name,
      type: options.type ?? 'text',
      autocomplete: options.autocomplete ?? 'off',
      required: options.required ?? false,
      placeholder: options.placeholder,
      'aria-describedby': hint ? hint.id : undefined,
    },
  });
  if (options.value !== undefined) input.value = options.value;
  const label = h(
    'label',
    { attrs: { for: id } },
    options.label,
    options.required ? null : h('span', { class: 'optional' }, ' (optional)'),
  );
  const root = h('div', { class: 'field' }, label, input, hint, error);

  return {
    root,
    input,
    setError(message, items = []) {
      error.replaceChildren();
      if (message !== null) error.append(h('p', null, message));
      if (items.length > 0) error.append(h('ul', null, ...items.map((item) => h('li', null, item))));
      error.hidden = message === null;
      setAttr(input, 'aria-invalid', message === null ? null : 'true');
      const describedBy = [hint?.id, message === null ? null : error.id].filter(Boolean).join(' ');
      setAttr(input, 'aria-describedby', describedBy || null);
    },
  };
}

/** The second-factor field, the same wherever a code is asked for. */
export const codeField = (): Field =>
  field({
    label: 'Code from your authenticator app',
    name: 'otp',
    autocomplete: 'one-time-code',
    required: true,
    hint: '6 digits, or one of your recovery codes.',
  });

export type AlertKind = 'error' | 'success' | 'info';

export interface Alert {
  readonly element: HTMLElement;
  show(kind: AlertKind, message: string, items?: readonly string[]): void;
  clear(): void;
}

/** The message box at the top of a form: the server's words, and its list of reasons. */
export function formAlert(): Alert {
  const element = h('div', { class: 'alert', attrs: { role: 'alert', hidden: true } });
  return {
    element,
    show(kind, message, items = []) {
      element.className = `alert alert-${kind}`;
      element.replaceChildren(h('p', null, message));
      if (items.length > 0) element.append(h('ul', null, ...items.map((item) => h('li', null, item))));
      element.hidden = false;
    },
    clear() {
      element.replaceChildren();
      element.hidden = true;
    },
  };
}

export function button(
  label: string,
  options: { kind?: 'primary' | 'secondary' | 'danger' | 'ghost'; type?: 'button' | 'submit'; small?: boolean } = {},
): HTMLButtonElement {
  const classes = ['btn', `btn-${options.kind ?? 'secondary'}`, options.small ? 'btn-small' : ''].filter(Boolean).join(' ');
  return h('button', { class: classes, attrs: { type: options.type ?? 'button' } }, label);
}

/**
 * Runs `task` with the button disabled and saying what is happening, so a second click
 * cannot send the request twice.
 */
export async function whileBusy<T>(control: HTMLButtonElement, busyLabel: string, task: () => Promise<T>): Promise<T> {
  const label = control.textContent ?? '';
  control.disabled = true;
  control.setAttribute('aria-busy', 'true');
  control.textContent = busyLabel;
  try {
    return await task();
  } finally {
    control.disabled = false;
    control.removeAttribute('aria-busy');
    control.textContent = label;
  }
}

/** A form handled here, never submitted by the browser. */
export function form(label: string, onSubmit: () => void, ...children: (Node | null)[]): HTMLFormElement {
  const submit = (event: SubmitEvent) => {
    event.preventDefault();
    onSubmit();
  };
  return h('form', { class: 'form', attrs: { 'aria-label': label }, on: { submit } }, ...children);
}
