/**
 * Revocation without a database read per request (DESIGN.md §2): a jti deny list, a
 * session (sid) deny list and a per-user "tokens valid after" stamp, held in memory and answered synchronously. Every
 * revocation is also a row in `revocations`, which each instance polls, so a logout on
 * one instance reaches the others within REVOCATION_POLL.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { RevocationRow } from '../storage/tables.ts';
import type { AccessClaims } from '../tokens/claims.ts';

/** Rows are re-read this far behind the newest seen, so a row committed late is not missed. */
const POLL_OVERLAP_MS = 5_000;
const PRUNE_EVERY_MS = 60_000;

export class RevocationList {
  private readonly jtis = new Map<string, number>();
  /** session (refresh family) id -> expiry of the entry: every access token of that session is void */
  private readonly sessions = new Map<string, number>();
  /** user id -> { not-before in seconds, expiry of the entry in ms } */
  private readonly users = new Map<string, { notBeforeSec: number; expiresAt: number }>();
  private cursor = 0;
  private lastPrune = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Loads what is in force and starts polling. */
  async start(pollMs: number): Promise<void> {
    await this.poll(true);
    this.timer = setInterval(() => {
      this.poll(false).catch(() => undefined); // a failed poll is retried on the next tick
    }, pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Synchronous: the hot path of every authenticated request. */
  isRevoked(claims: Pick<AccessClaims, 'jti' | 'sub' | 'iat' | 'sid'>): boolean {
    if (this.jtis.has(claims.jti)) return true;
    if (claims.sid !== undefined && this.sessions.has(claims.sid)) return true;
    const user = this.users.get(claims.sub);
    return user !== undefined && claims.iat < user.notBeforeSec;
  }

  /** Denies one access token until it would have expired anyway. */
  async revokeToken(jti: string, expiresAtMs: number): Promise<void> {
    await this.record({ kind: 'jti', subject: jti, not_before: null, expires_at: expiresAtMs });
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

  private async record(row: Omit<RevocationRow, 'id' | 'created_at'>, db: Db = this.db): Promise<void> {
    const full: RevocationRow = { ...row, id: randomUUID(), created_at: this.clock.now() };
    await db.insertInto('revocations').values(full).execute();
    this.apply(full);
  }

  private apply(row: RevocationRow): void {
    if (row.kind === 'jti') this.jtis.set(row.subject, row.expires_at);
    else if (row.kind === 'session') this.sessions.set(row.subject, row.expires_at);
    else {
      const notBeforeSec = Math.floor((row.not_before ?? 0) / 1000);
      const prev = this.users.get(row.subject);
      if (!prev || prev.notBeforeSec < notBeforeSec) this.users.set(row.subject, { notBeforeSec, expiresAt: row.expires_at });
    }
    this.cursor = Math.max(this.cursor, row.created_at);
  }

  /** Reads revocations made by any instance; the first call loads everything in force. */
  async poll(initial: boolean): Promise<void> {
    const now = this.clock.now();
    let query = this.db.selectFrom('revocations').selectAll().where('expires_at', '>', now);
    if (!initial) query = query.where('created_at', '>=', this.cursor - POLL_OVERLAP_MS);
    for (const row of await query.execute()) this.apply(row);
    if (now - this.lastPrune >= PRUNE_EVERY_MS) await this.prune(now);
  }

  private async prune(now: number): Promise<void> {
    this.lastPrune = now;
    for (const map of [this.jtis, this.sessions]) for (const [key, exp] of map) if (exp <= now) map.delete(key);
    for (const [user, entry] of this.users) if (entry.expiresAt <= now) this.users.delete(user);
    await this.db.deleteFrom('revocations').where('expires_at', '<=', now).execute();
  }
}

/** Resolves once a token issued now would not be void under the user's stamp (< 1 s). */
export async function waitForStamp(stampMs: number, clock: Clock): Promise<void> {
  const wait = stampMs - clock.now();
  if (wait > 0 && wait <= 1000) await new Promise((r) => setTimeout(r, wait));
}
