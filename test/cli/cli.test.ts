/**
 * The `bastion` CLI as a user sees it: real processes (the compiled bin), a real database per test (a
 * SQLite file, or a PostgreSQL database in the PostgreSQL pass), exit codes, what reaches
 * stdout and stderr. Tests run concurrently, each on its own database.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { tempDir } from '../helpers/app.ts';
import { createPgDatabase, DIALECT, pgAdminUrl } from '../helpers/db.ts';
import { psql } from '../helpers/postgres.ts';
import { runCli, startServer, type CliResult } from '../helpers/server.ts';

/** `bastion <args>` (runCli: queued, killed if it does not exit by itself). */
const cli = runCli;

/** For assertion messages: what the command printed. */
const show = (r: CliResult): string => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** The non-empty lines of a stream. */
const lines = (text: string): string[] => text.split(/\r?\n/).filter((l) => l !== '');

interface TestDb {
  readonly url: string;
  /** DATABASE_URL for this test's own database */
  readonly env: Record<string, string>;
  /** has anything been written: the SQLite file exists, or the PostgreSQL database has tables */
  created(): boolean;
}

/** A database nobody has opened yet (a SQLite file not yet created, an empty PostgreSQL database). */
function freshDb(t: TestContext, name = 'b.db'): TestDb {
  if (DIALECT === 'postgres') {
    const url = createPgDatabase();
    const created = () => psql(url, "select count(*) from information_schema.tables where table_schema = 'public'").trim() !== '0';
    return { url, env: { DATABASE_URL: url }, created };
  }
  const { dir, remove } = tempDir('bastion-cli-');
  t.after(remove);
  const file = join(dir, name);
  const url = `sqlite:${file}`;
  return { url, env: { DATABASE_URL: url }, created: () => existsSync(file) };
}

/** A database that does not exist: a missing SQLite file, or a PostgreSQL database never created. */
function missingDb(t: TestContext): TestDb {
  if (DIALECT === 'sqlite') return freshDb(t);
  const url = new URL(pgAdminUrl());
  url.pathname = `/missing_${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
  return { url: url.toString(), env: { DATABASE_URL: url.toString() }, created: () => false };
}

interface ListedUser {
  readonly username: string;
  readonly email: string | null;
  readonly roles: string[];
  readonly disabled: boolean;
}

/** `bastion user list --json`, which must succeed. */
async function listUsers(env: Record<string, string>, extraArgs: string[] = []): Promise<ListedUser[]> {
  const r = await cli(['user', 'list', '--json', ...extraArgs], env);
  assert.equal(r.code, 0, show(r));
  const parsed: unknown = JSON.parse(r.stdout);
  assert.ok(Array.isArray(parsed), `user list --json printed ${r.stdout}`);
  return parsed as ListedUser[];
}

const PASSWORD = 'Tr0ub4dor&3-staple';
const USAGE_LINE = 'usage: bastion <command>';

describe('bastion CLI', { concurrency: true }, () => {
  test('migrate applies 0001_init on a new file, then reports the database is up to date', async (t) => {
    const db = freshDb(t);
    const first = await cli(['migrate'], db.env);
    assert.equal(first.code, 0, show(first));
    assert.match(first.stdout, /applied .*\b0001_init\b/);
    assert.equal(first.stderr, '');
    assert.ok(db.created(), 'migrate did not create the database');

    const second = await cli(['migrate'], db.env);
    assert.equal(second.code, 0, show(second));
    assert.match(second.stdout, /up to date/);
    assert.doesNotMatch(second.stdout, /0001_init|applied/);
    assert.equal(second.stderr, '');
  });

  test('user add creates the user with email and role, never prints the password, refuses a taken username in any case', async (t) => {
    const db = freshDb(t);
    const added = await cli(['user', 'add', 'alice', '--email', 'alice@example.com', '--role', 'admin'], db.env, `${PASSWORD}\n`);
    assert.equal(added.code, 0, show(added));
    assert.match(added.stdout, /created user alice\b/);
    assert.match(added.stdout, /\badmin\b/);
    assert.equal(added.stderr, '');

    assert.deepEqual(await listUsers(db.env), [{ username: 'alice', email: 'alice@example.com', roles: ['admin'], disabled: false }]);

    const [again, upper] = await Promise.all([
      cli(['user', 'add', 'alice'], db.env, `${PASSWORD}\n`),
      cli(['user', 'add', 'ALICE'], db.env, `${PASSWORD}\n`),
    ]);
    for (const r of [again, upper]) {
      assert.equal(r.code, 1, show(r));
      assert.equal(lines(r.stderr).length, 1, show(r));
      assert.match(r.stderr, /username is taken/i);
      assert.equal(r.stdout, '');
    }

    for (const r of [added, again, upper]) {
      assert.ok(!r.stdout.includes(PASSWORD), `password printed on stdout: ${show(r)}`);
      assert.ok(!r.stderr.includes(PASSWORD), `password printed on stderr: ${show(r)}`);
    }
    assert.deepEqual((await listUsers(db.env)).map((u) => u.username), ['alice']);
  });

  test('user add refuses weak passwords with the reasons and creates nothing', async (t) => {
    const db = freshDb(t);
    const short = await cli(['user', 'add', 'bob'], db.env, 'short\n');
    const sameAsName = await cli(['user', 'add', 'charlotte'], db.env, 'Charlotte\n');
    assert.equal(short.code, 1, show(short));
    assert.equal(lines(short.stderr).length, 1, show(short));
    assert.match(short.stderr, /weak password/i);
    assert.match(short.stderr, /at least 8 characters/);

    assert.equal(sameAsName.code, 1, show(sameAsName));
    assert.equal(lines(sameAsName.stderr).length, 1, show(sameAsName));
    assert.match(sameAsName.stderr, /weak password/i);
    assert.match(sameAsName.stderr, /must not be the username/);

    for (const r of [short, sameAsName]) {
      assert.equal(r.stdout, '', show(r));
      assert.doesNotMatch(r.stderr, /created/);
    }
    assert.doesNotMatch(short.stderr, /\bshort\b/, 'the refused password was echoed');
    assert.deepEqual(await listUsers(db.env), []);
  });

  test('user role adds and removes roles; unknown user, unknown action and invalid role are refused', async (t) => {
    const db = freshDb(t);
    const added = await cli(['user', 'add', 'alice', '--role', 'admin'], db.env, `${PASSWORD}\n`);
    assert.equal(added.code, 0, show(added));

    const changes = (async () => {
      const add = await cli(['user', 'role', 'alice', 'add', 'editor'], db.env);
      assert.equal(add.code, 0, show(add));
      assert.match(add.stdout, /alice roles: admin, editor/);
      const remove = await cli(['user', 'role', 'alice', 'remove', 'admin'], db.env);
      assert.equal(remove.code, 0, show(remove));
      assert.match(remove.stdout, /alice roles: editor\s*$/);
    })();
    const [nobody, badAction, badRole] = await Promise.all([
      cli(['user', 'role', 'nobody', 'add', 'x'], db.env),
      cli(['user', 'role', 'alice', 'frobnicate', 'x'], db.env),
      cli(['user', 'role', 'alice', 'add', 'Bad Role'], db.env),
      changes,
    ]);

    assert.equal(nobody.code, 1, show(nobody));
    assert.match(nobody.stderr, /No such user/);
    assert.equal(lines(nobody.stderr).length, 1, show(nobody));

    assert.equal(badAction.code, 2, show(badAction));
    assert.match(badAction.stderr, /usage: .*user role <username> add\|remove <role>/);

    assert.equal(badRole.code, 1, show(badRole));
    assert.match(badRole.stderr, /Invalid role "Bad Role"/);
    assert.equal(lines(badRole.stderr).length, 1, show(badRole));

    assert.deepEqual(await listUsers(db.env), [{ username: 'alice', email: null, roles: ['editor'], disabled: false }]);
  });

  test('sessions revoke logs a user out of a running server through the database', async (t) => {
    const db = freshDb(t);
    const username = 'dave';
    const added = await cli(['user', 'add', username], db.env, `${PASSWORD}\n`);
    assert.equal(added.code, 0, show(added));

    const server = await startServer({ DATABASE_URL: db.url, REVOCATION_POLL: '200ms' });
    t.after(() => server.stop());

    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
    assert.equal(login.status, 200, await login.clone().text());
    const tokens = (await login.json()) as { access_token: string; refresh_token: string };
    assert.equal(typeof tokens.access_token, 'string');
    assert.equal(typeof tokens.refresh_token, 'string');

    const me = () => fetch(`${server.url}/api/auth/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const before = await me();
    assert.equal(before.status, 200, await before.clone().text());
    assert.equal(((await before.json()) as { username: string }).username, username);

    const revoked = await cli(['sessions', 'revoke', username], db.env);
    assert.equal(revoked.code, 0, show(revoked));
    assert.match(revoked.stdout, /revoked 1 session\(s\) of dave/);

    const deadline = Date.now() + 3000;
    let after = await me();
    while (after.status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await me();
    }
    assert.equal(after.status, 401, `GET /api/auth/me still ${after.status} 3 s after sessions revoke`);
    assert.equal(((await after.json()) as { code: string }).code, 'token_revoked');

    const refresh = await fetch(`${server.url}/api/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    assert.equal(refresh.status, 401, await refresh.clone().text());
    assert.equal(((await refresh.json()) as { code: string }).code, 'invalid_refresh_token');

    for (const secret of [PASSWORD, tokens.access_token, tokens.refresh_token]) {
      assert.ok(!server.output().includes(secret), 'a password or token reached the server log');
    }
  });

  describe('config errors stop `serve` before it listens, with one line naming the variable', { concurrency: true }, () => {
    const cases: Array<{ env: Record<string, string>; line: RegExp }> = [
      { env: { PORT: '99999' }, line: /^config: PORT / },
      { env: { JWT_ALG: 'none' }, line: /^config: JWT_ALG must be one of EdDSA, ES256, RS256, HS256\b/ },
      { env: { JWT_ALG: 'HS256', JWT_SECRET: '0123456789' }, line: /^config: JWT_SECRET .*32 bytes/ },
      { env: { ACCESS_TTL: 'abc' }, line: /^config: ACCESS_TTL / },
      { env: { COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'false' }, line: /^config: COOKIE_SAMESITE / },
    ];
    for (const { env, line } of cases) {
      const label = Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      test(label, async (t) => {
        const db = freshDb(t);
        // exits by itself, or the guard kills it and fails the test
        const r = await cli(['serve'], { PORT: '0', HOST: '127.0.0.1', ...db.env, ...env }, '', 30_000);
        assert.equal(r.code, 1, show(r));
        assert.equal(r.signal, null, show(r));
        assert.equal(lines(r.stderr).length, 1, show(r));
        assert.match(r.stderr, line);
        assert.doesNotMatch(r.stdout, /listening/i);
        assert.ok(!db.created(), 'the database was opened despite the config error');
      });
    }
  });

  test('--database-url works like DATABASE_URL and wins over it', async (t) => {
    const a = freshDb(t, 'a.db');
    const b = freshDb(t, 'b.db');
    // created through the flag while the environment names the other file
    const added = await cli(['user', 'add', 'alice', '--database-url', a.url], b.env, `${PASSWORD}\n`);
    assert.equal(added.code, 0, show(added));
    assert.ok(a.created(), 'the database named by --database-url was not created');
    assert.ok(!b.created(), 'the database named by DATABASE_URL was written too');

    const [viaFlag, viaEnv] = await Promise.all([listUsers(b.env, ['--database-url', a.url]), listUsers(a.env)]);
    assert.deepEqual(viaFlag.map((u) => u.username), ['alice']);
    assert.deepEqual(viaEnv.map((u) => u.username), ['alice']);
    assert.ok(!b.created(), 'user list --database-url opened the database named by DATABASE_URL');
  });

  test('a bad flag value is a config error naming the variable', async (t) => {
    const db = freshDb(t);
    const r = await cli(['user', 'list', '--database-url', 'mysql://x'], db.env);
    assert.equal(r.code, 1, show(r));
    assert.equal(lines(r.stderr).length, 1, show(r));
    assert.match(r.stderr, /^config: DATABASE_URL /);
  });

  test('usage errors exit 2: unknown flag, no command, unknown command', async (t) => {
    const db = freshDb(t);
    const [unknownFlag, none, unknown] = await Promise.all([
      cli(['user', 'list', '--frobnicate'], db.env),
      cli([], db.env),
      cli(['nosuch'], db.env),
    ]);

    assert.equal(unknownFlag.code, 2, show(unknownFlag));
    assert.match(unknownFlag.stderr, /--frobnicate/);
    assert.equal(unknownFlag.stdout, '');
    assert.ok(!db.created(), 'the database was opened despite the usage error');

    assert.equal(none.code, 2, show(none));
    assert.ok(`${none.stdout}${none.stderr}`.includes(USAGE_LINE), show(none));
    assert.match(`${none.stdout}${none.stderr}`, /sessions revoke <username>/);

    assert.equal(unknown.code, 2, show(unknown));
    assert.match(unknown.stderr, /unknown command "nosuch"/);
    assert.ok(unknown.stderr.includes(USAGE_LINE), show(unknown));
  });

  test('user refuses a database that does not exist instead of creating an empty one', async (t) => {
    const db = missingDb(t);
    for (const args of [['user', 'list'], ['user', 'role', 'alice', 'add', 'x'], ['sessions', 'revoke', 'alice']]) {
      const r = await cli(args, db.env);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, DIALECT === 'sqlite' ? /no database at/ : /^config: DATABASE_URL cannot reach postgres:\/\/.*does not exist/);
      assert.equal(lines(r.stderr).length, 1, show(r));
    }
    assert.ok(!db.created(), 'a read command created the database');
  });

  test('user add refuses usernames and emails the API refuses (blank, containing @, bad email)', async (t) => {
    const db = freshDb(t);
    const blank = await cli(['user', 'add', '   '], db.env, `${PASSWORD}\n`);
    const withAt = await cli(['user', 'add', 'bob@example.com'], db.env, `${PASSWORD}\n`);
    const badEmail = await cli(['user', 'add', 'carol', '--email', 'notanemail'], db.env, `${PASSWORD}\n`);
    assert.equal(badEmail.code, 1, show(badEmail));
    const created = (await listUsers(db.env)).map((u) => u.username);
    // SignupBody's Username is 3-64 letters, digits, . _ -; UserService.find treats any
    // identifier with "@" as an email, so such a user can never be found by name again.
    const outcome = (r: CliResult) => (r.code === 0 ? `accepted: ${r.stdout.trim()}` : 'refused');
    assert.deepEqual({ blank: outcome(blank), withAt: outcome(withAt), created }, { blank: 'refused', withAt: 'refused', created: [] });
  });

  test('keys rotate and keys list: the old key keeps verifying; audit tail shows the rotation', async (t) => {
    const db = freshDb(t);
    assert.equal((await cli(['migrate'], db.env)).code, 0);
    const before = await cli(['keys', 'list', '--json'], db.env);
    assert.equal(before.code, 0, show(before));
    assert.deepEqual((JSON.parse(before.stdout) as Array<{ status: string }>).map((k) => k.status), ['active'], 'the first use makes a key');
    const rotated = await cli(['keys', 'rotate'], db.env);
    assert.equal(rotated.code, 0, show(rotated));
    const again = await cli(['keys', 'rotate'], db.env);
    assert.match(again.stdout, /active key is now \S+ \(EdDSA\)/);
    const keys = JSON.parse((await cli(['keys', 'list', '--json'], db.env)).stdout) as Array<{ status: string; kid: string }>;
    assert.deepEqual(keys.map((k) => k.status).sort(), ['active', 'verifying', 'verifying']);
    assert.ok(again.stdout.includes(keys.find((k) => k.status === 'active')!.kid));
    const tail = await cli(['audit', 'tail', '-n', '5', '--json'], db.env);
    assert.equal(tail.code, 0, show(tail));
    const events = lines(tail.stdout).map((l) => JSON.parse(l) as { type: string; actor_id: string });
    assert.deepEqual(events.map((e) => e.type), ['key_rotation', 'key_rotation']);
    assert.equal(events[0]!.actor_id, 'cli');
    assert.equal((await cli(['keys', 'spin'], db.env)).code, 2);
    const hs = await cli(['keys', 'rotate'], { ...db.env, JWT_ALG: 'HS256', JWT_SECRET: 's'.repeat(32) });
    assert.equal(hs.code, 1, show(hs));
    assert.match(hs.stderr, /JWT_SECRET_PREVIOUS/);
  });
});
