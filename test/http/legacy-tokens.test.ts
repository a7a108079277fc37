/**
 * The cut-over (issue #12 part 7): an old Flask app's HS256 access tokens, made here with
 * PyJWT (Debian's python3-jwt) exactly as the seed apps make them, work for imported
 * accounts until LEGACY_JWT_UNTIL, with Bastion's roles and revocations, and are refused
 * afterwards with legacy_token_expired. Seed 001 (Flask-JWT-Extended: `sub` = user.id,
 * Bearer or the `jwt` cookie) and seed 002 (Flask-JWT: `identity`, `Authorization: JWT`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { effectiveSettings } from '../../src/config/docs.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { importUsers } from '../../src/imports/service.ts';
import type { RawRecord } from '../../src/imports/records.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, testConfig, type TestApp } from '../helpers/app.ts';

const PYTHON = '/usr/bin/python3';
/** seed 001's own placeholder secret: short and guessable, as such apps' secrets are */
const FLASK_SECRET = 'your_secret_key';
const now = () => Math.floor(Date.now() / 1000);

interface TokenSpec {
  readonly payload: Record<string, unknown>;
  readonly key?: string;
  readonly alg?: string;
}

/** Tokens from PyJWT, in one interpreter run: jwt.encode(payload, key, algorithm). */
function pyjwt(specs: readonly TokenSpec[]): string[] {
  const script = [
    'import json, sys, jwt',
    'out = []',
    'for s in json.loads(sys.stdin.read()):',
    '    t = jwt.encode(s["payload"], s.get("key"), algorithm=s.get("alg", "HS256"))',
    '    out.append(t if isinstance(t, str) else t.decode())',
    'print(json.dumps(out))',
  ].join('\n');
  const run = spawnSync(PYTHON, ['-c', script], { input: JSON.stringify(specs), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as string[];
}

/** Flask-JWT-Extended 4's create_access_token(identity=user.id) (seed 001). */
const fjeAccess = (sub: unknown, extra: Record<string, unknown> = {}) => {
  const iat = now();
  return { fresh: false, iat, jti: randomUUID(), type: 'access', sub, nbf: iat, exp: iat + 900, ...extra };
};
/** Flask-JWT's default payload (seed 002): identity, iat, nbf, exp, no jti. */
const flaskJwt = (identity: unknown) => {
  const iat = now();
  return { exp: iat + 300, iat, nbf: iat, identity };
};

/** A team's routes beside Bastion's: what the guard hands over, and an unsafe method for CSRF. */
const teamRoutes: FastifyPluginAsync = async (app) => {
  app.get('/team/whoami', { preHandler: app.requireAuth }, async (request) => ({
    sub: request.auth!.sub,
    roles: request.auth!.roles,
    legacy: request.auth!.legacy === true,
  }));
  app.post('/team/echo', { preHandler: app.requireAuth }, async () => ({ ok: true }));
};

/** Imports kyle (old id 1) and an admin (old id 2), as `bastion import` would. */
async function importSeedUsers(app: FastifyInstance): Promise<void> {
  const s = app.services;
  const records: RawRecord[] = [
    { ref: { line: 1 }, fields: { id: 1, username: 'kyle', email: 'kyle@example.com', password: 'kyle-old-password' } },
    { ref: { line: 2 }, fields: { id: 2, username: 'boss', email: 'admin@example.com', password: 'boss-old-password', roles: ['admin'] } },
    { ref: { line: 3 }, fields: { id: 3, username: 'sherpa', password: 'everest-old-password' } },
  ];
  const report = await importUsers(
    { db: s.store.db, clock: s.clock, audit: s.audit, hashPassword: (pw) => s.users.hashPassword(pw) },
    records,
    { source: 'jsonl', dryRun: false, flaskSecuritySalt: null, deriveUsername: false },
  );
  assert.equal(report.imported, 3);
}

const errorOf = (res: { json(): unknown }) => res.json() as { code: string; message: string };

describe('legacy tokens: Flask-JWT-Extended (seed 001)', () => {
  let t: TestApp;
  const clock = new ManualClock(Date.now());
  const until = new Date(Date.now() + 86_400_000).toISOString();
  before(async () => {
    t = await buildTestApp({ LEGACY_JWT_SECRET: FLASK_SECRET, LEGACY_JWT_UNTIL: until }, { clock, routes: teamRoutes });
    await importSeedUsers(t.app);
  });
  after(() => t.close());
  // PyJWT stamps iat/nbf from the real clock: the app's clock keeps up with it (until the last test moves it on)
  beforeEach(() => clock.advance(Math.max(0, Date.now() - clock.now())));

  test('an old token for an imported account works, with Bastion roles, marked legacy, audited once', async () => {
    const [kyle, boss, bossInt] = pyjwt([{ payload: fjeAccess('1'), key: FLASK_SECRET }, { payload: fjeAccess('2'), key: FLASK_SECRET }, { payload: fjeAccess(2), key: FLASK_SECRET }]);
    const who = await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(kyle!) });
    assert.equal(who.statusCode, 200, who.body);
    const kyleId = (await t.app.services.users.require('kyle')).id;
    assert.deepEqual(who.json(), { sub: kyleId, roles: [], legacy: true });
    assert.equal((await t.app.inject({ method: 'GET', url: '/protected', headers: bearer(kyle!) })).statusCode, 200);
    // roles come from Bastion's database, never from the token
    assert.equal((await t.app.inject({ method: 'GET', url: '/admin', headers: bearer(kyle!) })).statusCode, 403);
    const [kyleClaimsAdmin] = pyjwt([{ payload: fjeAccess('1', { roles: ['admin'], is_admin: true }), key: FLASK_SECRET }]);
    assert.equal((await t.app.inject({ method: 'GET', url: '/admin', headers: bearer(kyleClaimsAdmin!) })).statusCode, 403);
    for (const token of [boss!, bossInt!]) {
      assert.equal((await t.app.inject({ method: 'GET', url: '/admin', headers: bearer(token) })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/users', headers: bearer(token) })).statusCode, 200);
    }
    // a legacy token is never a fresh login
    const change = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(kyle!),
      payload: { current_password: 'kyle-old-password', new_password: 'a brand new password 1' },
    });
    assert.equal(errorOf(change).code, 'fresh_login_required');
    const events = await t.app.services.audit.list({ limit: 50, type: 'legacy_token_used', userId: kyleId });
    assert.equal(events.length, 1, 'audited once per account and hour, not per request');
    assert.deepEqual(events[0]!.details, { claim: 'sub', alg: 'HS256' });
  });

  test('the identity maps by the old id, then the username, then the email (imported accounts only)', async () => {
    const [byName, byEmail, other] = pyjwt([
      { payload: fjeAccess('sherpa'), key: FLASK_SECRET },
      { payload: fjeAccess('admin@example.com'), key: FLASK_SECRET },
      { payload: fjeAccess('alice'), key: FLASK_SECRET },
    ]);
    const sherpa = (await t.app.services.users.require('sherpa')).id;
    assert.equal((await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(byName!) })).json().sub, sherpa);
    assert.equal((await t.app.inject({ method: 'GET', url: '/admin', headers: bearer(byEmail!) })).statusCode, 200);
    // alice signed up in Bastion itself: an old token naming her is just an invalid token
    await signupAndLogin(t.app, 'alice');
    const res = await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(other!) });
    assert.equal(res.statusCode, 401);
    assert.equal(errorOf(res).code, 'invalid_token');
  });

  test('wrong secret, another algorithm, alg none, a refresh token, no exp, expired: refused', async () => {
    const iat = now();
    const tokens = pyjwt([
      { payload: fjeAccess('1'), key: 'not the flask secret' },
      { payload: fjeAccess('1'), key: FLASK_SECRET, alg: 'HS512' },
      { payload: fjeAccess('1'), alg: 'none' },
      { payload: fjeAccess('1', { type: 'refresh' }), key: FLASK_SECRET },
      { payload: { sub: '1', iat }, key: FLASK_SECRET },
      { payload: { identity: 1, iat, exp: iat + 60 }, key: FLASK_SECRET }, // no `sub`: not this app's identity claim
    ]);
    for (const [i, token] of tokens.entries()) {
      const res = await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(token) });
      assert.equal(res.statusCode, 401, `token ${i}`);
      assert.equal(errorOf(res).code, 'invalid_token', `token ${i}`);
    }
    const [expired] = pyjwt([{ payload: fjeAccess('1', { iat: iat - 3600, nbf: iat - 3600, exp: iat - 1800 }), key: FLASK_SECRET }]);
    const res = await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(expired!) });
    assert.equal(errorOf(res).code, 'token_expired');
  });

  test('in the jwt cookie, as seed 001 keeps it: reads pass, writes need the csrf claim echoed in X-CSRF-Token', async () => {
    const csrf = randomUUID();
    const [withCsrf, without] = pyjwt([{ payload: fjeAccess('1', { csrf }), key: FLASK_SECRET }, { payload: fjeAccess('1'), key: FLASK_SECRET }]);
    const read = await t.app.inject({ method: 'GET', url: '/team/whoami', cookies: { jwt: without! } });
    assert.equal(read.statusCode, 200, read.body);
    const noHeader = await t.app.inject({ method: 'POST', url: '/team/echo', cookies: { jwt: withCsrf! } });
    assert.equal(errorOf(noHeader).code, 'csrf_failed');
    const wrong = await t.app.inject({ method: 'POST', url: '/team/echo', cookies: { jwt: without! }, headers: { 'x-csrf-token': csrf } });
    assert.equal(errorOf(wrong).code, 'csrf_failed');
    const ok = await t.app.inject({ method: 'POST', url: '/team/echo', cookies: { jwt: withCsrf! }, headers: { 'x-csrf-token': csrf } });
    assert.equal(ok.statusCode, 200, ok.body);
  });

  test('logout revokes the token, log out everywhere every old token; a disabled account is refused', async () => {
    const [one, two, three] = pyjwt([1, 2, 3].map(() => ({ payload: fjeAccess('sherpa'), key: FLASK_SECRET })));
    const logout = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(one!) });
    assert.equal(logout.statusCode, 204, logout.body);
    assert.equal(errorOf(await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(one!) })).code, 'token_revoked');
    assert.equal((await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(two!) })).statusCode, 200);
    const all = await t.app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: bearer(two!) });
    assert.equal(all.statusCode, 204, all.body);
    for (const token of [two!, three!]) {
      assert.equal(errorOf(await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(token) })).code, 'token_revoked');
    }
    const kyle = await t.app.services.users.require('kyle');
    const [kyleToken] = pyjwt([{ payload: fjeAccess('1'), key: FLASK_SECRET }]);
    await t.app.services.users.setDisabled(kyle.id, true);
    const res = await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(kyleToken!) });
    assert.equal(res.statusCode, 403);
    assert.equal(errorOf(res).code, 'account_disabled');
    await t.app.services.users.setDisabled(kyle.id, false);
  });

  test("Bastion's own tokens are untouched by the legacy path", async () => {
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'boss', password: 'boss-old-password' } });
    assert.equal(login.statusCode, 200, login.body);
    const who = await t.app.inject({ method: 'GET', url: '/team/whoami', headers: bearer(login.json().access_token) });
    assert.deepEqual(who.json().legacy, false);
  });

  // last: it moves the clock past the cut-over
  test('after LEGACY_JWT_UNTIL a valid old token is refused with legacy_token_expired', async () => {
    const [token] = pyjwt([{ payload: fjeAccess('2', { exp: now() + 10 * 86_400 }), key: FLASK_SECRET }]);
    assert.equal((await t.app.inject({ method: 'GET', url: '/admin', headers: bearer(token!) })).statusCode, 200);
    clock.advance(2 * 86_400_000);
    const res = await t.app.inject({ method: 'GET', url: '/admin', headers: bearer(token!) });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { code: 'legacy_token_expired', message: 'Tokens of the old application are no longer accepted; log in again' });
    assert.match(String(res.headers['www-authenticate']), /^Bearer .*error="invalid_token"/);
    // a token with the wrong secret is still just invalid
    const [forged] = pyjwt([{ payload: fjeAccess('2'), key: 'guess' }]);
    assert.equal(errorOf(await t.app.inject({ method: 'GET', url: '/admin', headers: bearer(forged!) })).code, 'invalid_token');
  });
});

describe('legacy tokens: Flask-JWT (seed 002), another instance on the same database', () => {
  let t: TestApp;
  let second: FastifyInstance;
  before(async () => {
    const env = { LEGACY_JWT_SECRET: 'super-secret', LEGACY_JWT_IDENTITY: 'identity', LEGACY_JWT_UNTIL: '2999-01-01' };
    t = await buildTestApp(env);
    second = await buildApp(testConfig(env, t.dir));
    await importSeedUsers(t.app);
  });
  after(async () => {
    await second.close();
    await t.close();
  });

  test('Authorization: JWT <token> with `identity: 3` reaches /mountain/everest on either instance', async () => {
    const [token] = pyjwt([{ payload: flaskJwt(3), key: 'super-secret' }]);
    for (const app of [t.app, second]) {
      const res = await app.inject({ method: 'GET', url: '/mountain/everest', headers: { authorization: `JWT ${token}` } });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { mountain: 'everest' });
    }
    const none = await t.app.inject({ method: 'GET', url: '/mountain/everest' });
    assert.equal(none.statusCode, 401);
  });

  test('a revocation made on one instance holds on the other at once (no jti: one is derived for logout)', async () => {
    const [a, b] = pyjwt([{ payload: flaskJwt(3), key: 'super-secret' }, { payload: { ...flaskJwt(3), nbf: now() - 1 }, key: 'super-secret' }]);
    const logout = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `JWT ${a}` } });
    assert.equal(logout.statusCode, 204, logout.body);
    await second.services.revocations.sync();
    assert.equal(errorOf(await second.inject({ method: 'GET', url: '/mountain/everest', headers: { authorization: `JWT ${a}` } })).code, 'token_revoked');
    assert.equal((await second.inject({ method: 'GET', url: '/mountain/everest', headers: { authorization: `JWT ${b}` } })).statusCode, 200);
    // log out everywhere on the first instance: the second reads the account's stamp from the database
    await t.app.services.sessions.revokeAll((await t.app.services.users.require('sherpa')).id, 'logout_all');
    assert.equal(errorOf(await second.inject({ method: 'GET', url: '/mountain/everest', headers: { authorization: `JWT ${b}` } })).code, 'token_revoked');
  });
});

describe('LEGACY_JWT_* settings', () => {
  test('a secret needs a date, a date needs a secret, dates are checked; the secret is never printed', () => {
    const load = (env: Record<string, string>) => () => loadConfig({ DATABASE_URL: 'sqlite::memory:', ...env });
    assert.throws(load({ LEGACY_JWT_SECRET: 'x' }), (err: unknown) => err instanceof ConfigError && /LEGACY_JWT_UNTIL is required/.test(err.message));
    assert.throws(load({ LEGACY_JWT_UNTIL: '2030-01-01' }), (err: unknown) => err instanceof ConfigError && /LEGACY_JWT_SECRET is required/.test(err.message));
    for (const bad of ['2030-02-30', 'next friday', '2030-01-01T10:00']) {
      assert.throws(load({ LEGACY_JWT_SECRET: 'x', LEGACY_JWT_UNTIL: bad }), (err: unknown) => err instanceof ConfigError && /LEGACY_JWT_UNTIL/.test(err.message), bad);
    }
    assert.throws(load({ LEGACY_JWT_SECRET: 'x', LEGACY_JWT_UNTIL: '2030-01-01', LEGACY_JWT_ALG: 'RS256' }), /LEGACY_JWT_ALG must be one of HS256, HS384, HS512/);
    const config = load({ LEGACY_JWT_SECRET: 'flask-secret', LEGACY_JWT_UNTIL: '2030-01-01', LEGACY_JWT_IDENTITY: 'identity' })();
    assert.deepEqual(config.legacyJwt, { secret: 'flask-secret', until: Date.UTC(2030, 0, 1), alg: 'HS256', identityClaim: 'identity', issuer: null, audience: null });
    assert.equal(load({ LEGACY_JWT_SECRET: 'x', LEGACY_JWT_UNTIL: '2030-01-01T18:00:00+01:00' })().legacyJwt!.until, Date.UTC(2030, 0, 1, 17));
    assert.equal(load({})().legacyJwt, null);
    const shown = effectiveSettings({ LEGACY_JWT_SECRET: 'flask-secret' }).find((s) => s.name === 'LEGACY_JWT_SECRET');
    assert.equal(shown!.value, '***');
  });
});
