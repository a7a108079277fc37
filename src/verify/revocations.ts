/**
 * Following Bastion's revocation feed from another service: the same ordered feed Bastion's
 * instances read (GET <feed>?after=<cursor>, client credentials in HTTP Basic), held in
 * memory and answered synchronously, so a logout is honoured here within a poll interval
 * without a call to Bastion per request.
 *
 * Row meanings: `jti` refuses that token; `session` every token whose `sid` is the
 * subject; `user` every token of that `sub` issued (`iat`) before `not_before`; `keys`
 * says the signing keys changed (the verifier reloads the JWKS). A row is kept until its
 * `expires_at` (every token it names has expired by then) plus the clock tolerance and a
 * margin for this machine's clock running behind Bastion's.
 *
 * Failures never throw into the host: the last state is kept, the read is retried with
 * back-off, and `status` says how old the state is (the verifier can fail closed on it).
 */
import { getJson, type Fetch } from './metadata.ts';

export interface RevocationRow {
  readonly seq: number;
  readonly kind: 'jti' | 'session' | 'user' | 'keys';
  readonly subject: string;
  readonly not_before: number | null;
  readonly expires_at: number;
}

interface FeedPage {
  readonly revocations: readonly RevocationRow[];
  readonly cursor: number;
  readonly more: boolean;
}

/** What revocation looks at in a token. */
export interface RevocableClaims {
  readonly jti?: string | undefined;
  readonly sid?: string | undefined;
  readonly sub?: string | undefined;
  readonly iat?: number | undefined;
}

const KINDS = new Set(['jti', 'session', 'user', 'keys']);
/** Kept past `expires_at` in case this machine's clock is behind Bastion's. */
const FORGET_MARGIN_SEC = 60;
/** The longest wait between failed reads: once Bastion is back, revocations resume within this. */
const MAX_BACKOFF_MS = 10_000;

export class RevocationState {
  private readonly jtis = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, { notBefore: number; expiresAt: number }>();

  /** Applies one row; true when it says the signing keys changed. */
  apply(row: RevocationRow): boolean {
    if (row.kind === 'jti') this.jtis.set(row.subject, Math.max(row.expires_at, this.jtis.get(row.subject) ?? 0));
    else if (row.kind === 'session') this.sessions.set(row.subject, Math.max(row.expires_at, this.sessions.get(row.subject) ?? 0));
    else if (row.kind === 'user' && row.not_before !== null) {
      const prev = this.users.get(row.subject);
      if (!prev || prev.notBefore < row.not_before) this.users.set(row.subject, { notBefore: row.not_before, expiresAt: row.expires_at });
    }
    return row.kind === 'keys';
  }

  isRevoked(claims: RevocableClaims): boolean {
    if (claims.jti !== undefined && this.jtis.has(claims.jti)) return true;
    if (claims.sid !== undefined && this.sessions.has(claims.sid)) return true;
    const user = claims.sub === undefined ? undefined : this.users.get(claims.sub);
    return user !== undefined && (claims.iat === undefined || claims.iat < user.notBefore);
  }

  /** Forgets rows whose tokens have all expired (`nowSec` minus the tolerances). */
  prune(nowSec: number, toleranceSec: number): void {
    const before = nowSec - toleranceSec - FORGET_MARGIN_SEC;
    for (const map of [this.jtis, this.sessions]) for (const [key, exp] of map) if (exp <= before) map.delete(key);
    for (const [key, entry] of this.users) if (entry.expiresAt <= before) this.users.delete(key);
  }

  get size(): number {
    return this.jtis.size + this.sessions.size + this.users.size;
  }
}

export interface FeedOptions {
  readonly url: URL;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly pollMs: number;
  readonly timeoutMs: number;
  readonly toleranceSec: number;
  readonly fetch: Fetch;
  /** a `keys` row arrived: reload the JWKS */
  readonly onKeysChanged: () => Promise<void>;
  readonly onError: (err: Error) => void;
}

export class FeedError extends Error {
  override name = 'FeedError';
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded (Appendix B) before Basic encoding. */
const formEncode = (text: string): string => new URLSearchParams({ v: text }).toString().slice(2);

export class RevocationFeed {
  readonly state = new RevocationState();
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;
  private closed = false;
  private keysPending = false;
  private readonly authorization: string;
  /** ms since the epoch of the last complete read; null before the first */
  lastSyncMs: number | null = null;
  /** complete reads so far */
  syncs = 0;
  lastError: Error | null = null;

  constructor(private readonly options: FeedOptions) {
    this.authorization = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')}`;
  }

  /** The first read: everything still in force. Throws (wrong credentials, no feed) so misuse shows at start. */
  async start(): Promise<void> {
    await this.readOnce();
    this.schedule(this.options.pollMs);
  }

  /** Stops polling; resolves once a read under way has ended (nothing is left running). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  get position(): number {
    return this.cursor;
  }

  /**
   * Resolves once every row committed before the call is applied: a read already under
   * way may have started before that, so it is waited for and a new one made (or joined,
   * when it started after the call). Rejects when that read fails.
   */
  async sync(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
    await this.readOnce();
  }

  /** One read of the feed to its end; callers at the same time share it. */
  private readOnce(): Promise<void> {
    this.running ??= this.readAll().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.readOnce().then(
        () => {
          this.failures = 0;
          this.schedule(this.options.pollMs);
        },
        (err: Error) => {
          this.failures += 1;
          try {
            this.options.onError(err);
          } catch {
            // the host's logger failing must not stop the polling
          }
          this.schedule(Math.max(this.options.pollMs, Math.min(MAX_BACKOFF_MS, this.options.pollMs * 2 ** this.failures)));
        },
      );
    }, delayMs);
    // the host's own handles decide when its process exits, not this poll
    this.timer.unref();
  }

  private async readAll(): Promise<void> {
    try {
      let keysChanged = false;
      for (let page = await this.read(); ; page = await this.read()) {
        for (const row of page.revocations) keysChanged = this.state.apply(row) || keysChanged;
        this.cursor = Math.max(this.cursor, page.cursor);
        if (!page.more) break;
      }
      this.state.prune(Math.floor(Date.now() / 1000), this.options.toleranceSec);
      // a reload that fails is tried again at the next read (the cursor has moved past its row)
      if (keysChanged) this.keysPending = true;
      if (this.keysPending) {
        await this.options.onKeysChanged();
        this.keysPending = false;
      }
      this.lastSyncMs = Date.now();
      this.syncs += 1;
      this.lastError = null;
    } catch (err) {
      this.lastError = err as Error;
      throw err;
    }
  }

  private async read(): Promise<FeedPage> {
    const url = new URL(this.options.url);
    url.searchParams.set('after', String(this.cursor));
    let answer: { status: number; body: unknown };
    try {
      answer = await getJson(this.options.fetch, url, this.options.timeoutMs, { authorization: this.authorization });
    } catch (err) {
      throw new FeedError(`revocation feed: cannot reach ${url.origin}${url.pathname}: ${(err as Error).message}`, { cause: err });
    }
    if (answer.status === 401) throw new FeedError('revocation feed: the client credentials were refused (invalid_client)');
    if (answer.status !== 200) throw new FeedError(`revocation feed: ${url.origin}${url.pathname} answered ${answer.status}`);
    return parsePage(answer.body);
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The feed's answer, checked member by member; rows of kinds this version does not know are skipped. */
function parsePage(body: unknown): FeedPage {
  const page = body as Partial<Record<keyof FeedPage, unknown>> | undefined;
  if (!page || !Array.isArray(page.revocations) || !isInt(page.cursor) || typeof page.more !== 'boolean') {
    throw new FeedError('revocation feed: the answer is not {revocations, cursor, more}');
  }
  const rows: RevocationRow[] = [];
  for (const raw of page.revocations as Array<Record<string, unknown>>) {
    const { seq, kind, subject, not_before, expires_at } = raw ?? {};
    if (!isInt(seq) || typeof kind !== 'string' || typeof subject !== 'string' || typeof expires_at !== 'number') {
      throw new FeedError('revocation feed: a row is not {seq, kind, subject, not_before, expires_at}');
    }
    if (not_before !== null && not_before !== undefined && typeof not_before !== 'number') throw new FeedError('revocation feed: not_before is not a number');
    if (!KINDS.has(kind)) continue;
    rows.push({ seq, kind: kind as RevocationRow['kind'], subject, not_before: typeof not_before === 'number' ? not_before : null, expires_at });
  }
  return { revocations: rows, cursor: page.cursor, more: page.more };
}
