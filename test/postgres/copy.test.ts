/**
 * Issue #8 part 7, "Moving from SQLite to PostgreSQL", black box: a real server on a
 * SQLite file makes users, sessions, a revocation and TOTP; `bastion db copy` moves it all
 * to a fresh PostgreSQL database; a real server on that database then honours every token,
 * session and password made before the move. Runs in the PostgreSQL pass of `npm test`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import * as OTPAuth from 'otpauth';
import { tempDir } from '../helpers/app.ts';
import { createPgDatabase } from '../helpers/db.ts';
import { freePort } from '../helpers/postgres.ts';
import { runCli, startServer, type RunningServer } from '../helpers/server.ts';
import { COPY_TABLES, countRows } from '../../src/storage/copy.ts';
import { openDb } from '../../src/storage/db.ts';
import { request, type Res } from '../helpers/http.ts';

const PASSWORD = 'correct horse battery';

const call = (server: RunningServer, method: string, path: string, body?: unknown, token?: string): Promise<Res> =>
  request(server.url, method, path, body, token);

/** Row count of every table, counted directly (not through the command under test). */
async function tableCounts(url: string): Promise<Record<string, number>> {
  const store = openDb(url);
  try {
    const counts: Record<string, number> = {};
    for (const { table } of COPY_TABLES) counts[table] = await countRows(store.db, table);
    return counts;
  } finally {
    await store.close();
  }
}

/** `users  12` lines of `db copy` output, the total and the last line. */
function parseReport(stdout: string): { tables: Record<string, number>; total: number; summary: string } {
  const lines = stdout.split('\n').filter((l) => l !== '');
  const tables: Record<string, number> = {};
  let total = -1;
  for (const line of lines.slice(0, -1)) {
    const m = /^(\w+)\s+(\d+)$/.exec(line);
    assert.ok(m, `unexpected report line: ${line}`);
    if (m[1] === 'total') total = Number(m[2]);
    else tables[m[1]!] = Number(m[2]);
  }
  return { tables, total, summary: lines.at(-1) ?? '' };
}

const show = (r: { code: number | null; stdout: string; stderr: string }) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function serverEnv(t: TestContext, databaseUrl: string): Record<string, string> {
  const outbox = tempDir('bastion-copy-outbox-');
  t.after(outbox.remove);
  return { DATABASE_URL: databaseUrl, OUTBOX_DIR: outbox.dir, SMTP_URL: '', AUTH_RATE_LIMIT: '100000' };
}

test('db copy moves a SQLite database to PostgreSQL: tokens, sessions, revocations, passwords and TOTP survive', { timeout: 180_000 }, async (t) => {
  const dir = tempDir('bastion-copy-');
  t.after(dir.remove);
  const sqliteUrl = `sqlite:${join(dir.dir, 'bastion.db')}`;
  const pgUrl = createPgDatabase();

  // --- before the move: a server on SQLite --------------------------------------------
  const before = await startServer(serverEnv(t, sqliteUrl), ['--demo']);
  let tokens: { access: string; refresh: string; revokedAccess: string; revokedRefresh: string; recovery: string[]; challenge: string };
  try {
    const signup = await call(before, 'POST', '/api/auth/signup', { username: 'mover', password: PASSWORD, email: 'mover@example.com' });
    assert.equal(signup.status, 201, signup.text);
    const login = await call(before, 'POST', '/api/auth/login', { username: 'mover', password: PASSWORD });
    assert.equal(login.status, 200, login.text);
    // a second session, logged out: its access token is revoked (a revocations row)
    const other = await call(before, 'POST', '/api/auth/login', { username: 'mover', password: PASSWORD });
    assert.equal(other.status, 200, other.text);
    const logout = await call(before, 'POST', '/api/auth/logout', undefined, other.json.access_token);
    assert.equal(logout.status, 204, logout.text);
    assert.equal((await call(before, 'GET', '/api/secure', undefined, other.json.access_token)).status, 401);
    // a failed login (login_attempts) and TOTP with recovery codes for sherpa
    assert.equal((await call(before, 'POST', '/api/auth/login', { username: 'kyle', password: 'wrong' })).status, 401);
    const sherpa = await call(before, 'POST', '/api/auth/login', { username: 'sherpa', password: 'everest' });
    assert.equal(sherpa.status, 200, sherpa.text);
    const enroll = await call(before, 'POST', '/api/auth/mfa/enroll', undefined, sherpa.json.access_token);
    assert.equal(enroll.status, 200, enroll.text);
    const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enroll.json.secret) }).generate();
    const confirm = await call(before, 'POST', '/api/auth/mfa/confirm', { code }, sherpa.json.access_token);
    assert.equal(confirm.status, 200, confirm.text);
    // a login waiting for its second factor (a one_time_tokens row), completed after the move
    const challenge = await call(before, 'POST', '/api/auth/login', { username: 'sherpa', password: 'everest' });
    assert.equal(challenge.status, 401, challenge.text);
    assert.equal(challenge.json.code, 'mfa_required');
    tokens = {
      access: login.json.access_token,
      refresh: login.json.refresh_token,
      revokedAccess: other.json.access_token,
      revokedRefresh: other.json.refresh_token,
      recovery: confirm.json.recovery_codes,
      challenge: challenge.json.details.challenge_token,
    };
  } finally {
    await before.stop();
  }

  // --- the move ------------------------------------------------------------------------
  const copy = await runCli(['db', 'copy', '--from', sqliteUrl, '--to', pgUrl]);
  assert.equal(copy.code, 0, show(copy));
  assert.equal(copy.stderr, '', show(copy));
  const report = parseReport(copy.stdout);
  const [fromCounts, toCounts] = await Promise.all([tableCounts(sqliteUrl), tableCounts(pgUrl)]);
  t.diagnostic(`db copy report:\n${copy.stdout.trimEnd()}`);
  assert.deepEqual(Object.keys(report.tables), COPY_TABLES.map((s) => s.table), 'one line per table, in copy order');
  assert.deepEqual(report.tables, fromCounts, 'reported counts = rows in the SQLite source');
  assert.deepEqual(toCounts, fromCounts, 'rows in PostgreSQL = rows in the SQLite source');
  assert.equal(report.total, Object.values(fromCounts).reduce((a, b) => a + b, 0));
  assert.equal(report.summary, `copied ${report.total} rows from ${sqliteUrl} to ${pgUrl}`);
  for (const table of ['users', 'user_roles', 'refresh_families', 'refresh_tokens', 'signing_keys', 'revocations', 'audit_events', 'login_attempts', 'one_time_tokens', 'mfa_recovery_codes', 'sequences']) {
    assert.ok(fromCounts[table]! > 0, `the scenario left no rows in ${table}: the copy of that table is untested`);
  }

  // --- after the move: a server on PostgreSQL (no --demo: every account comes from the copy)
  const after = await startServer(serverEnv(t, pgUrl));
  try {
    const secure = await call(after, 'GET', '/api/secure', undefined, tokens.access);
    assert.equal(secure.status, 200, `a token issued before the move no longer verifies: ${secure.text}`);
    assert.equal((await call(after, 'GET', '/api/secure', undefined, tokens.revokedAccess)).status, 401, 'a revoked token verifies again after the move');
    assert.equal((await call(after, 'POST', '/api/auth/refresh', { refresh_token: tokens.revokedRefresh })).status, 401, 'a logged-out session refreshes after the move');
    const rotated = await call(after, 'POST', '/api/auth/refresh', { refresh_token: tokens.refresh });
    assert.equal(rotated.status, 200, `a refresh token issued before the move does not rotate: ${rotated.text}`);
    assert.notEqual(rotated.json.refresh_token, tokens.refresh);
    assert.equal((await call(after, 'GET', '/api/secure', undefined, rotated.json.access_token)).status, 200);

    for (const [username, password] of [
      ['kyle', 'p1'],
      ['admin', 'password'],
      ['mover', PASSWORD],
    ] as const) {
      const login = await call(after, 'POST', '/api/login', { username, password });
      assert.equal(login.status, 200, `${username} cannot log in with the old password: ${login.text}`);
    }
    assert.equal((await call(after, 'POST', '/api/login', { username: 'kyle', password: 'p2' })).status, 401);
    // TOTP moved: the challenge from before the move completes with a recovery code from before the move
    const pending = await call(after, 'POST', '/api/auth/login/mfa', { challenge_token: tokens.challenge, recovery_code: tokens.recovery[0] });
    assert.equal(pending.status, 200, pending.text);
    // a new login still needs the second factor; a spent recovery code stays spent
    const first = await call(after, 'POST', '/api/auth/login', { username: 'sherpa', password: 'everest' });
    assert.equal(first.status, 401, first.text);
    assert.equal(first.json.code, 'mfa_required');
    const spent = await call(after, 'POST', '/api/auth/login/mfa', { challenge_token: first.json.details.challenge_token, recovery_code: tokens.recovery[0] });
    assert.equal(spent.status, 401, spent.text);
    const again = await call(after, 'POST', '/api/auth/login', { username: 'sherpa', password: 'everest' });
    const second = await call(after, 'POST', '/api/auth/login/mfa', { challenge_token: again.json.details.challenge_token, recovery_code: tokens.recovery[1] });
    assert.equal(second.status, 200, second.text);
  } finally {
    await after.stop();
  }

  // --- a second copy: refused on a non-empty target, done with --force ---------------------
  const grown = await tableCounts(pgUrl);
  assert.ok(grown['refresh_families']! > fromCounts['refresh_families']!, 'the server on PostgreSQL added sessions');
  const refused = await runCli(['db', 'copy', '--from', sqliteUrl, '--to', pgUrl]);
  assert.equal(refused.code, 1, show(refused));
  assert.equal(refused.stdout, '', show(refused));
  assert.equal(refused.stderr.trimEnd().split('\n').length, 1, show(refused));
  assert.match(refused.stderr, /^bastion: .*not empty.*--force/);
  assert.deepEqual(await tableCounts(pgUrl), grown, 'a refused copy changed the target');

  const forced = await runCli(['db', 'copy', '--from', sqliteUrl, '--to', pgUrl, '--force']);
  assert.equal(forced.code, 0, show(forced));
  assert.deepEqual(parseReport(forced.stdout).tables, fromCounts);
  assert.deepEqual(await tableCounts(pgUrl), fromCounts, '--force replaces the target with the source');

  // --- back to SQLite, and mistakes ---------------------------------------------------------
  const closedPort = await freePort();
  const wrongDb = new URL(pgUrl);
  wrongDb.username = 'postgres';
  wrongDb.password = 's3cret-Pw';
  wrongDb.pathname = '/no_such_database';
  const unreachableUrl = `postgres://postgres:s3cret-Pw@127.0.0.1:${closedPort}/bastion`;
  const backUrl = `sqlite:${join(dir.dir, 'back', 'bastion.db')}`;
  const [back, badDb, badPort, badScheme, noFrom, same, noFile] = await Promise.all([
    runCli(['db', 'copy', '--from', pgUrl, '--to', backUrl]),
    runCli(['db', 'copy', '--from', sqliteUrl, '--to', wrongDb.toString()]),
    runCli(['db', 'copy', '--from', sqliteUrl, '--to', unreachableUrl]),
    runCli(['db', 'copy', '--from', sqliteUrl, '--to', 'mysql://root:s3cret-Pw@localhost/bastion']),
    runCli(['db', 'copy', '--to', pgUrl]),
    runCli(['db', 'copy', '--from', pgUrl, '--to', pgUrl]),
    runCli(['db', 'copy', '--from', `sqlite:${join(dir.dir, 'missing.db')}`, '--to', pgUrl]),
  ]);
  // and back: PostgreSQL to a new SQLite file
  assert.equal(back.code, 0, show(back));
  assert.deepEqual(parseReport(back.stdout).tables, fromCounts);
  assert.deepEqual(await tableCounts(backUrl), fromCounts, 'PostgreSQL -> SQLite lost rows');

  for (const [r, pattern] of [
    [badDb, /^bastion: cannot reach postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/no_such_database: .*no_such_database/],
    [badPort, new RegExp(`^bastion: cannot reach postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort}/bastion: `)],
    [badScheme, /^bastion: --to must be sqlite:<path> or postgres:\/\/… \(got "mysql:\/\/root:\*\*\*@localhost\/bastion"\)/],
    [noFile, /^bastion: no database at .*missing\.db/],
  ] as const) {
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stdout, '', show(r));
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `not one line: ${show(r)}`);
    assert.match(r.stderr, pattern, show(r));
    assert.ok(!r.stderr.includes('s3cret-Pw'), `password printed: ${show(r)}`);
  }
  assert.equal(noFrom.code, 2, show(noFrom));
  assert.match(noFrom.stderr, /--from is required/);
  assert.equal(same.code, 2, show(same));
  assert.match(same.stderr, /same database/);
  t.diagnostic(`mistakes:\n${[badDb, badPort, badScheme, noFile, noFrom, same].map((r) => `  exit ${r.code}: ${r.stderr.trimEnd()}`).join('\n')}`);
  assert.deepEqual(await tableCounts(pgUrl), fromCounts, 'a failed command changed the target');
});
