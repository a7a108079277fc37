import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { PostgresAdapter, PostgresDialect, type DialectAdapter } from 'kysely';

/** node-postgres, loaded on first use (CommonJS, so synchronously): a SQLite server never loads it. */
const require = createRequire(import.meta.url);
let driver: typeof pg | null = null;
export const pgDriver = (): typeof pg => (driver ??= require('pg') as typeof pg);

export interface PostgresOptions {
  readonly url: string;
  readonly poolMax: number;
  /** server-side statement_timeout; 0 turns it off */
  readonly statementTimeoutMs: number;
  /** told when an idle pooled connection fails (the server restarted): no crash, just a log line */
  readonly onIdleError?: (err: Error) => void;
}

/** Migrations take their own lock (a row lock, see storage/db.ts), not an advisory lock. */
class RowLockPostgresAdapter extends PostgresAdapter {
  override async acquireMigrationLock(): Promise<void> {}
  override async releaseMigrationLock(): Promise<void> {}
}

class BastionPostgresDialect extends PostgresDialect {
  override createAdapter(): DialectAdapter {
    return new RowLockPostgresAdapter();
  }
}

const INT8 = 20;
/**
 * Times and counters are bigint columns holding epoch milliseconds and small counts, far
 * below 2^53: they come back as numbers, not strings.
 */
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === INT8 ? (v: string) => Number(v) : pgDriver().types.getTypeParser(oid, format as 'text'),
};

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
const SSL_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl', 'uselibpqcompat'];

/**
 * libpq's sslmode, which node-postgres reads differently (its `require` verifies the
 * certificate): disable/allow/prefer connect in clear, require encrypts without verifying,
 * verify-ca checks the chain against sslrootcert, verify-full also checks the host name.
 */
export function connectionConfig(url: string, statementTimeoutMs: number): pg.ClientConfig {
  const parsed = new URL(url);
  const mode = parsed.searchParams.get('sslmode') ?? 'disable';
  const rootCert = parsed.searchParams.get('sslrootcert');
  const cert = parsed.searchParams.get('sslcert');
  const key = parsed.searchParams.get('sslkey');
  for (const p of SSL_PARAMS) parsed.searchParams.delete(p);
  let ssl: ConnectionOptions | false = false;
  if (mode === 'require') ssl = { rejectUnauthorized: false };
  else if (mode === 'verify-ca' || mode === 'verify-full') {
    ssl = { rejectUnauthorized: true, ...(rootCert ? { ca: readFileSync(rootCert, 'utf8') } : {}) };
    if (mode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
  }
  if (ssl && cert && key) Object.assign(ssl, { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') });
  return {
    connectionString: parsed.toString(),
    ssl,
    types,
    ...(statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {}),
    // a database that does not answer fails a request in seconds (503), not minutes
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    application_name: 'bastion',
  };
}

export function postgresPool(options: PostgresOptions): pg.Pool {
  const pool = new (pgDriver().Pool)({ ...connectionConfig(options.url, options.statementTimeoutMs), max: options.poolMax, idleTimeoutMillis: 30_000 });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would
  // end the process. The pool drops that client and connects afresh on the next query.
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}

export function postgresDialect(pool: pg.Pool): PostgresDialect {
  return new BastionPostgresDialect({ pool });
}
