import { Kysely, Migrator, sql } from 'kysely';
import { AppError } from '../errors/app-error.ts';
import { postgresDialect, postgresPool } from './dialects/postgres.ts';
import { SqliteLockingPlugin, sqliteDialect } from './dialects/sqlite.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './tables.ts';

export type Db = Kysely<Database>;
export type DialectName = 'sqlite' | 'postgres';

export interface DbOptions {
  /** PostgreSQL pool size */
  readonly poolMax?: number;
  /** PostgreSQL statement_timeout, ms (0: none) */
  readonly statementTimeoutMs?: number;
  /** an idle pooled connection failed (PostgreSQL restarted); the pool recovers by itself */
  readonly onIdleError?: (err: Error) => void;
}

export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

export interface DbHandle {
  readonly db: Db;
  readonly dialect: DialectName;
  readonly url: string;
  /** how many statements ran: lets tests prove the hot path does not query */
  readonly queries: () => number;
  /** PostgreSQL connection pool figures; null on SQLite */
  readonly pool: () => PoolStats | null;
  close(): Promise<void>;
}

export const dialectOf = (url: string): DialectName | null =>
  url.startsWith('sqlite:') ? 'sqlite' : /^postgres(ql)?:\/\//.test(url) ? 'postgres' : null;

/** The dialect comes from the URL scheme, never guessed from the driver (STYLE.md §2, ba). */
export function openDb(url: string, options: DbOptions = {}): DbHandle {
  const dialect = dialectOf(url);
  if (!dialect) throw new TypeError(`unsupported DATABASE_URL scheme: ${url.split(':')[0]}`);
  let count = 0;
  const log = (event: { level: string }) => {
    if (event.level === 'query') count += 1;
  };
  if (dialect === 'sqlite') {
    const db = new Kysely<Database>({ dialect: sqliteDialect(url.slice('sqlite:'.length)), plugins: [new SqliteLockingPlugin()], log });
    return { db, dialect, url, queries: () => count, pool: () => null, close: () => db.destroy() };
  }
  const pool = postgresPool({
    url,
    poolMax: options.poolMax ?? 10,
    statementTimeoutMs: options.statementTimeoutMs ?? 0,
    ...(options.onIdleError ? { onIdleError: options.onIdleError } : {}),
  });
  const db = new Kysely<Database>({ dialect: postgresDialect(pool), log });
  return {
    db,
    dialect,
    url,
    queries: () => count,
    pool: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => db.destroy(),
  };
}

/**
 * Applies pending migrations exactly once, however many instances start together: each
 * takes a lock first, then reads what is applied. The lock is a row lock (PostgreSQL,
 * `SELECT … FOR UPDATE`) or the database write lock (SQLite, BEGIN IMMEDIATE), held by the
 * one transaction that runs the migrations: no advisory locks and no session state, so it
 * holds through a transaction-mode pooler and on PostgreSQL-compatible distributed engines.
 * Returns the names applied.
 */
export async function migrate(store: DbHandle): Promise<string[]> {
  await ensureLockRow(store.db);
  return store.db.connection().execute(async (conn) => {
    await sql.raw(store.dialect === 'sqlite' ? 'begin immediate' : 'begin').execute(conn);
    try {
      if (store.dialect === 'postgres') await sql`select id from bastion_migration_lock where id = 1 for update`.execute(conn);
      const migrator = new Migrator({ db: conn, provider: migrationProvider, disableTransactions: true });
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error;
      await sql`commit`.execute(conn);
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
}

async function ensureLockRow(db: Db): Promise<void> {
  try {
    await sql`create table if not exists bastion_migration_lock (id integer primary key)`.execute(db);
  } catch {
    // PostgreSQL: two `create table if not exists` at once can still collide; the loser
    // finds the table made by the winner, and the insert below fails if it is really missing
  }
  await sql`insert into bastion_migration_lock (id) values (1) on conflict (id) do nothing`.execute(db);
}

export async function ping(db: Db): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (cause) {
    throw new AppError('not_ready', undefined, { cause });
  }
}

/** Runs `fn` in a transaction unless `db` already is one (its caller's transaction then holds it). */
export function inTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}
