import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { maskUrl, SETTINGS } from '../../config/schema.ts';
import { copyDatabase } from '../../storage/copy.ts';
import { migrate, openDb, type DbHandle } from '../../storage/db.ts';
import { connectFailure } from '../../storage/errors.ts';
import { UsageError } from '../args.ts';

const USAGE = 'usage: bastion db copy --from <url> --to <url> [--force]';

/**
 * `db copy`: every table of one database into another (SQLite to PostgreSQL, or back),
 * in one transaction on the target; refuses a non-empty target unless --force.
 */
export async function dbCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'copy') throw new UsageError(USAGE);
  let values: { from?: string | undefined; to?: string | undefined; force?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: { from: { type: 'string' }, to: { type: 'string' }, force: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message.split('\n')[0] : String(err)}; ${USAGE}`);
  }
  if (positionals.length > 0) throw new UsageError(`db copy takes no arguments (got "${positionals[0]}"); ${USAGE}`);
  if (values.from === undefined) throw new UsageError(`--from is required; ${USAGE}`);
  if (values.to === undefined) throw new UsageError(`--to is required; ${USAGE}`);
  const fromUrl = databaseUrl('--from', values.from);
  const toUrl = databaseUrl('--to', values.to);
  if (sameDatabase(fromUrl, toUrl)) throw new UsageError(`--from and --to name the same database (${maskUrl(fromUrl)})`);
  const fromPath = sqlitePath(fromUrl);
  if (fromPath !== null && !existsSync(fromPath)) throw new Error(`no database at ${fromPath} (--from ${maskUrl(fromUrl)})`);

  const from = await open(fromUrl);
  try {
    const to = await open(toUrl);
    try {
      const copied = await copyDatabase(from, to, { force: values.force === true });
      const total = copied.reduce((sum, t) => sum + t.rows, 0);
      const nameWidth = Math.max('total'.length, ...copied.map((t) => t.table.length));
      const countWidth = String(total).length;
      for (const { table, rows } of copied) console.log(`${table.padEnd(nameWidth)}  ${String(rows).padStart(countWidth)}`);
      console.log(`${'total'.padEnd(nameWidth)}  ${total}`);
      console.log(`copied ${total} rows from ${maskUrl(fromUrl)} to ${maskUrl(toUrl)}`);
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}

/** The same parser as DATABASE_URL; a wrong URL is one line naming the flag (exit 1). */
function databaseUrl(flag: string, raw: string): string {
  const parsed = SETTINGS.DATABASE_URL.parse(raw);
  if (typeof parsed !== 'string') throw new Error(`${flag} ${parsed.invalid}`);
  if (sqlitePath(parsed) === ':memory:') throw new Error(`${flag} must name a database file, not sqlite::memory:`);
  return parsed;
}

const sqlitePath = (url: string): string | null => (url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : null);

/** One file by two spellings, or one PostgreSQL database however its URL is written. */
function sameDatabase(a: string, b: string): boolean {
  const pa = sqlitePath(a);
  const pb = sqlitePath(b);
  if (pa !== null || pb !== null) return pa !== null && pb !== null && resolve(pa) === resolve(pb);
  const key = (url: string) => {
    const u = new URL(url);
    return `${u.hostname.toLowerCase()}:${u.port || '5432'}${decodeURIComponent(u.pathname) || '/'}`;
  };
  return key(a) === key(b);
}

/**
 * Opens a database and brings it to the latest schema, so a connection failure stops
 * here as one line naming that URL (password masked), not halfway through the copy.
 */
async function open(url: string): Promise<DbHandle> {
  let store: DbHandle;
  try {
    store = openDb(url, { poolMax: 2 });
  } catch (err) {
    throw new Error(`cannot open ${maskUrl(url)}: ${connectFailure(url, err).reason}`);
  }
  try {
    await migrate(store);
    return store;
  } catch (err) {
    await store.close().catch(() => undefined);
    const { refused, reason } = connectFailure(url, err);
    throw new Error(`${refused ? 'cannot reach' : 'cannot open'} ${maskUrl(url)}: ${reason}`);
  }
}
