/**
 * One-line notices under the header ("Password changed — please log in again"). A notice
 * can be shown now, or queued to appear on the next page, for actions that navigate.
 */
import type { AlertKind } from './forms.ts';
import { h } from './dom.ts';

interface Notice {
  readonly kind: AlertKind;
  readonly text: string;
}

export class Flash {
  readonly element: HTMLElement = h('div', { class: 'flash-region', attrs: { 'aria-live': 'polite' } });
  private queued: Notice | null = null;

  now(text: string, kind: AlertKind = 'info'): void {
    this.render({ text, kind });
  }

  /** Shown when the next page renders (and not before). */
  next(text: string, kind: AlertKind = 'info'): void {
    this.queued = { text, kind };
  }

  /** Called by the router on every page change: the queued notice, or nothing. */
  advance(): void {
    const notice = this.queued;
    this.queued = null;
    this.render(notice);
  }

  private render(notice: Notice | null): void {
    if (notice === null) {
      this.element.replaceChildren();
      return;
    }
    const dismiss = h(
      'button',
      { class: 'flash-dismiss', attrs: { type: 'button', 'aria-label': 'Dismiss' }, on: { click: () => this.render(null) } },
      '×',
    );
    this.element.replaceChildren(h('div', { class: `flash flash-${notice.kind}` }, h('p', null, notice.text), dismiss));
  }
}
