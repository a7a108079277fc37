/** What every view and widget is handed: the API, the session and the page's shared parts. */
import type { Api } from './api.ts';
import type { AppConfig } from './config.ts';
import type { Session } from './session.ts';
import type { Flash } from './ui/flash.ts';

export interface App {
  readonly config: AppConfig;
  readonly api: Api;
  readonly session: Session;
  readonly flash: Flash;
  /** Goes to a page of this app, e.g. "/people" or "/login?next=/account". */
  navigate(path: string): void;
}

/** What a page is given while it is on screen. */
export interface ViewContext {
  /** the element the page fills */
  readonly root: HTMLElement;
  /** aborted when the person leaves the page: pending requests and timers stop */
  readonly signal: AbortSignal;
  readonly query: URLSearchParams;
}

export type View = (app: App, context: ViewContext) => void | Promise<void>;
