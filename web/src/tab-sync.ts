/**
 * Keeps the tabs of one browser in step. They share the API's cookies but each holds its
 * own CSRF token in memory, and a refresh rotates both the refresh token and the CSRF
 * token, so a tab that refreshes tells the others the new CSRF token. The CSRF token is
 * not a credential on its own (the HttpOnly cookies are) and BroadcastChannel reaches
 * only pages of this origin.
 */

export type TabMessage =
  /** another tab logged in (possibly as someone else) */
  | { readonly type: 'signed-in'; readonly csrf: string; readonly expiresIn: number }
  /** another tab refreshed the session: adopt its CSRF token and expiry */
  | { readonly type: 'renewed'; readonly csrf: string; readonly expiresIn: number }
  /** another tab logged out, or learned that the session is over */
  | { readonly type: 'signed-out' };

const CHANNEL = 'bastion-auth';
const REFRESH_LOCK = 'bastion-refresh';

export class TabSync {
  private readonly channel: BroadcastChannel | null = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;

  post(message: TabMessage): void {
    this.channel?.postMessage(message);
  }

  listen(handler: (message: TabMessage) => void): void {
    this.channel?.addEventListener('message', (event: MessageEvent<unknown>) => {
      if (isTabMessage(event.data)) handler(event.data);
    });
  }

  /**
   * Runs `fn` while no other tab refreshes. Two tabs presenting the same refresh token
   * would look like token theft to the server (reuse detection revokes the session).
   * Web Locks exist only in secure contexts; elsewhere the tabs take their chances.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (typeof navigator.locks?.request !== 'function') return fn();
    return navigator.locks.request(REFRESH_LOCK, fn);
  }
}

function isTabMessage(data: unknown): data is TabMessage {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Record<string, unknown>;
  if (m['type'] === 'signed-out') return true;
  return (m['type'] === 'signed-in' || m['type'] === 'renewed') && typeof m['csrf'] === 'string' && typeof m['expiresIn'] === 'number';
}
