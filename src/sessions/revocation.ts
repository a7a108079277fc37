/**
 * Revocation without a database read per request (DESIGN.md §2): a jti deny list, a
 * session (sid) deny list and a per-user "tokens valid after" stamp, held in memory and
 * answered synchronously. Every revocation is also a row of the feed (`revocations`,
 * ordered by `seq`), which every instance follows: PostgreSQL's NOTIFY wakes the others at
 * once, and polling every REVOCATION_POLL is the fallback that is correct on its own. The
 * feed also says when the signing keys changed, so a rotation reaches every instance too.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { inTransaction, type Db } from '../storage/db.ts';
import { listenFeed, notifyFeed, type Listener } from '../storage/notify.ts';
import type { RevocationRow } from '../storage/tables.ts';
import type { AccessClaims } from '../tokens/claims.ts';

const PRUNE_EVERY_MS = 60_000;
const PAGE = 1000;

export interface FeedOptions {
  readonly pollMs: number;
  /** PostgreSQL: send NOTIFY with each row */
  readonly notify: boolean;
  /** PostgreSQL: LISTEN on this connection to be woken at once; null: poll only */
  readonly listenUrl: string | null;
  /** another instance changed the signing keys */
  readonly onKeysChanged?: () => Promise<void>;
  /** a read of the feed failed, or the LISTEN connection dropped (both retried by themselves) */
  readonly onError?: (err: Error) => void;
}

export type NewRevocation = Omit<RevocationRow, 'id' | 'seq' | 'created_at'>;

export class RevocationList {
  private readonly jtis = new Map<string, number>();
  /** session (refresh family) id -> expiry of the entry: every access token of that session is void */
  private readonly sessions = new Map<string, number>();
  /** user id -> { not-before in seconds, expiry of the entry in ms } */
  private readonly users = new Map<string, { notBeforeSec: number; expiresAt: number }>();
  /** ids of the rows this instance wrote and has not yet read back from the feed */
  private readonly own = new Set<string>();
  /** the highest `seq` read from the feed: everything at or below it has been applied */
  private cursor = 0;
  private lastPrune = 0;
  private timer: NodeJS.Timeout | null = null;
  private listener: Listener | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private options: FeedOptions = { pollMs: 500, notify: false, listenUrl: null };
  private readonly lagObservers = new Set<(ms: number) => void>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Loads what is in force and starts following the feed. */
  async start(options: FeedOptions): Promise<void> {
    this.options = options;
    await this.load();
    this.timer = setInterval(() => this.wake(), options.pollMs);
    this.timer.unref();
    if (options.listenUrl) this.listener = listenFeed(options.listenUrl, () => this.wake(), (err) => options.onError?.(err));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.listener?.close();
    this.listener = null;
    await this.running;
  }

  /** Told, for each row another instance wrote, how long after its writing it was applied here (ms; the two clocks may differ). */
  observeLag(observer: (ms: number) => void): void {
    this.lagObservers.add(observer);
  }

  /** Synchronous: the hot path of every authenticated request. */
  isRevoked(claims: Pick<AccessClaims, 'jti' | 'sub' | 'iat' | 'sid'>): boolean {
    if (this.jtis.has(claims.jti)) return true;
    if (claims.sid !== undefined && this.sessions.has(claims.sid)) return true;
    const user = this.users.get(claims.sub);
    return user !== undefined && claims.iat < user.notBeforeSec;
  }

  /** Denies one access token until it could no longer pass anyway: its `exp` plus the verification leeway. */
  async revokeToken(jti: string, expSec: number, leewaySec: number, db: Db = this.db): Promise<void> {
    await this.record({ kind: 'jti', subject: jti, not_before: null, expires_at: (expSec + leewaySec) * 1000 }, db);
  }

  /** Voids every access token of one session (they all carry its id as `sid`). */
  async revokeSessionTokens(sessionId: string, accessTtlSec: number, leewaySec: number, db: Db = this.db): Promise<void> {
    const expires = this.clock.now() + (accessTtlSec + leewaySec) * 1000;
    await this.record({ kind: 'session', subject: sessionId, not_before: null, expires_at: expires }, db);
  }

  /**
   * Voids every access token of the user issued up to now. Tokens carry whole-second
   * `iat`, so the stamp is the next whole second: tokens of this second are void too,
   * and issuance waits for the stamp (see `waitForStamp`) instead of minting dead tokens.
   * Returns the stamp in ms.
   */
  async revokeUser(userId: string, accessTtlSec: number, leewaySec: number, db: Db = this.db): Promise<number> {
    const notBefore = (Math.floor(this.clock.now() / 1000) + 1) * 1000;
    const expires = notBefore + (accessTtlSec + leewaySec) * 1000;
    await this.record({ kind: 'user', subject: userId, not_before: notBefore, expires_at: expires }, db);
    return notBefore;
  }

  /** Tells every other instance to reload the signing keys (a rotation made here). */
  async announceKeys(kid: string, keepMs: number, db: Db = this.db): Promise<void> {
    await this.record({ kind: 'keys', subject: kid, not_before: null, expires_at: this.clock.now() + keepMs }, db);
  }

  /**
   * Appends a row to the feed inside `db`'s transaction (or a new one). Its number comes
   * from the `sequences` row, whose lock is held to commit, so rows commit in number order.
   */
  private async record(row: NewRevocation, db: Db): Promise<void> {
    const full = await inTransaction(db, async (tx) => {
      const { value: seq } = await tx
        .updateTable('sequences')
        .set((eb) => ({ value: eb('value', '+', 1) }))
        .where('name', '=', 'revocations')
        .returning('value')
        .executeTakeFirstOrThrow();
      const full: RevocationRow = { ...row, id: randomUUID(), seq, created_at: this.clock.now() };
      await tx.insertInto('revocations').values(full).execute();
      if (this.options.notify) await notifyFeed(tx, seq);
      return full;
    });
    this.own.add(full.id);
    // In force here at once; the cursor moves only when the feed is read, so rows that
    // other instances committed just before this one are not skipped.
    this.apply(full);
  }

  private apply(row: RevocationRow): void {
    if (row.kind === 'jti') this.jtis.set(row.subject, row.expires_at);
    else if (row.kind === 'session') this.sessions.set(row.subject, row.expires_at);
    else if (row.kind === 'user') {
      const notBeforeSec = Math.floor((row.not_before ?? 0) / 1000);
      const prev = this.users.get(row.subject);
      if (!prev || prev.notBeforeSec < notBeforeSec) this.users.set(row.subject, { notBeforeSec, expiresAt: row.expires_at });
    }
  }

  /** First read: the feed's head, then everything still in force (rows past the head are read again later; applying is idempotent). */
  private async load(): Promise<void> {
    const head = await this.db.selectFrom('sequences').select('value').where('name', '=', 'revocations').executeTakeFirstOrThrow();
    const rows = await this.db.selectFrom('revocations').selectAll().where('expires_at', '>', this.clock.now()).execute();
    for (const row of rows) this.apply(row);
    this.cursor = head.value;
  }

  /** Reads the feed now; a wake-up during a read makes one more read after it. */
  wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.poll()
      .catch((err: Error) => this.options.onError?.(err))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Resolves once every row committed before the call has been applied. */
  async sync(): Promise<void> {
    while (this.running) await this.running;
    await this.poll();
  }

  private async poll(): Promise<void> {
    for (;;) {
      const rows = await this.db.selectFrom('revocations').selectAll().where('seq', '>', this.cursor).orderBy('seq').limit(PAGE).execute();
      const now = this.clock.now();
      let keysChanged = false;
      for (const row of rows) {
        this.apply(row);
        if (this.own.delete(row.id)) continue;
        if (row.kind === 'keys') keysChanged = true;
        for (const observe of this.lagObservers) observe(now - row.created_at);
      }
      if (rows.length > 0) this.cursor = rows[rows.length - 1]!.seq;
      if (keysChanged) await this.options.onKeysChanged?.();
      if (rows.length < PAGE) break;
    }
    const now = this.clock.now();
    if (now - this.lastPrune >= PRUNE_EVERY_MS) await this.prune(now);
  }

  private async prune(now: number): Promise<void> {
    this.lastPrune = now;
    this.own.clear(); // rows of rolled-back transactions never come back; forget them
    for (const map of [this.jtis, this.sessions]) for (const [key, exp] of map) if (exp <= now) map.delete(key);
    for (const [user, entry] of this.users) if (entry.expiresAt <= now) this.users.delete(user);
    await this.db.deleteFrom('revocations').where('expires_at', '<=', now).execute();
  }
}

/** A stamp further ahead than this comes from a clock that is badly off: do not hold a login for it. */
const MAX_STAMP_WAIT_MS = 5_000;

/**
 * Resolves once a token issued now would not be void under the user's stamp. A timer may
 * fire a millisecond early against the wall clock (Node's timers run on a monotonic
 * clock), so the clock itself is asked again after every sleep: waking early means
 * sleeping the rest, never minting a token that is already revoked.
 */
export async function waitForStamp(stampMs: number, clock: Clock): Promise<void> {
  for (let wait = stampMs - clock.now(); wait > 0 && wait <= MAX_STAMP_WAIT_MS; wait = stampMs - clock.now()) {
    await clock.sleep(wait);
  }
}
