/**
 * The PostgreSQL dialect as an operator meets it (issue #8, part 1): real server processes
 * on the shared test server (BASTION_TEST_PG_URL, TLS on, its CA in BASTION_TEST_PG_CA),
 * concurrent start-up migrating once, both URL schemes, libpq's sslmode, start-up failures
 * as one masked line, int8 as numbers, pool size and statement timeout, and a private
 * server stopped and restarted under running instances (/readyz 503, then 200 by itself).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp, openStore } from '../../src/app.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig, type Config } from '../../src/config/load.ts';
import { toAppError } from '../../src/errors/http.ts';
import { migrate, openDb } from '../../src/storage/db.ts';
import { isDatabaseUnavailable } from '../../src/storage/errors.ts';
import { migrationProvider } from '../../src/storage/migrations/index.ts';
import { FAST_ARGON2, tempDir } from '../helpers/app.ts';
import { createPgDatabase, pgAdminUrl } from '../helpers/db.ts';
import { freePort, psql, startPostgres, type PgServer } from '../helpers/postgres.ts';
import { spawnCli, startServer, type RunningServer } from '../helpers/server.ts';
import { request, type Res } from '../helpers/http.ts';

const PASSWORD = 'correct horse battery';

function caFile(): string {
  const ca = process.env['BASTION_TEST_PG_CA'];
  if (!ca) throw new Error('BASTION_TEST_PG_CA is not set: run PostgreSQL tests through `npm test`');
  return ca;
}

const dbName = (url: string): string => new URL(url).pathname.slice(1);

/** `url` with query parameters added (sslmode, sslrootcert). */
function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** `request` with the options these tests pass by name. */
const call = (base: string, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<Res> =>
  request(base, method, path, options.body, options.token);

const signup = (base: string, username: string) => call(base, 'POST', '/api/auth/signup', { body: { username, password: PASSWORD } });

async function login(base: string, username: string): Promise<{ access_token: string; refresh_token: string }> {
  const r = await call(base, 'POST', '/api/auth/login', { body: { username, password: PASSWORD } });
  assert.equal(r.status, 200, `login failed: ${r.text}`);
  return r.json as { access_token: string; refresh_token: string };
}

const me = (base: string, token: string) => call(base, 'GET', '/api/auth/me', { token });

/** Polls `probe` until it returns true; false if `ms` passed first. */
async function within(ms: number, probe: () => Promise<boolean>, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `bastion serve` that is expected to fail start-up: its exit code and output (killed after 30 s). */
async function serveFails(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(['serve'], { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env });
  child.stdin!.end();
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const lines = (text: string) => text.split(/\r?\n/).filter((l) => l !== '');

/** The bastion connections to one database on the shared server, and whether each uses TLS. */
function bastionSsl(database: string): string[] {
  return lines(
    psql(
      pgAdminUrl(),
      `select ssl from pg_stat_ssl join pg_stat_activity using (pid) where application_name = 'bastion' and datname = '${database}'`,
    ),
  );
}

/**
 * Bastion in this process (buildApp, what `serve` runs before it listens): the checks that
 * need no process of their own run here, which keeps the file fast on a busy machine.
 */
function configFor(databaseUrl: string, dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', OUTBOX_DIR: join(dir, 'outbox'), ...FAST_ARGON2, ...env });
}

async function inProcess(databaseUrl: string, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; close(): Promise<void> }> {
  const { dir, remove } = tempDir();
  try {
    const app = await buildApp(configFor(databaseUrl, dir, env));
    return {
      app,
      close: async () => {
        await app.close();
        remove();
      },
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** What start-up throws for this DATABASE_URL (openStore is the first thing `serve` does). */
async function startupError(databaseUrl: string): Promise<unknown> {
  const { dir, remove } = tempDir();
  try {
    const { store } = await openStore(configFor(databaseUrl, dir));
    await store.close();
    return assert.fail(`start-up succeeded on ${databaseUrl}`);
  } catch (err) {
    return err;
  } finally {
    remove();
  }
}

/**
 * The one line `bastion serve` prints for this error (cli/main.ts prints a ConfigError's
 * message as it is, and exits 1): it must name DATABASE_URL, mask the password, be one line.
 */
function assertOneMaskedLine(err: unknown): void {
  assert.ok(err instanceof ConfigError, `a ConfigError, got: ${String(err)}`);
  assert.equal(err.variable, 'DATABASE_URL');
  assert.match(err.message, /^config: DATABASE_URL /);
  assert.doesNotMatch(err.message, /\n/, 'one line');
  assert.doesNotMatch(err.message, /hunter2/, 'the password is masked');
}

async function stopAll(servers: RunningServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
}

describe('start-up on PostgreSQL', () => {
  test('three instances started at once on an empty database migrate exactly once and share one key', async () => {
    const url = createPgDatabase();
    const servers = await Promise.all([0, 1, 2].map(() => startServer({ DATABASE_URL: url })));
    try {
      const expected = Object.keys(await migrationProvider.getMigrations()).sort();
      const applied = lines(psql(url, 'select name from kysely_migration order by name'));
      assert.deepEqual(applied, expected, 'each migration listed exactly once');
      assert.equal(psql(url, 'select count(*) from signing_keys where retired_at is null').trim(), '1', 'exactly one active signing key');
      // without sslmode the connections are in clear (so the TLS checks below can tell the difference)
      const ssl = bastionSsl(dbName(url));
      assert.ok(ssl.length >= 3, `each instance has connections open: ${ssl.length}`);
      assert.deepEqual(ssl, ssl.map(() => 'f'));

      const [a, b, c] = servers.map((s) => s.url) as [string, string, string];
      assert.equal((await signup(a, 'multi')).status, 201);
      const { access_token } = await login(b, 'multi');
      for (const base of [a, b, c]) assert.equal((await me(base, access_token)).status, 200, `token from B verifies on ${base}`);
    } finally {
      await stopAll(servers);
    }
  });

  test('three stores migrating at the same instant: one applies every migration, the others none', async () => {
    const url = createPgDatabase();
    const { dir, remove } = tempDir();
    const config = configFor(url, dir);
    const opened = await Promise.all([0, 1, 2].map(() => openStore(config)));
    try {
      const expected = Object.keys(await migrationProvider.getMigrations()).sort();
      const applied = opened.map((o) => [...o.applied].sort());
      assert.deepEqual(
        applied.filter((a) => a.length > 0),
        [expected],
        `what each store applied: ${JSON.stringify(applied)}`,
      );
      assert.deepEqual(lines(psql(url, 'select name from kysely_migration order by name')), expected);
    } finally {
      await Promise.all(opened.map((o) => o.store.close()));
      remove();
    }
  });

  test('postgresql:// works as well as postgres://', async () => {
    const url = createPgDatabase().replace(/^postgres:\/\//, 'postgresql://');
    assert.match(url, /^postgresql:\/\//);
    const { app, close } = await inProcess(url);
    try {
      assert.equal(app.services.store.dialect, 'postgres');
      assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username: 'scheme', password: PASSWORD } })).statusCode, 201);
      assert.equal((await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'scheme', password: PASSWORD } })).statusCode, 200);
    } finally {
      await close();
    }
  });
});

describe('TLS to the database (sslmode)', { concurrency: true }, () => {
  test('verify-full with the server’s CA starts, serves, and its connections use TLS', async () => {
    const plain = createPgDatabase();
    const server = await startServer({ DATABASE_URL: withParams(plain, { sslmode: 'verify-full', sslrootcert: caFile() }) });
    try {
      assert.equal((await call(server.url, 'GET', '/readyz')).status, 200);
      assert.equal((await signup(server.url, 'tls')).status, 201);
      await login(server.url, 'tls');
      const ssl = bastionSsl(dbName(plain));
      assert.ok(ssl.length > 0, 'bastion has connections open');
      assert.deepEqual(ssl, ssl.map(() => 't'), 'every bastion connection is TLS');
    } finally {
      await server.stop();
    }
  });

  test('require starts and encrypts (without verifying the certificate)', async () => {
    const plain = createPgDatabase();
    const { app, close } = await inProcess(withParams(plain, { sslmode: 'require' }));
    try {
      assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
      const ssl = bastionSsl(dbName(plain));
      assert.ok(ssl.length > 0, 'bastion has connections open');
      assert.deepEqual(ssl, ssl.map(() => 't'), 'every bastion connection is TLS');
    } finally {
      await close();
    }
  });

  test('verify-full against a CA that did not sign the server’s certificate stops start-up with one line', async () => {
    const { dir, remove } = tempDir('bastion-wrong-ca-');
    try {
      const wrongCa = join(dir, 'ca.pem');
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=not-the-test-ca', '-keyout', join(dir, 'ca.key'), '-out', wrongCa],
        { stdio: 'ignore' },
      );
      const r = await serveFails({ DATABASE_URL: withParams(createPgDatabase(), { sslmode: 'verify-full', sslrootcert: wrongCa }) });
      assert.equal(r.code, 1, `exit code\nstderr: ${r.stderr}`);
      assert.equal(lines(r.stderr).length, 1, `one line on stderr, got:\n${r.stderr}`);
      assert.match(r.stderr, /^config: DATABASE_URL /, `the line names DATABASE_URL, got:\n${r.stderr}`);
    } finally {
      remove();
    }
  });
});

describe('a wrong or unreachable DATABASE_URL stops start-up with one line naming it', { concurrency: true }, () => {
  test('nothing listens on the port: `bastion serve` exits 1 with one masked line on stderr', async () => {
    const port = await freePort();
    const r = await serveFails({ DATABASE_URL: `postgres://bastion:hunter2@127.0.0.1:${port}/x` });
    assert.equal(r.code, 1, `exit code\nstderr: ${r.stderr}`);
    assert.equal(lines(r.stderr).length, 1, `one line on stderr, got:\n${r.stderr}`);
    assert.match(r.stderr, /^config: DATABASE_URL /);
    assert.match(r.stderr, /bastion:\*\*\*@127\.0\.0\.1/, 'the URL is shown with its password masked');
    assert.doesNotMatch(r.stderr, /hunter2/);
  });

  test('the database does not exist', async () => {
    const admin = new URL(pgAdminUrl());
    admin.password = 'hunter2';
    admin.pathname = '/no_such_database_here';
    const err = await startupError(admin.toString());
    assertOneMaskedLine(err);
    assert.match((err as Error).message, /no_such_database_here/);
  });

  test('the role does not exist', async () => {
    const admin = new URL(pgAdminUrl());
    admin.username = 'no_such_role';
    admin.password = 'hunter2';
    assertOneMaskedLine(await startupError(admin.toString()));
  });

  test('sslrootcert names a file that does not exist', async () => {
    const url = withParams(createPgDatabase().replace('postgres@', 'postgres:hunter2@'), { sslmode: 'verify-full', sslrootcert: '/nonexistent/ca.pem' });
    assertOneMaskedLine(await startupError(url));
  });
});

describe('the pg dialect', () => {
  test('int8 columns come back as numbers, count(*) too', async () => {
    const store = openDb(createPgDatabase());
    try {
      await migrate(store);
      const created = Date.UTC(2030, 0, 2, 3, 4, 5, 678); // far past 2^31
      await store.db
        .insertInto('users')
        .values({ id: 'u1', username: 'Int8', username_key: 'int8', password_hash: 'x', tokens_valid_after: 0, created_at: created, updated_at: created })
        .execute();
      const row = await store.db.selectFrom('users').select(['created_at', 'tokens_valid_after']).where('id', '=', 'u1').executeTakeFirstOrThrow();
      assert.equal(typeof row.created_at, 'number');
      assert.equal(row.created_at, created);
      assert.equal(typeof row.tokens_valid_after, 'number');
      const { n } = await store.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      assert.equal(typeof n, 'number');
      assert.equal(n, 1);
      const raw = await sql<{ n: unknown }>`select count(*) as n from users`.execute(store.db);
      assert.equal(raw.rows[0]?.n, 1);
    } finally {
      await store.close();
    }
  });

  test('a statement past statementTimeoutMs fails with 57014, which answers 503 not_ready', async () => {
    const store = openDb(createPgDatabase(), { statementTimeoutMs: 200 });
    try {
      await sql`select pg_sleep(0.02)`.execute(store.db); // within the limit
      const err = await sql`select pg_sleep(2)`.execute(store.db).then(
        () => assert.fail('the statement should have been cancelled'),
        (e: unknown) => e,
      );
      assert.equal((err as { code?: unknown }).code, '57014', `SQLSTATE of ${String(err)}`);
      assert.ok(isDatabaseUnavailable(err), 'classified as the database being unavailable');
      const app = toAppError(err);
      assert.equal(app.code, 'not_ready');
      assert.equal(app.status, 503);
      // the pool is fine afterwards
      assert.equal((await sql<{ one: number }>`select 1 as one`.execute(store.db)).rows[0]?.one, 1);
    } finally {
      await store.close();
    }
  });

  test('DATABASE_STATEMENT_TIMEOUT reaches every pooled connection', async () => {
    const { dir, remove } = tempDir();
    const config = configFor(createPgDatabase(), dir, { DATABASE_STATEMENT_TIMEOUT: '250ms' });
    const { store } = await openStore(config);
    try {
      const settings = await Promise.all(
        [0, 1, 2].map(() => sql<{ statement_timeout: string }>`select current_setting('statement_timeout') as statement_timeout, pg_sleep(0.05)`.execute(store.db)),
      );
      assert.deepEqual(
        settings.map((s) => s.rows[0]?.statement_timeout),
        ['250ms', '250ms', '250ms'],
      );
    } finally {
      await store.close();
      remove();
    }
  });

  test('DATABASE_POOL_MAX=2: never more than 2 pool connections (+1 LISTEN) under 20 concurrent requests', async () => {
    const url = createPgDatabase();
    const database = dbName(url);
    const { app, close } = await inProcess(url, { DATABASE_POOL_MAX: '2' });
    const watcher = new pg.Client({ connectionString: pgAdminUrl() });
    await watcher.connect();
    try {
      assert.equal((await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username: 'pool', password: PASSWORD } })).statusCode, 201);
      let maxPool = 0;
      let maxListen = 0;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          const { rows } = await watcher.query<{ listen: number; other: number }>(
            `select count(*) filter (where query ilike 'listen %')::int as listen, count(*) filter (where query not ilike 'listen %')::int as other
               from pg_stat_activity where application_name = 'bastion' and datname = $1`,
            [database],
          );
          maxListen = Math.max(maxListen, rows[0]!.listen);
          maxPool = Math.max(maxPool, rows[0]!.other);
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 === 0
            ? app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'pool', password: PASSWORD } })
            : app.inject({ url: '/readyz' }),
        ),
      );
      watching = false;
      await watch;
      assert.deepEqual(
        replies.map((r) => r.statusCode),
        replies.map(() => 200),
        'a small pool queues requests, it does not fail them',
      );
      assert.ok(maxPool >= 1, 'the watcher saw the pool');
      assert.ok(maxPool <= 2, `pool connections: ${maxPool}`);
      assert.ok(maxListen <= 1, `LISTEN connections: ${maxListen}`);
      const stats = app.services.store.pool();
      assert.ok(stats !== null && stats.total <= 2, `the pool's own count: ${JSON.stringify(stats)}`);
    } finally {
      await watcher.end();
      await close();
    }
  });
});

describe('PostgreSQL stopped and restarted under running instances', () => {
  let server: PgServer;
  before(async () => {
    server = await startPostgres();
    psql(server.url(), 'create database bastion');
  });
  after(() => server?.stop());

  test('/readyz is 503 while it is down and 200 again by itself; sessions, logins and revocations carry on', async () => {
    const url = server.url('bastion');
    // A polls the revocation feed and LISTENs; B only LISTENs (its poll is a minute), so B
    // seeing a revocation within seconds proves its LISTEN connection came back by itself
    const [a, b] = await Promise.all([startServer({ DATABASE_URL: url }), startServer({ DATABASE_URL: url, REVOCATION_POLL: '60s' })]);
    try {
      assert.equal((await signup(a.url, 'restart')).status, 201);
      const first = await login(a.url, 'restart');
      assert.equal((await me(b.url, first.access_token)).status, 200);

      server.halt();
      for (const s of [a, b]) {
        const ready = await call(s.url, 'GET', '/readyz');
        assert.equal(ready.status, 503, ready.text);
        assert.deepEqual(Object.keys(ready.json as object).sort(), ['code', 'message']);
        assert.equal((ready.json as { code: string }).code, 'not_ready');
      }
      const refused = await call(a.url, 'POST', '/api/auth/login', { body: { username: 'restart', password: PASSWORD } });
      assert.equal(refused.status, 503, refused.text);
      assert.equal((refused.json as { code: string }).code, 'not_ready');
      assert.deepEqual(Object.keys(refused.json as object).sort(), ['code', 'message'], 'the one error shape');
      assert.doesNotMatch(refused.text, /\bat .*\.ts:\d+|stack/i, 'no stack trace');
      const whoami = await me(a.url, first.access_token);
      assert.equal(whoami.status, 503, whoami.text);
      for (const s of [a, b]) assert.equal((await call(s.url, 'GET', '/healthz')).status, 200, 'the process is alive');

      server.resume();
      for (const s of [a, b]) {
        assert.ok(await within(5_000, async () => (await call(s.url, 'GET', '/readyz')).status === 200, 100), `${s.url}/readyz is 200 again\n${s.output()}`);
      }
      for (const s of [a, b]) assert.equal((await me(s.url, first.access_token)).status, 200, 'the old access token still works');

      // a logout on B after the restart: A learns of it through the feed
      const later = await login(a.url, 'restart');
      assert.equal((await call(b.url, 'POST', '/api/auth/logout', { token: later.access_token })).status, 204);
      assert.ok(await within(1_000, async () => (await me(a.url, later.access_token)).status === 401), 'A refuses the token B logged out');

      // a logout on A: B, which does not poll, learns of it only through its LISTEN connection
      assert.equal((await call(a.url, 'POST', '/api/auth/logout', { token: first.access_token })).status, 204);
      assert.equal((await me(a.url, first.access_token)).status, 401);
      assert.ok(await within(20_000, async () => (await me(b.url, first.access_token)).status === 401, 100), 'B refuses the token A logged out');
      assert.doesNotMatch(a.output() + b.output(), /uncaught|unhandled/i);
    } finally {
      await stopAll([a, b]);
    }
  });
});
