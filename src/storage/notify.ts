/**
 * PostgreSQL LISTEN/NOTIFY as a wake-up call, never as the record: the feed table is the
 * truth and polling alone is correct; a notification only makes the next read happen now.
 * So nothing here may fail a request: poolers in transaction mode and distributed engines
 * have no LISTEN, and a lost notification costs at most one poll interval.
 */
import type pg from 'pg';
import { sql } from 'kysely';
import { connectionConfig, pgDriver } from './dialects/postgres.ts';
import type { Db } from './db.ts';

export const FEED_CHANNEL = 'bastion_feed';

/** Queues a notification that is delivered when `db`'s transaction commits. */
export async function notifyFeed(db: Db, seq: number): Promise<void> {
  await sql`select pg_notify(${FEED_CHANNEL}, ${String(seq)})`.execute(db);
}

export interface Listener {
  close(): Promise<void>;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/**
 * Keeps one dedicated connection LISTENing on the feed channel and calls `wake` on every
 * notification, and once after each (re)connect to catch up on what was missed while away.
 */
export function listenFeed(url: string, wake: () => void, onError: (err: Error) => void): Listener {
  let client: pg.Client | null = null;
  let closed = false;
  let delay = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | null = null;

  const retry = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  };

  const connect = async () => {
    const c = new (pgDriver().Client)(connectionConfig(url, 0));
    client = c;
    c.on('error', (err) => {
      onError(err);
      void c.end().catch(() => undefined);
    });
    c.on('end', () => {
      if (client === c) client = null;
      retry();
    });
    c.on('notification', () => wake());
    try {
      await c.connect();
      await c.query(`listen ${FEED_CHANNEL}`);
      delay = RETRY_MIN_MS;
      wake();
    } catch (err) {
      onError(err as Error);
      if (client === c) client = null;
      await c.end().catch(() => undefined);
      retry();
    }
  };

  void connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}
