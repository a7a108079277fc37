/**
 * Bastion through Debian's pgbouncer in transaction pooling mode (issue #8, part 6): no
 * session state survives between transactions there, and LISTEN is off, so revocations
 * travel only through the polled feed. Three instances, the cross-instance checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPgDatabase, pgAdminUrl } from '../helpers/db.ts';
import { startPgbouncer, type Pgbouncer } from '../helpers/pgbouncer.ts';
import { psql } from '../helpers/postgres.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';
import { request, type Res } from '../helpers/http.ts';
import { migrationProvider } from '../../src/storage/migrations/index.ts';

const PASSWORD = 'correct horse battery';

/** `request` with the options these tests pass by name. */
const call = (base: string, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<Res> =>
  request(base, method, path, options.body, options.token);

interface Pair {
  readonly access_token: string;
  readonly refresh_token: string;
}

async function login(base: string, username: string): Promise<Pair> {
  const r = await call(base, 'POST', '/api/auth/login', { body: { username, password: PASSWORD } });
  assert.equal(r.status, 200, `login failed: ${r.text}`);
  return r.json as Pair;
}

const me = (base: string, token: string) => call(base, 'GET', '/api/auth/me', { token });

/** Every one of `bases` refuses `token` (401 token_revoked) within 1 s. */
async function refusedWithinOneSecond(bases: string[], token: string, what: string): Promise<void> {
  await Promise.all(
    bases.map(async (base) => {
      const deadline = Date.now() + 1_000;
      let last = await me(base, token);
      while (last.status !== 401 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        last = await me(base, token);
      }
      assert.equal(last.status, 401, `${what}: ${base} still answers ${last.status} after 1 s: ${last.text}`);
      assert.equal((last.json as { code?: string }).code, 'token_revoked');
    }),
  );
}

describe('three instances through pgbouncer (pool_mode = transaction, no LISTEN)', () => {
  let bouncer: Pgbouncer;
  let database: string;
  let servers: RunningServer[] = [];
  let a: string;
  let b: string;
  let c: string;

  before(async () => {
    bouncer = await startPgbouncer(Number(new URL(pgAdminUrl()).port));
    database = new URL(createPgDatabase()).pathname.slice(1);
    const env = { DATABASE_URL: bouncer.url(database), DATABASE_LISTEN_URL: 'off' };
    const started = await Promise.allSettled([0, 1, 2].map(() => startServer(env)));
    servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw new Error(`an instance did not start through pgbouncer: ${String(failed.reason)}\npgbouncer:\n${bouncer.log()}`);
    [a, b, c] = servers.map((s) => s.url) as [string, string, string];
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await bouncer?.stop();
  });

  test('every instance is ready, connected through pgbouncer, with no LISTEN connection', async () => {
    for (const base of [a, b, c]) assert.equal((await call(base, 'GET', '/readyz')).status, 200);
    // seen from the server: no session of this database is LISTENing
    const listening = psql(pgAdminUrl(), `select count(*) from pg_stat_activity where datname = '${database}' and query ilike 'listen %'`).trim();
    assert.equal(listening, '0');
    const migrations = Object.keys(await migrationProvider.getMigrations()).length;
    assert.equal(psql(bouncer.url(database), 'select count(*) from kysely_migration').trim(), String(migrations), 'each migration applied once');
  });

  test('signup works (transactions), and its unique checks hold across instances', async () => {
    const created = await call(a, 'POST', '/api/auth/signup', { body: { username: 'bouncer', password: PASSWORD } });
    assert.equal(created.status, 201, created.text);
    const again = await call(c, 'POST', '/api/auth/signup', { body: { username: 'Bouncer', password: PASSWORD } });
    assert.equal(again.status, 409, again.text);
    assert.equal((again.json as { code: string }).code, 'username_taken');
    for (const name of ['bouncer2', 'bouncer3']) assert.equal((await call(b, 'POST', '/api/auth/signup', { body: { username: name, password: PASSWORD } })).status, 201);
  });

  test('a token from A works on B; logged out on B, A and C refuse it within 1 s', async () => {
    const pair = await login(a, 'bouncer');
    for (const base of [a, b, c]) assert.equal((await me(base, pair.access_token)).status, 200, `${base} accepts A's token`);
    const out = await call(b, 'POST', '/api/auth/logout', { token: pair.access_token });
    assert.equal(out.status, 204, out.text);
    await refusedWithinOneSecond([a, c], pair.access_token, 'logout on B');
  });

  test('log out everywhere on C: a token from A is refused on B within 1 s', async () => {
    const fromA = await login(a, 'bouncer2');
    assert.equal((await me(b, fromA.access_token)).status, 200);
    const onC = await login(c, 'bouncer2');
    const out = await call(c, 'POST', '/api/auth/logout-all', { token: onC.access_token });
    assert.equal(out.status, 204, out.text);
    await refusedWithinOneSecond([b], fromA.access_token, 'logout-all on C');
    // and the session is over: its refresh token is refused too
    const refresh = await call(b, 'POST', '/api/auth/refresh', { body: { refresh_token: fromA.refresh_token } });
    assert.equal(refresh.status, 401, refresh.text);
  });

  test('refresh rotation across instances', async () => {
    const first = await login(a, 'bouncer3');
    const second = await call(b, 'POST', '/api/auth/refresh', { body: { refresh_token: first.refresh_token } });
    assert.equal(second.status, 200, second.text);
    const pair2 = second.json as Pair;
    assert.notEqual(pair2.refresh_token, first.refresh_token);
    assert.equal((await me(c, pair2.access_token)).status, 200, 'the new access token works on C');
    const third = await call(c, 'POST', '/api/auth/refresh', { body: { refresh_token: pair2.refresh_token } });
    assert.equal(third.status, 200, third.text);
    const pair3 = third.json as Pair;
    assert.equal((await me(a, pair3.access_token)).status, 200);
    assert.ok(Number(psql(bouncer.url(database), 'select count(*) from refresh_tokens where used_at is not null')) >= 2, 'both rotations spent their token');
  });
});
