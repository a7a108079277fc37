/**
 * Login throttling in Bastion's own database, so it holds across restarts and instances
 * (OWASP Authentication Cheat Sheet, "Account Lockout"; ASVS 2.2.1). Two keys per attempt:
 * the account (`acct:` + the identifier as typed, normalised, whether or not it exists, so
 * a lockout reveals nothing) and the client IP. After N failures a key is locked; each
 * further lockout doubles, up to a cap. A success clears the account key.
 */
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import { prepared, type Arg } from '../storage/prepared.ts';

/** A lockout streak is forgotten after this long without failures. */
const STREAK_MEMORY_MS = 24 * 3_600_000;

/** The lock of each of `n` keys (one prepared query per count of keys: callers pass one or two). */
const locks = new Map<number, ReturnType<typeof lockQuery>>();
const lockQuery = (n: number) =>
  prepared((db, arg: Arg<Record<string, string>>) =>
    db
      .selectFrom('login_attempts')
      .select('locked_until')
      .where('key', 'in', Array.from({ length: n }, (_, i) => arg(String(i)))),
  );
const locksOf = (n: number) => locks.get(n) ?? locks.set(n, lockQuery(n)).get(n)!;
const forget = prepared((db, arg: Arg<{ key: string }>) => db.deleteFrom('login_attempts').where('key', '=', arg('key')));

export const accountKey = (identifier: string): string => `acct:${identifier.normalize('NFKC').trim().toLowerCase()}`;
export const ipKey = (ip: string): string => `ip:${ip}`;

export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly config: Config['throttle'],
  ) {}

  /** Throws 429 too_many_attempts with Retry-After while either key is locked. */
  async check(keys: readonly string[]): Promise<void> {
    const now = this.clock.now();
    const { rows } = await locksOf(keys.length)(this.db, Object.fromEntries(keys.map((key, i) => [String(i), key])));
    const until = Math.max(0, ...rows.map((r) => r.locked_until ?? 0));
    if (until > now) {
      const retryAfter = Math.ceil((until - now) / 1000);
      throw new AppError('too_many_attempts', `Too many failed attempts; try again in ${retryAfter} s`, {
        headers: { 'retry-after': String(retryAfter) },
        details: { retry_after: retryAfter },
      });
    }
  }

  /** Counts a failure against each key; returns true when this failure locked the account key. */
  async fail(account: string, ip: string): Promise<boolean> {
    const lockedAccount = await this.bump(account, this.config.maxAccountFailures);
    await this.bump(ip, this.config.maxIpFailures);
    return lockedAccount;
  }

  /** Counts a failure against the client IP alone: a passkey login names no account to count against. */
  async failIp(ip: string): Promise<boolean> {
    return this.bump(ip, this.config.maxIpFailures);
  }

  async succeed(account: string): Promise<void> {
    await forget(this.db, { key: account });
  }

  private async bump(key: string, max: number): Promise<boolean> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (tx) => {
      // Make sure the row exists, then lock it: failures counted at once on several
      // instances queue here instead of overwriting each other's count.
      await tx
        .insertInto('login_attempts')
        .values({ key, failures: 0, window_start: now, locked_until: null, lockouts: 0, updated_at: now })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      const row = await tx.selectFrom('login_attempts').selectAll().where('key', '=', key).forUpdate().executeTakeFirstOrThrow();
      const quiet = now - row.updated_at > STREAK_MEMORY_MS;
      const lockouts = quiet ? 0 : row.lockouts;
      // failures count within one lockout-max window; older ones are forgotten
      const failures = quiet || now - row.window_start > this.config.lockoutMaxMs ? 1 : row.failures + 1;
      const windowStart = failures === 1 ? now : row.window_start;
      const lock = failures >= max;
      const lockedUntil = lock ? now + Math.min(this.config.lockoutMs * 2 ** lockouts, this.config.lockoutMaxMs) : row.locked_until;
      const values = {
        failures: lock ? 0 : failures,
        window_start: windowStart,
        locked_until: lockedUntil,
        lockouts: lock ? lockouts + 1 : lockouts,
        updated_at: now,
      };
      await tx.updateTable('login_attempts').set(values).where('key', '=', key).execute();
      return lock;
    });
  }
}
