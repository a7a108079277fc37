/**
 * Hash routing (#/people, #/login?next=/account): the server, or any static host, only
 * ever serves index.html, and a reload keeps the page. Each visit to a page gets a fresh
 * element and an AbortSignal that fires when the person moves on.
 */
import type { App, View } from './app.ts';
import { isAbort } from './http.ts';
import { h } from './ui/dom.ts';
import { errorState } from './ui/status.ts';

export interface Route {
  readonly path: string;
  readonly title: string;
  readonly view: View;
  /** the page shows data only a logged-in person may see */
  readonly private?: boolean;
}

export interface RouteMatch {
  readonly route: Route;
  readonly path: string;
  readonly query: URLSearchParams;
}

export interface RouterHooks {
  /** before a page renders: close what belonged to the previous one */
  beforeRender(match: RouteMatch): void;
}

export class Router {
  private controller: AbortController | null = null;
  private match: RouteMatch;
  private app: App | null = null;

  constructor(
    private readonly outlet: HTMLElement,
    private readonly routes: readonly Route[],
    private readonly notFound: Route,
    private readonly hooks: RouterHooks,
  ) {
    this.match = this.resolve();
  }

  get current(): RouteMatch {
    return this.match;
  }

  start(app: App): void {
    this.app = app;
    window.addEventListener('hashchange', () => this.render());
    this.render();
  }

  /** `path` like "/people?x=1"; renders again even when it is the current page. */
  navigate(path: string): void {
    const hash = `#${path}`;
    if (location.hash === hash) this.render();
    else location.hash = hash;
  }

  render(): void {
    const app = this.app;
    if (app === null) throw new Error('Router.render before start');
    const firstRender = this.controller === null;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.match = this.resolve();
    const { route, query } = this.match;
    this.hooks.beforeRender(this.match);
    document.title = route.path === '/' ? 'Bastion' : `${route.title} · Bastion`;

    const root = h('div', { class: 'view' });
    this.outlet.replaceChildren(root);
    Promise.resolve()
      .then(() => route.view(app, { root, signal: controller.signal, query }))
      .catch((err: unknown) => {
        if (controller.signal.aborted || isAbort(err)) return;
        root.replaceChildren(errorState(err, () => this.render()));
      });
    // Moving focus to the new heading (which every view writes first, synchronously)
    // tells keyboard and screen-reader users that the page changed. Not on the first
    // load, where focus belongs to the browser; nor when the page focused a field itself.
    if (!firstRender) {
      queueMicrotask(() => {
        if (!root.contains(document.activeElement)) root.querySelector<HTMLElement>('h1')?.focus();
      });
    }
  }

  private resolve(): RouteMatch {
    const raw = location.hash.replace(/^#/, '') || '/';
    const [pathPart = '/', queryPart = ''] = raw.split('?', 2);
    const path = pathPart.startsWith('/') ? pathPart : `/${pathPart}`;
    const route = this.routes.find((r) => r.path === path) ?? this.notFound;
    return { route, path, query: new URLSearchParams(queryPart) };
  }
}
