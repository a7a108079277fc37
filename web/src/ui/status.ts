/** The states a page passes through: its heading, loading, empty, failed. */
import { errorMessage } from './errors.ts';
import { h } from './dom.ts';

/** The page's h1; focusable so that navigation can move focus (and screen readers) to it. */
export function pageHeading(title: string, lead?: string): HTMLElement {
  return h('header', { class: 'page-heading' }, h('h1', { attrs: { tabindex: -1 } }, title), lead ? h('p', { class: 'lead' }, lead) : null);
}

export function loading(text: string): HTMLElement {
  return h(
    'p',
    { class: 'state state-loading', attrs: { role: 'status' } },
    h('span', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }),
    text,
  );
}

export function emptyState(text: string): HTMLElement {
  return h('p', { class: 'state state-empty' }, text);
}

/** A failure with the server's message, and a way to try again when that makes sense. */
export function errorState(err: unknown, retry?: () => void): HTMLElement {
  return h(
    'div',
    { class: 'state state-error', attrs: { role: 'alert' } },
    h('p', { class: 'state-title' }, 'Could not load this page'),
    h('p', null, errorMessage(err)),
    retry ? h('button', { class: 'btn btn-secondary btn-small', attrs: { type: 'button' }, on: { click: retry } }, 'Try again') : null,
  );
}

export function card(title: string | null, ...children: (Node | null)[]): HTMLElement {
  return h('section', { class: 'card' }, title ? h('h2', { class: 'card-title' }, title) : null, ...children);
}
