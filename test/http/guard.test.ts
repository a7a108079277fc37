import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, testConfig, tempDir, type TestApp } from '../helpers/app.ts';

/** A team's own routes, protected with Bastion's guard (README: "Protect your own routes"). */
const teamRoutes: FastifyPluginAsync = async (app) => {
  app.get('/reports', { preHandler: app.requireAuth }, async (request) => ({ for: request.auth!.sub }));
  app.delete('/reports/:id', { preHandler: app.requireRoles('editor', 'admin') }, async () => ({ deleted: true }));
};

const cookiesOf = (setCookie: string | string[] | undefined) =>
  Object.fromEntries(
    ([] as string[]).concat(setCookie ?? []).map((c) => {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      return [pair!.slice(0, i), pair!.slice(i + 1)];
    }),
  );

describe('guard', () => {
  let t: TestApp;
  const clock = new ManualClock();
  before(async () => {
    t = await buildTestApp({ ACCESS_TTL: '60s' }, { clock, routes: teamRoutes });
  });
  after(() => t.close());

  test('token in Bearer, JWT, bare, or the jwt cookie', async () => {
    const { access_token: token } = await signupAndLogin(t.app, 'alice');
    for (const headers of [
      { authorization: `Bearer ${token}` },
      { authorization: `bearer ${token}` },
      { authorization: `JWT ${token}` },
      { authorization: token },
      { cookie: `jwt=${token}` },
    ]) {
      const res = await t.app.inject({ url: '/api/secure', headers });
      assert.equal(res.statusCode, 200, JSON.stringify(Object.keys(headers)));
    }
    const basic = await t.app.inject({ url: '/api/secure', headers: { authorization: 'Basic YWxpY2U6cHc=' } });
    assert.equal(basic.statusCode, 401);
    assert.equal(basic.json().code, 'invalid_token');
  });

  test('a team route uses requireAuth and requireRoles, and shows the padlock in OpenAPI', async () => {
    const { access_token: token } = await signupAndLogin(t.app, 'bob');
    assert.equal((await t.app.inject({ url: '/reports' })).statusCode, 401);
    const ok = await t.app.inject({ url: '/reports', headers: bearer(token) });
    assert.equal(ok.statusCode, 200);
    const denied = await t.app.inject({ method: 'DELETE', url: '/reports/1', headers: bearer(token) });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().code, 'forbidden');
    assert.match(String(denied.headers['www-authenticate']), /insufficient_scope/);

    const user = await t.app.services.users.require('bob');
    await t.app.services.users.changeRole(user.id, 'add', 'editor');
    // the role change revoked the old token (it carries the old roles)
    const stale = await t.app.inject({ method: 'DELETE', url: '/reports/1', headers: bearer(token) });
    assert.equal(stale.statusCode, 401);
    assert.equal(stale.json().code, 'token_revoked');
    clock.advance(1000); // the stamp is the next whole second; a real clock gets there by itself
    const fresh = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'bob', password: 'correct horse battery' } });
    const allowed = await t.app.inject({ method: 'DELETE', url: '/reports/1', headers: bearer(fresh.json().access_token) });
    assert.equal(allowed.statusCode, 200);

    const doc = (await t.app.inject({ url: '/openapi.json' })).json();
    assert.deepEqual(doc.paths['/reports'].get.security, [{ jsonWebToken: [] }]);
    assert.deepEqual(doc.paths['/api/secure'].get.security, [{ jsonWebToken: [] }]);
    assert.equal(doc.paths['/api/unsecure'].get.security, undefined);
  });

  test('expired tokens: 401 token_expired, distinct from invalid_token', async () => {
    const { access_token: token } = await signupAndLogin(t.app, 'carol');
    const { access_token: unused } = await signupAndLogin(t.app, 'carol2');
    // one token has been verified (and remembered) before it expires, the other not
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(token) })).statusCode, 200);
    clock.advance(60_000 + 4_000); // inside the 5 s leeway
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(token) })).statusCode, 200);
    clock.advance(2_000); // past ttl + leeway
    for (const expired of [token, unused]) {
      const res = await t.app.inject({ url: '/api/secure', headers: bearer(expired) });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'token_expired');
    }
    const res = await t.app.inject({ url: '/api/secure', headers: bearer(token) });
    assert.match(String(res.headers['www-authenticate']), /^Bearer realm="bastion", error="invalid_token"/);
  });

  test('cookie mode: unsafe methods need X-CSRF-Token matching the token; header mode does not', async () => {
    await signupAndLogin(t.app, 'dave');
    const login = await t.app.inject({ method: 'POST', url: '/authenticate', payload: { email: 'dave', password: 'correct horse battery' } });
    assert.equal(login.statusCode, 200);
    const cookies = cookiesOf(login.headers['set-cookie']);
    assert.ok(cookies['jwt'] && cookies['bastion_refresh'] && cookies['csrf_token']);
    assert.equal(login.json().csrf_token, cookies['csrf_token']);
    assert.ok(!login.body.includes(cookies['jwt']!), 'the access token stays out of the body in cookie mode');

    const jar = `jwt=${cookies['jwt']}`;
    assert.equal((await t.app.inject({ url: '/api/person/', headers: { cookie: jar } })).statusCode, 200, 'safe methods need no CSRF token');
    const missing = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: jar } });
    assert.equal(missing.statusCode, 403);
    assert.equal(missing.json().code, 'csrf_failed');
    const wrong = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: jar, 'x-csrf-token': 'x'.repeat(32) } });
    assert.equal(wrong.statusCode, 403);

    // a header-mode token carries no csrf claim, so it cannot be smuggled in as a cookie for unsafe requests
    const headerPair = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'dave', password: 'correct horse battery' } });
    const smuggled = await t.app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: { cookie: `jwt=${headerPair.json().access_token}`, 'x-csrf-token': cookies['csrf_token']! },
    });
    assert.equal(smuggled.statusCode, 403);
    // the same token in the header needs no CSRF token
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(headerPair.json().access_token) })).statusCode, 204);

    // cookie refresh: the refresh cookie rotates into new cookies
    const refreshCookie = `bastion_refresh=${cookies['bastion_refresh']}`;
    const asForm = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', headers: { cookie: refreshCookie } });
    assert.equal(asForm.statusCode, 403, 'a body-less, non-JSON cookie refresh could come from a cross-site form');
    const crossSite = await t.app.inject({
      method: 'POST',
      url: '/api/auth/refresh',
      headers: { cookie: refreshCookie, 'content-type': 'application/json', origin: 'https://evil.example' },
      payload: '{}',
    });
    assert.equal(crossSite.statusCode, 403);
    assert.equal(crossSite.json().code, 'origin_not_allowed');
    const refreshed = await t.app.inject({
      method: 'POST',
      url: '/api/auth/refresh',
      headers: { cookie: refreshCookie, 'content-type': 'application/json' },
      payload: '{}',
    });
    assert.equal(refreshed.statusCode, 200);
    const next = cookiesOf(refreshed.headers['set-cookie']);
    assert.ok(next['jwt'] && next['jwt'] !== cookies['jwt']);
    assert.equal(refreshed.json().csrf_token, next['csrf_token']);

    const ok = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: `jwt=${next['jwt']}`, 'x-csrf-token': next['csrf_token']! } });
    assert.equal(ok.statusCode, 204);
    const cleared = ([] as string[]).concat(ok.headers['set-cookie'] ?? []);
    for (const name of ['jwt', 'bastion_refresh', 'csrf_token']) {
      assert.ok(cleared.some((c) => c.startsWith(`${name}=;`) && /Expires=Thu, 01 Jan 1970|Max-Age=0/.test(c)), `${name} cleared`);
    }
  });

  test('the hot path reads no database: verification and revocation are in memory', async () => {
    const { access_token: token } = await signupAndLogin(t.app, 'erin');
    await t.app.inject({ url: '/api/secure', headers: bearer(token) });
    const before = t.app.services.store.queries();
    for (let i = 0; i < 20; i += 1) assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(token) })).statusCode, 200);
    assert.equal(t.app.services.store.queries() - before, 0);
  });
});

describe('revocation across instances sharing one database', () => {
  test('logout on instance A stops the token on instance B within the poll interval', async () => {
    const { dir, remove } = tempDir();
    const env = { REVOCATION_POLL: '100ms' };
    const a = await buildApp(testConfig(env, dir));
    const b = await buildApp(testConfig(env, dir));
    try {
      const pair = await signupAndLogin(a, 'frank');
      assert.equal((await b.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).statusCode, 200, 'B verifies A’s token (shared key)');
      assert.equal((await a.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(pair.access_token) })).statusCode, 204);
      let status = 200;
      const deadline = Date.now() + 2000;
      while (status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await b.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).statusCode;
      }
      assert.equal(status, 401);
      // B measured how late it applied A's revocation; A wrote it, so it measured nothing
      const lagCount = async (app: typeof a) =>
        Number(/^bastion_revocation_lag_seconds_count (\d+)$/m.exec((await app.inject({ url: '/metrics' })).body)?.[1] ?? 'NaN');
      assert.ok((await lagCount(b)) >= 1, 'B has no revocation lag sample');
      assert.equal(await lagCount(a), 0);
    } finally {
      await a.close();
      await b.close();
      remove();
    }
  });

  test('restarting keeps sessions valid: the key lives in the database', async () => {
    const { dir, remove } = tempDir();
    const first = await buildApp(testConfig({}, dir));
    const pair = await signupAndLogin(first, 'grace');
    await first.close();
    const second = await buildApp(testConfig({}, dir));
    try {
      assert.equal((await second.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).statusCode, 200);
      assert.equal((await second.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: pair.refresh_token } })).statusCode, 200);
    } finally {
      await second.close();
      remove();
    }
  });
});
