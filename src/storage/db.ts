import { Kysely, Migrator, sql } from 'kysely';
import { AppError } from '../errors/app-error.ts';
import { sqliteDialect } from './dialects/sqlite.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './tables.ts';

export type Db = Kysely<Database>;

export interface DbHandle {
  readonly db: Db;
  /** how many statements ran: lets tests prove the hot path does not query */
  readonly queries: () => number;
  close(): Promise<void>;
}

/** The dialect comes from the URL scheme, never guessed from the driver (STYLE.md §2, ba). */
export function openDb(url: string): DbHandle {
  if (!url.startsWith('sqlite:')) throw new TypeError(`unsupported DATABASE_URL scheme: ${url.split(':')[0]}`);
  let count = 0;
  const db = new Kysely<Database>({
    dialect: sqliteDialect(url.slice('sqlite:'.length)),
    log: (event) => {
      if (event.level === 'query') count += 1;
    },
  });
  return { db, queries: () => count, close: () => db.destroy() };
}

/** Applies pending migrations; a no-op when none are pending. Returns the names applied. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function ping(db: Db): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (cause) {
    throw new AppError('not_ready', undefined, { cause });
  }
}
