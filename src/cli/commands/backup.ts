import { closeSync, existsSync, fsyncSync, linkSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { maskUrl } from '../../config/schema.ts';
import { dialectOf } from '../../storage/db.ts';
import { parseCommand, UsageError } from '../args.ts';

const USAGE = 'usage: bastion backup <file> [--force]';

/** Pages per backup step: all of them, so the copy is one read transaction (see below). */
const ALL_PAGES = 0x7fffffff;

/** A word for a POSIX shell: single-quoted unless it is plainly safe. */
const shellWord = (word: string): string => (/^[\w./:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`);

/**
 * The pg_dump line recommended for a PostgreSQL DATABASE_URL: custom format (compressed,
 * restored with pg_restore, table by table if need be), the URL as libpq takes it (sslmode
 * and sslrootcert included) but without its password, which goes in PGPASSWORD (shown
 * masked) or ~/.pgpass.
 */
export function pgDumpCommand(databaseUrl: string, file: string): string {
  const url = new URL(databaseUrl);
  const hadPassword = url.password !== '';
  url.password = '';
  const dump = `pg_dump --format=custom --file=${shellWord(file)} --dbname=${shellWord(url.toString())}`;
  return hadPassword ? `PGPASSWORD='***' ${dump}` : dump;
}

/**
 * `bastion backup <file>`: a consistent copy of the SQLite database, safe while servers
 * run on it. better-sqlite3's online backup API (sqlite3_backup_*) copies through a
 * connection of its own; taking every page in one step makes the copy one read
 * transaction, so under WAL it neither blocks the servers' writes nor restarts when they
 * write, and it includes what is still in the -wal file. The copy goes to a temporary file
 * beside the target (mode 0600: it holds password hashes and signing keys), is switched
 * out of WAL so it is one self-contained file, must pass `PRAGMA integrity_check`, and
 * only then takes the target's name; an existing target is kept unless --force.
 *
 * PostgreSQL: not done here. pg_dump is the tool (a consistent snapshot of a live
 * database, in the server's own format, matched to its version); this prints the command
 * and exits 2 (the usage exit: the job is pointed at the wrong tool, and running it again
 * will not help, unlike a failure, exit 1). No file is written, so a scheduled job fails.
 */
export async function backupCommand(argv: readonly string[]): Promise<void> {
  const { positionals, values, config } = parseCommand(argv, { force: { type: 'boolean' } });
  const [file, extra] = positionals;
  if (file === undefined || file === '' || extra !== undefined) throw new UsageError(USAGE);
  if (dialectOf(config.databaseUrl) === 'postgres') {
    throw new UsageError(`backup copies SQLite databases; for PostgreSQL (${maskUrl(config.databaseUrl)}) run: ${pgDumpCommand(config.databaseUrl, file)}`);
  }
  const source = config.databaseUrl.slice('sqlite:'.length);
  if (source === ':memory:') throw new Error('DATABASE_URL is sqlite::memory:, which keeps nothing to back up');
  if (!existsSync(source)) throw new Error(`no database at ${source} (DATABASE_URL)`);
  const target = resolve(file);
  if (target === resolve(source)) throw new UsageError(`the backup file is the database itself (${source})`);
  const dir = dirname(target);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`no directory ${dirname(file)} for the backup`);
  const force = values['force'] === true;
  if (existsSync(target) && !force) throw new Error(`${file} exists; --force replaces it`);

  const temp = join(dir, `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const removeTemp = () => {
    for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${temp}${suffix}`, { force: true });
  };
  try {
    // created empty (an empty file is an empty SQLite database) so its mode is ours, not the umask's
    closeSync(openSync(temp, 'wx', 0o600));
    const pages = await copy(source, temp);
    fsyncFile(temp);
    if (force) renameSync(temp, target);
    else publishNew(temp, target, file);
    fsyncFile(dir, true);
    console.log(`backup written to ${file} (${pages} pages, integrity ok)`);
  } finally {
    removeTemp();
  }
}

async function copy(source: string, temp: string): Promise<number> {
  let db: SqliteDatabase.Database;
  try {
    db = new SqliteDatabase(source, { fileMustExist: true });
  } catch (err) {
    throw new Error(`cannot open ${source}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    db.pragma('busy_timeout = 5000');
    await db.backup(temp, { progress: () => ALL_PAGES });
  } catch (err) {
    throw new Error(`cannot back up ${source}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    db.close();
  }
  const copy = new SqliteDatabase(temp, { fileMustExist: true });
  try {
    const check = copy.pragma('integrity_check') as Array<{ integrity_check: string }>;
    if (check.length !== 1 || check[0]?.integrity_check !== 'ok') {
      throw new Error(`the copy of ${source} fails integrity_check (${check[0]?.integrity_check ?? 'no answer'}${check.length > 1 ? ', …' : ''}); nothing written`);
    }
    // the copy carries the source's WAL mode: one self-contained file is what a backup should be
    copy.pragma('journal_mode = DELETE');
    return copy.pragma('page_count', { simple: true }) as number;
  } finally {
    copy.close();
  }
}

/** Gives the finished copy its name only if nothing has that name, even if one appeared meanwhile. */
function publishNew(temp: string, target: string, file: string): void {
  try {
    linkSync(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new Error(`${file} exists; --force replaces it`);
    // a file system without hard links
    if (existsSync(target)) throw new Error(`${file} exists; --force replaces it`);
    renameSync(temp, target);
  }
}

/** The copy reaches the disk before it takes the target's name; then the name does. */
function fsyncFile(path: string, bestEffort = false): void {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch (err) {
    // some file systems refuse fsync on a directory
    if (!bestEffort) throw err;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
