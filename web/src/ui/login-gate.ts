/**
 * The login form that appears when a protected request comes back 401. It covers the
 * page that asked (kept, hidden, underneath); once someone logs in, in this tab or
 * another, the page comes back and its request is made again.
 */
import type { LoginPrompt } from '../api.ts';
import type { Session } from '../session.ts';
import { h } from './dom.ts';
import { loginForm } from './login-form.ts';

interface Pending {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly panel: HTMLElement;
}

export class LoginGate implements LoginPrompt {
  private pending: Pending | null = null;

  constructor(
    private readonly outlet: HTMLElement,
    private readonly session: Session,
  ) {
    session.subscribe((state) => {
      if (state.status === 'signed-in') this.close(null);
    });
  }

  prompt(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError());
    const pending = (this.pending ??= this.open());
    if (!signal) return pending.promise;
    return new Promise<void>((resolve, reject) => {
      signal.addEventListener('abort', () => reject(abortError()), { once: true });
      pending.promise.then(resolve, reject);
    });
  }

  /** The page is being left: whoever waits gets an AbortError. */
  cancel(): void {
    this.close(abortError());
  }

  private open(): Pending {
    let resolve!: () => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be waiting when the page is left; that is not an error.
    promise.catch(() => undefined);

    const form = loginForm(this.session);
    const panel = h(
      'section',
      { class: 'login-gate card', attrs: { 'aria-labelledby': 'login-gate-title' } },
      h('h1', { attrs: { id: 'login-gate-title', tabindex: -1 } }, 'Log in to continue'),
      h('p', { class: 'lead' }, 'This page shows data only a logged-in person may see. Log in and it will load.'),
      form,
    );
    for (const child of this.outlet.children) (child as HTMLElement).hidden = true;
    this.outlet.append(panel);
    form.querySelector('input')?.focus();
    return { promise, resolve, reject, panel };
  }

  private close(reason: unknown): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    pending.panel.remove();
    for (const child of this.outlet.children) (child as HTMLElement).hidden = false;
    if (reason === null) {
      pending.resolve();
      this.outlet.querySelector<HTMLElement>('h1')?.focus();
    } else {
      pending.reject(reason);
    }
  }
}

const abortError = () => new DOMException('The page was left', 'AbortError');
