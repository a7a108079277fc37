/**
 * Issue #8 parts 4 and 5: refreshes of one token racing over several instances on one
 * database, a client retrying a refresh whose response it lost, reuse after the grace
 * window; and a login right after "log out everywhere" always minting a working token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, tempDir, testConfig, type TestApp } from '../helpers/app.ts';

const PASSWORD = 'correct horse battery';
/** the flood limit would count this file's many auth requests from one IP */
const ENV = { REFRESH_REUSE_GRACE: '10s', AUTH_RATE_LIMIT: '100000', REVOCATION_POLL: '100ms' };

const refresh = (app: FastifyInstance, token: string) =>
  app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: token } });
const secure = (app: FastifyInstance, accessToken: string) => app.inject({ url: '/api/secure', headers: bearer(accessToken) });
const tokenId = (token: string) => token.split('.')[0]!;

/** The refresh tokens of the family `token` belongs to, oldest first. */
async function familyTokens(app: FastifyInstance, token: string) {
  const { db } = app.services.store;
  const { family_id } = await db.selectFrom('refresh_tokens').select('family_id').where('id', '=', tokenId(token)).executeTakeFirstOrThrow();
  return db
    .selectFrom('refresh_tokens')
    .select(['id', 'parent_id', 'used_at'])
    .where('family_id', '=', family_id)
    .orderBy('created_at')
    .execute();
}

describe('refresh races over three instances on one database', () => {
  const { dir, remove } = tempDir();
  const apps: FastifyInstance[] = [];
  before(async () => {
    for (let i = 0; i < 3; i += 1) apps.push(await buildApp(testConfig(ENV, dir)));
  });
  after(async () => {
    for (const app of apps) await app.close();
    remove();
  });

  test('8 concurrent refreshes of one token: all 200 with the same refresh token, one rotation, the session lives on', async () => {
    const first = await signupAndLogin(apps[0]!, 'racer');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => refresh(apps[i % 3]!, first.refresh_token)));
    assert.deepEqual(
      results.map((r) => r.statusCode),
      Array(8).fill(200),
      results.map((r) => `${r.statusCode} ${r.json().code ?? ''}`).join(', '),
    );
    const bodies = results.map((r) => r.json());
    const next = bodies[0].refresh_token as string;
    assert.notEqual(next, first.refresh_token);
    for (const body of bodies) assert.equal(body.refresh_token, next, 'every racer holds the one live refresh token');

    const rows = await familyTokens(apps[0]!, first.refresh_token);
    assert.equal(rows.length, 2, 'exactly one rotation');
    assert.deepEqual(
      rows.filter((r) => r.used_at === null).map((r) => r.id),
      [tokenId(next)],
      'exactly one unused token in the family: the one handed out',
    );
    assert.equal(rows[1]!.parent_id, tokenId(first.refresh_token));

    for (const [i, body] of bodies.entries()) assert.equal((await secure(apps[i % 3]!, body.access_token)).statusCode, 200, `access token ${i}`);
    const again = await refresh(apps[2]!, next);
    assert.equal(again.statusCode, 200, 'the session refreshes again');
    assert.notEqual(again.json().refresh_token, next);
    assert.equal((await secure(apps[1]!, again.json().access_token)).statusCode, 200);
  });

  test('a retry after a lost response, within the grace window, gets a working pair; the next refresh rotates', async () => {
    const first = await signupAndLogin(apps[0]!, 'retrier');
    const lost = await refresh(apps[0]!, first.refresh_token);
    assert.equal(lost.statusCode, 200);
    // the client never saw `lost` and retries the token it had, on another instance
    const retry = await refresh(apps[1]!, first.refresh_token);
    assert.equal(retry.statusCode, 200, retry.body);
    const pair = retry.json();
    assert.equal(pair.refresh_token, lost.json().refresh_token, 'the same successor, not a second live token');
    assert.equal((await secure(apps[2]!, pair.access_token)).statusCode, 200);
    assert.equal((await familyTokens(apps[0]!, first.refresh_token)).filter((r) => r.used_at === null).length, 1);

    const rotated = await refresh(apps[2]!, pair.refresh_token);
    assert.equal(rotated.statusCode, 200, rotated.body);
    assert.notEqual(rotated.json().refresh_token, pair.refresh_token);
    assert.equal((await secure(apps[0]!, rotated.json().access_token)).statusCode, 200);
    const rows = await familyTokens(apps[0]!, first.refresh_token);
    assert.equal(rows.length, 3);
    assert.equal(rows.filter((r) => r.used_at === null).length, 1);
  });

  test('the original retried within the grace window after its successor was used: 409, nothing revoked', async () => {
    const first = await signupAndLogin(apps[0]!, 'laggard');
    const child = (await refresh(apps[0]!, first.refresh_token)).json();
    const grandchild = (await refresh(apps[1]!, child.refresh_token)).json();
    assert.ok(grandchild.refresh_token);

    const late = await refresh(apps[2]!, first.refresh_token);
    assert.equal(late.statusCode, 409, late.body);
    assert.equal(late.json().code, 'refresh_conflict');
    const rows = await familyTokens(apps[0]!, first.refresh_token);
    assert.equal(rows.length, 3, 'no token issued');
    assert.equal((await secure(apps[0]!, grandchild.access_token)).statusCode, 200, 'session not revoked');
    const next = await refresh(apps[2]!, grandchild.refresh_token);
    assert.equal(next.statusCode, 200, next.body);
  });
});

describe('a spent refresh token after the grace window', () => {
  let t: TestApp;
  const clock = new ManualClock();
  before(async () => {
    t = await buildTestApp(ENV, { clock });
  });
  after(() => t.close());

  test('is reuse even though its successor was never used: 401 refresh_token_reused, the session is dead, audited', async () => {
    const first = await signupAndLogin(t.app, 'thief');
    const child = (await refresh(t.app, first.refresh_token)).json();
    clock.advance(10_001);
    const replay = await refresh(t.app, first.refresh_token);
    assert.equal(replay.statusCode, 401, replay.body);
    assert.equal(replay.json().code, 'refresh_token_reused');
    assert.equal((await refresh(t.app, child.refresh_token)).json().code, 'invalid_refresh_token');
    assert.equal((await secure(t.app, child.access_token)).json().code, 'token_revoked');
    assert.equal((await t.app.services.audit.list({ limit: 10, type: 'refresh_reuse' })).length, 1);
  });

  test('just inside the window, the same retry is still answered with the successor', async () => {
    const first = await signupAndLogin(t.app, 'patient');
    const child = (await refresh(t.app, first.refresh_token)).json();
    clock.advance(10_000);
    const retry = await refresh(t.app, first.refresh_token);
    assert.equal(retry.statusCode, 200, retry.body);
    assert.equal(retry.json().refresh_token, child.refresh_token);
  });
});

describe('log out everywhere, then log in again at once (real clock)', () => {
  const { dir, remove } = tempDir();
  const apps: FastifyInstance[] = [];
  before(async () => {
    for (let i = 0; i < 2; i += 1) apps.push(await buildApp(testConfig(ENV, dir)));
  });
  after(async () => {
    for (const app of apps) await app.close();
    remove();
  });

  // 12 rounds a pass (a second each): the early-waking clocks of test/unit/sessions/stamp.test.ts prove the rule itself
  test('12 times: every token minted right after the revocation works', async () => {
    let pair = await signupAndLogin(apps[0]!, 'restless', PASSWORD);
    for (let i = 0; i < 12; i += 1) {
      const [revoker, other] = i % 2 === 0 ? [apps[0]!, apps[1]!] : [apps[1]!, apps[0]!];
      const out = await revoker.inject({ method: 'POST', url: '/api/auth/logout-all', headers: bearer(pair.access_token) });
      assert.equal(out.statusCode, 204, `iteration ${i}: ${out.body}`);
      // log in on the other instance, then use the token where the revocation is surely in memory
      const login = await other.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'restless', password: PASSWORD } });
      assert.equal(login.statusCode, 200, `iteration ${i}: ${login.body}`);
      pair = login.json();
      const res = await secure(revoker, pair.access_token);
      assert.equal(res.statusCode, 200, `iteration ${i}: ${res.body}`);
    }
  });
});
