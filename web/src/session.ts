/**
 * Who is logged in, in cookie mode. The access and refresh tokens live only in the API's
 * HttpOnly cookies; this page holds nothing but the CSRF token (in memory) and the user
 * it is shown. On load the page trades the refresh cookie for a fresh session, refreshes
 * again before the access token expires, and keeps other tabs informed.
 */
import { ApiError, NetworkError, type Http } from './http.ts';
import type { MfaProof } from './mfa.ts';
import { usePasskey, type PasskeyRequestOptions } from './passkeys.ts';
import type { TabMessage, TabSync } from './tab-sync.ts';
import type { CookieSession, User } from './types.ts';

export type AuthStatus = 'checking' | 'signed-in' | 'signed-out';

export interface AuthState {
  readonly status: AuthStatus;
  /** the logged-in user, once /api/auth/me has answered */
  readonly user: User | null;
  /** why the session could not even be checked (API unreachable), for a banner */
  readonly problem: string | null;
}

/**
 * What changed: the first check finished, someone logged in, the session ended (here, or
 * in another tab: 'signed-out-elsewhere'), or the user's details changed.
 */
export type AuthChange = 'checked' | 'signed-in' | 'signed-out' | 'signed-out-elsewhere' | 'user';

export type AuthListener = (state: AuthState, change: AuthChange) => void;

/** Refresh when this share of the access token's lifetime has passed. */
const REFRESH_AT = 0.8;
/** Never schedule refreshes closer together than this. */
const MIN_REFRESH_DELAY_MS = 1000;
/** After a refresh that got no answer, try again this much later. */
const RETRY_DELAY_MS = 15_000;

export class Session {
  private state: AuthState = { status: 'checking', user: null, problem: null };
  private csrf: string | null = null;
  private readonly listeners = new Set<AuthListener>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** when the scheduled refresh is due (ms since epoch) */
  private refreshDueAt = 0;
  /** when this tab last received a fresh session, its own or another tab's */
  private renewedAt = 0;
  private refreshing: Promise<boolean> | null = null;
  private markReady: () => void = () => {};
  /** Settles once the first check (refresh on load) is done; requests wait for it. */
  readonly ready: Promise<void> = new Promise((resolve) => (this.markReady = resolve));

  constructor(
    private readonly http: Http,
    private readonly tabs: TabSync,
  ) {
    tabs.listen((message) => void this.onTabMessage(message));
    // Timers are throttled in background tabs; catch up as soon as the tab is seen again.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.state.status === 'signed-in' && Date.now() >= this.refreshDueAt) {
        void this.refresh();
      }
    });
  }

  get current(): AuthState {
    return this.state;
  }

  /** The CSRF token for X-CSRF-Token; null while logged out. */
  csrfToken(): string | null {
    return this.csrf;
  }

  subscribe(listener: AuthListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Page load: a valid refresh cookie means the person is still logged in. */
  async start(): Promise<void> {
    try {
      const renewed = await this.refresh();
      if (!renewed && this.state.status === 'checking')
        this.set({ status: 'signed-out', user: null, problem: this.state.problem }, 'checked');
    } finally {
      this.markReady();
    }
  }

  /**
   * Trades the refresh cookie for a new session. Concurrent callers share one request,
   * and tabs take turns (see TabSync.exclusive). Resolves false when there is no session.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.renew().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** POST /authenticate; a login while logged in first ends the old session. */
  async login(identifier: string, password: string): Promise<User | null> {
    if (this.state.status === 'signed-in') await this.logout().catch(() => undefined);
    const body = identifier.includes('@') ? { email: identifier, password } : { username: identifier, password };
    // With 2FA on, a correct password is answered 401 mfa_required: see loginWithCode.
    return this.begin(await this.http.send<CookieSession>('POST', '/authenticate', { body }));
  }

  /** The second login step: the challenge from mfa_required and a code. */
  async loginWithCode(challengeToken: string, proof: MfaProof): Promise<User | null> {
    const body = { challenge_token: challengeToken, ...proof };
    return this.begin(await this.http.send<CookieSession>('POST', '/authenticate/mfa', { body }));
  }

  /**
   * Logs in with a passkey, no username typed: the server's options, the browser's prompt,
   * then the server checks the answer and sets the session cookies.
   */
  async loginWithPasskey(): Promise<User | null> {
    const options = await this.http.send<PasskeyRequestOptions>('POST', '/api/auth/login/passkey/options', { body: {} });
    const credential = await usePasskey(options);
    if (this.state.status === 'signed-in') await this.logout().catch(() => undefined);
    return this.begin(await this.http.send<CookieSession>('POST', '/authenticate/passkey', { body: { credential } }));
  }

  /** The second login step answered with one of the account's passkeys instead of a code. */
  async loginWithPasskeyAsSecondFactor(challengeToken: string): Promise<User | null> {
    const options = await this.http.send<PasskeyRequestOptions>('POST', '/api/auth/login/mfa/passkey/options', { body: { challenge_token: challengeToken } });
    return this.loginWithCode(challengeToken, { passkey: await usePasskey(options) });
  }

  /** Ends this session on the server (which clears the cookies), then here and in other tabs. */
  async logout(): Promise<void> {
    await this.endOnServer('/api/auth/logout');
  }

  /** Ends every session of this user, on every device. */
  async logoutEverywhere(): Promise<void> {
    await this.endOnServer('/api/auth/logout-all');
  }

  /**
   * The session is over (logged out here, or ended by the server itself, as a password
   * change does): forget it in this tab and the others.
   */
  ended(): void {
    this.forget('signed-out');
    this.tabs.post({ type: 'signed-out' });
  }

  /** Reloads the user's details (roles change when an admin edits them). */
  async reloadUser(): Promise<void> {
    try {
      const user = await this.http.send<User>('GET', '/api/auth/me');
      const changed = JSON.stringify(user) !== JSON.stringify(this.state.user);
      if (this.state.status === 'signed-in' && changed) this.set({ ...this.state, user }, 'user');
    } catch {
      // Keep what is shown; the next protected request will tell if the session is gone.
    }
  }

  /** A login went through: this tab and the others now share the new session. */
  private async begin(session: CookieSession): Promise<User | null> {
    this.adopt(session);
    this.tabs.post({ type: 'signed-in', csrf: session.csrf_token, expiresIn: session.expires_in });
    await this.becomeSignedIn('signed-in');
    return this.state.user;
  }

  private async endOnServer(path: string): Promise<void> {
    const send = () => this.http.send<void>('POST', path, { body: {} });
    try {
      await send();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      // An expired access token still has a live refresh token behind it: renew, then end it.
      if (await this.refresh()) await send();
    }
    this.ended();
  }

  private async renew(): Promise<boolean> {
    const askedAt = Date.now();
    const outcome = await this.tabs.exclusive(async (): Promise<'renewed' | 'shared' | 'none' | 'unreachable'> => {
      // Another tab may have refreshed while this one waited for its turn.
      if (this.renewedAt > askedAt && this.csrf !== null) return 'shared';
      try {
        const session = await this.http.send<CookieSession>('POST', '/api/auth/refresh', { body: {} });
        this.adopt(session);
        this.tabs.post({ type: 'renewed', csrf: session.csrf_token, expiresIn: session.expires_in });
        return 'renewed';
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return 'none';
        this.problem(err);
        return 'unreachable';
      }
    });
    if (outcome === 'none') {
      if (this.state.status === 'signed-in') this.ended();
      return false;
    }
    if (outcome === 'unreachable') {
      // Try again soon; meanwhile a request that meets a 401 refreshes on its own.
      if (this.state.status === 'signed-in') this.scheduleRefresh(RETRY_DELAY_MS);
      return false;
    }
    if (this.state.status === 'signed-in') {
      // Roles may have changed (that is why an admin's edit revokes access tokens).
      if (outcome === 'renewed') void this.reloadUser();
    } else {
      await this.becomeSignedIn(this.state.status === 'checking' ? 'checked' : 'signed-in');
    }
    return true;
  }

  private async becomeSignedIn(change: AuthChange): Promise<void> {
    const user = await this.http.send<User>('GET', '/api/auth/me').catch(() => null);
    this.set({ status: 'signed-in', user, problem: null }, change);
  }

  private async onTabMessage(message: TabMessage): Promise<void> {
    if (message.type === 'signed-out') {
      if (this.state.status !== 'signed-out') this.forget('signed-out-elsewhere');
      return;
    }
    this.adopt({ csrf_token: message.csrf, expires_in: message.expiresIn });
    if (message.type === 'renewed' && this.state.status === 'signed-in') return;
    // Someone logged in in another tab (possibly as someone else): learn who, once this
    // tab's own first check is over.
    await this.ready;
    await this.becomeSignedIn('signed-in');
  }

  private adopt(session: Pick<CookieSession, 'csrf_token' | 'expires_in'>): void {
    this.csrf = session.csrf_token;
    this.renewedAt = Date.now();
    this.scheduleRefresh(Math.max(MIN_REFRESH_DELAY_MS, session.expires_in * 1000 * REFRESH_AT));
  }

  private scheduleRefresh(delay: number): void {
    clearTimeout(this.refreshTimer);
    this.refreshDueAt = Date.now() + delay;
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  private forget(change: 'signed-out' | 'signed-out-elsewhere'): void {
    clearTimeout(this.refreshTimer);
    this.csrf = null;
    this.set({ status: 'signed-out', user: null, problem: null }, change);
  }

  private problem(err: unknown): void {
    const message = err instanceof NetworkError || err instanceof ApiError ? err.message : 'The session could not be checked.';
    this.state = { ...this.state, problem: message };
  }

  private set(state: AuthState, change: AuthChange): void {
    this.state = state;
    for (const listener of [...this.listeners]) listener(state, change);
  }
}
