/**
 * The checks that read DATABASE_URL: the signing keys (age, encryption at rest), the
 * database's clock, and where a SQLite file lives. The database is opened read-only and
 * nothing is migrated or written: SQLite through a read-only connection to a file that must
 * already exist (none is created), PostgreSQL inside READ ONLY transactions (per
 * transaction, not a session setting: it holds through a transaction-mode pooler and
 * leaves nothing behind on a pooled connection).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { Config } from '../config/load.ts';
import { maskUrl } from '../config/schema.ts';
import { isWrapped, KeyEncryptionKey, UnwrapError } from '../keys/wrap.ts';
import type { Clock } from '../lib/clock.ts';
import { postgresDialect, postgresPool } from '../storage/dialects/postgres.ts';
import { connectFailure } from '../storage/errors.ts';
import type { Database } from '../storage/tables.ts';
import { error, warning, type Finding } from './findings.ts';

const DAY_MS = 86_400_000;

interface ReadOnlyDb {
  readonly dialect: 'sqlite' | 'postgres';
  /** runs `fn` where nothing can be written */
  read<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const sqlitePath = (url: string): string => url.slice('sqlite:'.length);

/** null: nothing to read (a SQLite file not made yet, or an in-memory database, which is per process). */
function openReadOnly(config: Config): ReadOnlyDb | null {
  const url = config.databaseUrl;
  if (url.startsWith('sqlite:')) {
    const path = sqlitePath(url);
    if (path === ':memory:' || !existsSync(path)) return null;
    const database = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
    database.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
    return { dialect: 'sqlite', read: (fn) => fn(db), close: () => db.destroy() };
  }
  const pool = postgresPool({ url, poolMax: 1, statementTimeoutMs: config.database.statementTimeoutMs });
  const db = new Kysely<Database>({ dialect: postgresDialect(pool) });
  return { dialect: 'postgres', read: (fn) => db.transaction().setAccessMode('read only').execute(fn), close: () => db.destroy() };
}

interface StoredKey {
  readonly kid: string;
  readonly alg: string;
  readonly private_jwk: string;
  readonly created_at: number;
  readonly retired_at: number | null;
}

/**
 * A database never migrated has no signing_keys table: no keys yet, nothing to check. Asked
 * first rather than caught, so the doctor leaves no error line in the server's log.
 */
async function hasTable(store: ReadOnlyDb, name: string): Promise<boolean> {
  const query =
    store.dialect === 'postgres'
      ? sql<{ present: boolean | number }>`select to_regclass(${name}) is not null as present`
      : sql<{ present: boolean | number }>`select count(*) > 0 as present from sqlite_master where type = 'table' and name = ${name}`;
  const { rows } = await store.read((db) => query.execute(db));
  return Boolean(rows[0]?.present);
}

export interface DatabaseReport {
  readonly findings: Finding[];
  /** database clock minus this machine's (ms), and how far off that estimate may be; null on SQLite or when unread */
  readonly clock: { readonly offsetMs: number; readonly uncertaintyMs: number } | null;
}

export async function databaseChecks(config: Config, clock: Clock): Promise<DatabaseReport> {
  const findings: Finding[] = [...sqliteOnNetworkFilesystem(config, readMountInfo())];
  let store: ReadOnlyDb | null;
  try {
    store = openReadOnly(config);
  } catch (err) {
    return { findings: [...findings, unreadable(config, err)], clock: null };
  }
  if (store === null) return { findings, clock: null };
  try {
    const keys: StoredKey[] = (await hasTable(store, 'signing_keys'))
      ? await store.read((db) => db.selectFrom('signing_keys').select(['kid', 'alg', 'private_jwk', 'created_at', 'retired_at']).execute())
      : [];
    findings.push(...keyAge(config, keys, clock.now()), ...keysAtRest(config, keys));
    let dbClock: DatabaseReport['clock'] = null;
    if (store.dialect === 'postgres') {
      dbClock = await measureDatabaseClock(store, clock);
      const skew = skewFinding('this machine\'s clock and the database\'s', dbClock.offsetMs, dbClock.uncertaintyMs, config.jwt.leewaySec);
      if (skew) findings.push(skew);
    }
    return { findings, clock: dbClock };
  } catch (err) {
    return { findings: [...findings, unreadable(config, err)], clock: null };
  } finally {
    await store.close().catch(() => undefined);
  }
}

function unreadable(config: Config, err: unknown): Finding {
  const { reason } = connectFailure(config.databaseUrl, err);
  return error('database', `cannot read DATABASE_URL ${maskUrl(config.databaseUrl)}: ${reason}; the checks that read the database did not run`, 'check DATABASE_URL and that the database is up (bastion serve reports the same failure at start-up)');
}

/**
 * The active key's age against KEY_ROTATION_AGE. A signing key's cryptoperiod is a policy
 * choice (NIST SP 800-57 Part 1 §5.3): an old key is not broken, so this is a warning. A
 * rotation keeps every issued token valid (the old key verifies until they expire), so it
 * costs nothing to do. HS256 secrets live in the configuration, with no date to read.
 */
function keyAge(config: Config, keys: readonly StoredKey[], now: number): Finding[] {
  if (config.jwt.alg === 'HS256') return [];
  const limitDays = Math.round(config.keyRotationAgeMs / DAY_MS);
  return keys
    .filter((k) => k.alg === config.jwt.alg && k.retired_at === null && now - k.created_at > config.keyRotationAgeMs)
    .map((k) =>
      warning(
        'key-age',
        `the active ${k.alg} signing key ${k.kid} is ${Math.floor((now - k.created_at) / DAY_MS)} days old, older than KEY_ROTATION_AGE (${limitDays} days)`,
        'run bastion keys rotate (tokens already issued keep verifying until they expire), or raise KEY_ROTATION_AGE',
      ),
    );
}

/**
 * What the stored keys say about KEY_ENCRYPTION_KEY (README "Keys at rest"): encrypted keys
 * and no KEK, or a KEK that does not open them, stop `serve` at start-up (errors); keys
 * still plain under a KEK are encrypted by the next start (a warning until then). The KEK
 * and the keys stay in memory: a finding names a kid at most.
 */
function keysAtRest(config: Config, keys: readonly StoredKey[]): Finding[] {
  const kek = config.keyEncryptionKey === null ? null : KeyEncryptionKey.fromBase64(config.keyEncryptionKey);
  if (kek === null) {
    const used = config.jwt.alg === 'HS256' ? [] : keys.filter((k) => k.alg === config.jwt.alg);
    if (!used.some((k) => isWrapped(k.private_jwk))) return [];
    return [error('keys-at-rest', 'the signing keys in the database are encrypted, and KEY_ENCRYPTION_KEY is not set: the server will not start', 'set KEY_ENCRYPTION_KEY to the key they were encrypted with')];
  }
  const findings: Finding[] = [];
  const sealed = keys.filter((k) => isWrapped(k.private_jwk));
  const wrong = sealed.filter((k) => !opens(kek, k));
  if (wrong.length > 0) {
    findings.push(
      error(
        'keys-at-rest',
        `KEY_ENCRYPTION_KEY does not decrypt ${wrong.length} of the stored signing keys (kid ${wrong.map((k) => k.kid).join(', ')}): the server will not start`,
        'set the KEY_ENCRYPTION_KEY they were encrypted with, or move them to this one: KEY_ENCRYPTION_KEY_OLD=<old> bastion keys rewrap',
      ),
    );
  }
  const plain = keys.length - sealed.length;
  if (plain > 0) {
    findings.push(
      warning('keys-at-rest', `${plain} of the stored signing keys ${plain === 1 ? 'is' : 'are'} not encrypted yet although KEY_ENCRYPTION_KEY is set`, 'start the server once with KEY_ENCRYPTION_KEY (it encrypts them), or run bastion keys rewrap'),
    );
  }
  return findings;
}

function opens(kek: KeyEncryptionKey, key: StoredKey): boolean {
  try {
    kek.unwrap(key.private_jwk, key.kid);
    return true;
  } catch (err) {
    if (err instanceof UnwrapError) return false;
    throw err;
  }
}

/**
 * The database's clock against this machine's, NTP-style: the reading is taken halfway
 * through the round trip, so it is off by at most half of it; the quickest of three
 * round trips is kept. clock_timestamp(), not now(): now() is the transaction's start.
 */
async function measureDatabaseClock(store: ReadOnlyDb, clock: Clock): Promise<{ offsetMs: number; uncertaintyMs: number }> {
  let best: { offsetMs: number; uncertaintyMs: number } | null = null;
  for (let i = 0; i < 3; i += 1) {
    const sent = clock.now();
    const { rows } = await store.read((db) => sql<{ ms: number }>`select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms`.execute(db));
    const received = clock.now();
    const reading = { offsetMs: rows[0]!.ms - (sent + received) / 2, uncertaintyMs: (received - sent) / 2 };
    if (best === null || reading.uncertaintyMs < best.uncertaintyMs) best = reading;
  }
  return best!;
}

/**
 * Two clocks' difference, judged: Bastion compares times written by different machines
 * (a token's iat/exp from the instance that issued it, revocation stamps from the one
 * that revoked) at one-second resolution, and tolerates JWT_LEEWAY on exp/nbf. Beyond the
 * leeway, tokens of one are refused, or outlive their expiry, at another: an error. Over a
 * second, a logout-everywhere may spare a token issued just before it: a warning. SQLite
 * has no clock of its own (it is this machine's), so there only --url compares clocks.
 */
export function skewFinding(what: string, offsetMs: number, uncertaintyMs: number, leewaySec: number): Finding | null {
  const sure = Math.abs(offsetMs) - uncertaintyMs;
  const seconds = `${(Math.abs(offsetMs) / 1000).toFixed(1)} s`;
  const fix = 'keep the clocks in sync: run NTP (chrony or systemd-timesyncd) on every instance and on the database host';
  if (sure > Math.max(leewaySec * 1000, 1000)) {
    return error('clock-skew', `${what} differ by ${seconds}, more than JWT_LEEWAY (${leewaySec} s): tokens issued on one side are refused or outlive their expiry on the other`, fix);
  }
  if (sure > 1000) {
    return warning('clock-skew', `${what} differ by ${seconds}: revocations compare times across machines to the second, so a token issued just before a logout may survive it`, fix);
  }
  return null;
}

function readMountInfo(): string | null {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return null; // not Linux: the check does not apply
  }
}

/** Filesystems that several machines mount at once. */
const SHARED_FS = /^(nfs4?|cifs|smb3?|smbfs|ncpfs|afs|9p|ceph|glusterfs|lustre|gpfs|ocfs2|gfs2|fuse\.(sshfs|glusterfs|ceph|cephfs|s3fs|rclone|gcsfuse|juicefs|moosefs))$/;

/**
 * The filesystem type holding `path`, from /proc/self/mountinfo (proc(5)): the mount point
 * that is the longest prefix of the path. Mount points escape space, tab, newline and
 * backslash as octal (\040).
 */
export function filesystemOf(path: string, mountInfo: string): string | null {
  let best: { point: string; type: string } | null = null;
  for (const line of mountInfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const point = left.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const type = right.split(' ')[0];
    if (!point || !type) continue;
    const under = point === '/' || path === point || path.startsWith(`${point}/`);
    if (under && (best === null || point.length >= best.point.length)) best = { point, type };
  }
  return best?.type ?? null;
}

/**
 * Several instances on one SQLite file means several machines mounting it: SQLite's locks
 * are unreliable over network filesystems and WAL needs memory shared on one host
 * (sqlite.org/wal.html, "WAL does not work over a network filesystem"; sqlite.org/
 * howtocorrupt.html §2.1): the database gets corrupted. `mountInfo` is the text of
 * /proc/self/mountinfo (null: not Linux, nothing to tell).
 */
export function sqliteOnNetworkFilesystem(config: Config, mountInfo: string | null): Finding[] {
  if (!config.databaseUrl.startsWith('sqlite:') || mountInfo === null) return [];
  const path = sqlitePath(config.databaseUrl);
  if (path === ':memory:') return [];
  const dir = dirname(resolve(path));
  // the real directory when it exists (symlinks followed); else the path as written
  const type = filesystemOf(existsSync(dir) ? realpathSync(dir) : dir, mountInfo);
  if (type === null || !SHARED_FS.test(type)) return [];
  return [
    error(
      'sqlite-scale',
      `the SQLite database ${path} is on a network filesystem (${type}): instances on several machines sharing it corrupt it (SQLite locking and WAL need one host)`,
      'run every instance on PostgreSQL (bastion db copy --from sqlite:… --to postgres://…), or one instance with the file on a local disk',
    ),
  ];
}
