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
import { prepared, type Arg } from '../storage/prepared.ts';

const PRUNE_EVERY_MS = 60_000;

/** +1 for `key`, or 1 in a new window when its window has run out (at or before `expired`). */
const count = prepared((db, arg: Arg<{ key: string; now: number; expired: number }>) =>
  db
    .insertInto('rate_limits')
    .values({ key: arg('key'), window_start: arg('now'), count: 1 })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        // a window that has run out starts again at this request
        count: sql<number>`case when rate_limits.window_start <= ${arg('expired')} then 1 else rate_limits.count + 1 end`,
        window_start: sql<number>`case when rate_limits.window_start <= ${arg('expired')} then ${arg('now')} else rate_limits.window_start end`,
      }),
    )
    .returning(['count', 'window_start']),
);

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
      count(db, { key: prefix + key, now, expired: now - timeWindow }).then(
        ({ rows: [row] }) => {
          prune(now, timeWindow);
          if (row) cb(null, { current: row.count, ttl: Math.max(0, row.window_start + timeWindow - now) });
          else cb(new Error('the flood counter returned no row'));
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
