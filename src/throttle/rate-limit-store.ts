/**
 * @fastify/rate-limit's store, kept in Bastion's database so the per-IP flood limit on
 * auth routes holds across instances: N instances allow N×limit with an in-memory store.
 * One fixed window per key, counted with a single upsert (atomic on both dialects, no
 * read-then-write race). Every auth route shares one counter per client IP: a flood is
 * a flood whichever credential endpoint it hits.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { sql } from 'kysely';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';

const PRUNE_EVERY_MS = 60_000;

/** The class @fastify/rate-limit instantiates (`new Store(options)`), bound to a database and one window. */
export function databaseRateLimitStore(db: Db, clock: Clock, timeWindow: number, prefix = 'auth:'): FastifyRateLimitStoreCtor {
  let lastPrune = 0;
  const prune = (now: number, window: number) => {
    if (now - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = now;
    void db.deleteFrom('rate_limits').where('window_start', '<', now - window).execute().catch(() => undefined);
  };

  return class DatabaseRateLimitStore implements FastifyRateLimitStore {
    incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void): void {
      const now = clock.now();
      const expired = now - timeWindow;
      db.insertInto('rate_limits')
        .values({ key: prefix + key, window_start: now, count: 1 })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({
            // a window that has run out starts again at this request
            count: sql<number>`case when rate_limits.window_start <= ${expired} then 1 else rate_limits.count + 1 end`,
            window_start: sql<number>`case when rate_limits.window_start <= ${expired} then ${now} else rate_limits.window_start end`,
          }),
        )
        .returning(['count', 'window_start'])
        .executeTakeFirstOrThrow()
        .then(
          (row) => {
            prune(now, timeWindow);
            cb(null, { current: row.count, ttl: Math.max(0, row.window_start + timeWindow - now) });
          },
          (err: Error) => cb(err),
        );
    }

    /** Every route shares the one counter per IP. */
    child(): FastifyRateLimitStore {
      return this;
    }
  };
}
