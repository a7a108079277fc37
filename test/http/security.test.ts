import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { buildApp } from '../../src/app.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, tempDir, testConfig, type TestApp } from '../helpers/app.ts';

const PASSWORD = 'correct horse battery';

describe('login throttling and lockout', () => {
  let t: TestApp;
  const clock = new ManualClock();
  before(async () => {
    t = await buildTestApp({ LOGIN_MAX_FAILURES: '3', LOGIN_IP_MAX_FAILURES: '8', LOGIN_LOCKOUT: '30s', LOGIN_LOCKOUT_MAX: '5m', TRUST_PROXY: '127.0.0.1' }, { clock });
    await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username: 'alice', password: PASSWORD } });
  });
  after(() => t.close());
  const login = (username: string, password: string, ip = '10.0.0.1') =>
    t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'x-forwarded-for': ip }, payload: { username, password } });

  test('N failures lock the account with Retry-After; the right password is refused while locked', async () => {
    for (let i = 0; i < 3; i += 1) assert.equal((await login('alice', 'wrong password')).statusCode, 401);
    const locked = await login('alice', PASSWORD);
    assert.equal(locked.statusCode, 429);
    assert.equal(locked.json().code, 'too_many_attempts');
    assert.equal(locked.headers['retry-after'], '30');
    clock.advance(31_000);
    assert.equal((await login('alice', PASSWORD)).statusCode, 200, 'after the lockout the right password works');
  });

  test('a success resets the account counter; repeated lockouts double', async () => {
    for (let i = 0; i < 2; i += 1) await login('alice', 'wrong password');
    assert.equal((await login('alice', PASSWORD)).statusCode, 200);
    for (let i = 0; i < 2; i += 1) await login('alice', 'wrong password');
    assert.equal((await login('alice', PASSWORD)).statusCode, 200, 'two failures after a success are not three');

    for (let i = 0; i < 3; i += 1) await login('alice', 'wrong password', '10.0.0.2');
    assert.equal((await login('alice', PASSWORD, '10.0.0.2')).headers['retry-after'], '30');
    clock.advance(31_000);
    for (let i = 0; i < 3; i += 1) await login('alice', 'wrong password', '10.0.0.2');
    assert.equal((await login('alice', PASSWORD, '10.0.0.2')).headers['retry-after'], '60', 'second lockout doubles');
    clock.advance(61_000);
    assert.equal((await login('alice', PASSWORD, '10.0.0.2')).statusCode, 200);
  });

  test('an unknown account locks the same way, so a lockout reveals nothing', async () => {
    const known: string[] = [];
    const unknown: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      unknown.push((await login('nobody', 'wrong password', '10.0.0.3')).body);
      known.push((await login('alice', 'wrong password', '10.0.0.4')).body);
    }
    assert.deepEqual(unknown, known);
    assert.equal(JSON.parse(unknown[3]!).code, 'too_many_attempts');
    clock.advance(5 * 60_000);
  });

  test('per client IP: many accounts from one address lock that address only', async () => {
    for (let i = 0; i < 8; i += 1) await login(`user${i}`, 'wrong password', '10.9.9.9');
    const blocked = await login('alice', PASSWORD, '10.9.9.9');
    assert.equal(blocked.statusCode, 429);
    assert.equal((await login('alice', PASSWORD, '10.9.9.10')).statusCode, 200, 'another address is not affected');
    clock.advance(5 * 60_000);
  });

  test('X-Forwarded-For is ignored unless TRUST_PROXY names the proxy', async () => {
    const strict = await buildTestApp({ LOGIN_MAX_FAILURES: '50', LOGIN_IP_MAX_FAILURES: '2' });
    try {
      const go = (ip: string) => strict.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'x-forwarded-for': ip }, payload: { username: 'x', password: 'y' } });
      await go('1.1.1.1');
      await go('2.2.2.2');
      assert.equal((await go('3.3.3.3')).statusCode, 429, 'all three came from the same real address');
    } finally {
      await strict.close();
    }
  });

  test('lockouts survive a restart (kept in the database)', async () => {
    const { dir, remove } = tempDir();
    const env = { LOGIN_MAX_FAILURES: '2' };
    const first = await buildApp(testConfig(env, dir));
    await signupAndLogin(first, 'bob');
    for (let i = 0; i < 2; i += 1) await first.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'bob', password: 'nope nope' } });
    await first.close();
    const second = await buildApp(testConfig(env, dir));
    try {
      const res = await second.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'bob', password: PASSWORD } });
      assert.equal(res.statusCode, 429);
    } finally {
      await second.close();
      remove();
    }
  });

  test('the generic per-IP limit answers 429 too_many_requests with Retry-After', async () => {
    const limited = await buildTestApp({ AUTH_RATE_LIMIT: '3' });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        codes.push((await limited.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'x', password: 'y' } })).statusCode);
      }
      assert.deepEqual(codes, [401, 401, 401, 429]);
      const res = await limited.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'x', password: 'y' } });
      assert.equal(res.json().code, 'too_many_requests');
      assert.ok(Number(res.headers['retry-after']) > 0);
      assert.equal((await limited.app.inject({ url: '/api/unsecure' })).statusCode, 200, 'other routes are not limited');
    } finally {
      await limited.close();
    }
  });
});

describe('signing-key rotation', () => {
  for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
    test(`${alg}: both keys verify during the overlap, then the old one leaves the JWKS`, async () => {
      const clock = new ManualClock();
      const t = await buildTestApp({ JWT_ALG: alg, ACCESS_TTL: '60s', JWT_LEEWAY: '0s', DEMO: 'true' }, { clock });
      try {
        const admin = (await t.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'admin', password: 'password' } })).json().access_token;
        const oldKid = decodeProtectedHeader(admin).kid;
        const rotated = await t.app.inject({ method: 'POST', url: '/api/admin/keys/rotate', headers: bearer(admin) });
        assert.equal(rotated.statusCode, 200);
        const newKid = rotated.json().kid;
        assert.notEqual(newKid, oldKid);

        const kyle = (await t.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'kyle', password: 'p1' } })).json().access_token;
        assert.equal(decodeProtectedHeader(kyle).kid, newKid, 'new tokens use the new key');
        const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
        assert.deepEqual(jwks.keys.map((k: { kid: string }) => k.kid).sort(), [newKid, oldKid].sort());
        await jwtVerify(admin, createLocalJWKSet(jwks), { audience: 'bastion' });
        await jwtVerify(kyle, createLocalJWKSet(jwks), { audience: 'bastion' });
        assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(admin) })).statusCode, 200, 'old token still works');

        const list = (await t.app.inject({ url: '/api/admin/keys', headers: bearer(kyle) })).statusCode;
        assert.equal(list, 403);
        const keys = (await t.app.inject({ url: '/api/admin/keys', headers: bearer((await t.app.inject({ method: 'POST', url: '/api/login', payload: { username: 'admin', password: 'password' } })).json().access_token) })).json();
        assert.deepEqual(keys.map((k: { status: string }) => k.status).sort(), ['active', 'verifying']);

        clock.advance(61_000);
        await (t.app.services.keys as unknown as { reload(): Promise<void> }).reload();
        const after = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
        assert.deepEqual(after.keys.map((k: { kid: string }) => k.kid), [newKid], 'the old key is retired');
        const events = await t.app.services.audit.list({ limit: 5, type: 'key_rotation' });
        assert.equal(events[0]!.details!['kid'], newKid);
      } finally {
        await t.close();
      }
    });
  }

  test('HS256: secrets rotate through JWT_SECRET_PREVIOUS', async () => {
    const oldSecret = 'o'.repeat(32);
    const { dir, remove } = tempDir();
    const before = await buildApp(testConfig({ JWT_ALG: 'HS256', JWT_SECRET: oldSecret }, dir));
    const pair = await signupAndLogin(before, 'hsuser');
    await before.close();
    const rotatedWithout = await buildApp(testConfig({ JWT_ALG: 'HS256', JWT_SECRET: 'n'.repeat(32) }, dir));
    const rotatedWith = await buildApp(testConfig({ JWT_ALG: 'HS256', JWT_SECRET: 'n'.repeat(32), JWT_SECRET_PREVIOUS: oldSecret }, dir));
    try {
      assert.equal((await rotatedWithout.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).statusCode, 401);
      assert.equal((await rotatedWith.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).statusCode, 200);
      const rotate = await rotatedWith.services.keys.rotate().catch((e: Error) => e);
      assert.ok(rotate instanceof Error && /JWT_SECRET_PREVIOUS/.test(rotate.message));
    } finally {
      await rotatedWithout.close();
      await rotatedWith.close();
      remove();
    }
  });
});

describe('fresh login, audit, headers', () => {
  let t: TestApp;
  const clock = new ManualClock();
  before(async () => {
    t = await buildTestApp({ FRESH_LOGIN_WINDOW: '10m', ACCESS_TTL: '15m', DEMO: 'true' }, { clock });
  });
  after(() => t.close());

  test('a sensitive action needs a password login within FRESH_LOGIN_WINDOW; refreshing does not make it fresh', async () => {
    const pair = await signupAndLogin(t.app, 'fresh');
    clock.advance(11 * 60_000);
    const refreshed = (await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: pair.refresh_token } })).json();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(refreshed.access_token),
      payload: { current_password: PASSWORD, new_password: 'another long password' },
    });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'fresh_login_required');
    const again = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'fresh', password: PASSWORD } })).json();
    const ok = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(again.access_token),
      payload: { current_password: PASSWORD, new_password: 'another long password' },
    });
    assert.equal(ok.statusCode, 204);
  });

  test('security events are audited with time, user, IP and user agent; admins page through them', async () => {
    await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'user-agent': 'audit-test' }, payload: { username: 'kyle', password: 'bad password' } });
    const admin = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: 'password' } })).json().access_token;
    const kyleId = (await t.app.services.users.require('kyle')).id;
    await t.app.inject({ method: 'POST', url: `/api/admin/users/${kyleId}/roles`, headers: bearer(admin), payload: { role: 'editor' } });

    const page1 = await t.app.inject({ url: '/api/admin/audit?limit=2', headers: bearer(admin) });
    assert.equal(page1.statusCode, 200);
    const { events, next } = page1.json();
    assert.equal(events.length, 2);
    assert.equal(events[0].type, 'role_change');
    assert.equal(events[0].user_id, kyleId);
    assert.ok(events[0].actor_id, 'the admin is recorded as the actor');
    assert.deepEqual(events[0].details, { action: 'add', role: 'editor' });
    const page2 = (await t.app.inject({ url: `/api/admin/audit?limit=2&before=${next}`, headers: bearer(admin) })).json();
    assert.ok(!page2.events.some((e: { id: string }) => events.some((f: { id: string }) => f.id === e.id)), 'pages do not overlap');

    const failed = (await t.app.inject({ url: '/api/admin/audit?type=login_failed', headers: bearer(admin) })).json().events;
    assert.ok(failed.some((e: { user_id: string; user_agent: string; ip: string }) => e.user_id === kyleId && e.user_agent === 'audit-test' && e.ip === '127.0.0.1'));
    const all = JSON.stringify((await t.app.inject({ url: '/api/admin/audit?limit=200', headers: bearer(admin) })).json());
    assert.ok(!all.includes('bad password') && !all.includes(PASSWORD), 'no password in the audit log');
    clock.advance(1000); // past the role change's revocation stamp
    const kyle = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'kyle', password: 'p1' } })).json().access_token;
    assert.equal((await t.app.inject({ url: '/api/admin/audit', headers: bearer(kyle) })).statusCode, 403);
  });

  test('security headers: CSP, nosniff, frame-ancestors none', async () => {
    const res = await t.app.inject({ url: '/api/unsecure' });
    assert.match(String(res.headers['content-security-policy']), /default-src 'self'.*frame-ancestors 'none'/);
    assert.match(String(res.headers['content-security-policy']), /script-src 'self'(;|$)/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.ok(res.headers['strict-transport-security']);
  });
});
