/**
 * Machine clients (client_credentials), introspection, revocation and the revocation feed
 * (issue #12 parts 2 and 3, and the server side of part 4), in process on a real database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync, LightMyRequestResponse } from 'fastify';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { buildApp } from '../../src/app.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, tempDir, testConfig, type TestApp } from '../helpers/app.ts';

const PASSWORD = 'correct horse battery';

/** A team's own routes, guarded by scope, by any token, and by role. */
const teamRoutes: FastifyPluginAsync = async (app) => {
  app.get('/reports', { preHandler: app.requireScopes('reports:read') }, async (request) => ({ for: request.auth!.sub }));
  app.post('/reports', { preHandler: app.requireScopes('reports:read', 'reports:write') }, async () => ({ written: true }));
  app.get('/anyone', { preHandler: app.requireAuth }, async (request) => ({ sub: request.auth!.sub, client_id: request.auth!.client_id ?? null }));
  app.get('/editors', { preHandler: app.requireRoles('editor') }, async () => ({ ok: true }));
};

/** RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic. */
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

interface Creds {
  readonly id: string;
  readonly secret: string;
}

describe('OAuth endpoints for machine clients', () => {
  let t: TestApp;
  const clock = new ManualClock();
  const logLines: string[] = [];
  let reports: Creds;
  let other: Creds;
  /** every test that counts failures or floods from one address gets an address of its own */
  let nextIp = 10;
  const freshIp = () => `10.9.8.${nextIp++}`;

  before(async () => {
    t = await buildTestApp(
      { ACCESS_TTL: '60s', LOG_LEVEL: 'info', LOGIN_IP_MAX_FAILURES: '3' },
      { clock, routes: teamRoutes, logStream: { write: (line: string) => void logLines.push(line) } },
    );
    const a = await t.app.services.clients.create('reports', ['reports:read', 'reports:write']);
    const b = await t.app.services.clients.create('billing', ['billing:read']);
    reports = { id: a.client.id, secret: a.secret };
    other = { id: b.client.id, secret: b.secret };
  });
  after(() => t.close());

  const post = (url: string, params: Record<string, string> | string, headers: Record<string, string> = {}, remoteAddress?: string) =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: typeof params === 'string' ? params : new URLSearchParams(params).toString(),
      ...(remoteAddress ? { remoteAddress } : {}),
    });

  const tokenFor = async (c: Creds, scope?: string) => {
    const res = await post('/oauth/token', { grant_type: 'client_credentials', ...(scope !== undefined ? { scope } : {}) }, { authorization: basic(c.id, c.secret) });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { access_token: string; token_type: string; expires_in: number; scope?: string };
  };

  const introspect = async (token: string, c: Creds = reports) => {
    const res = await post('/oauth/introspect', { token }, { authorization: basic(c.id, c.secret) });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };

  const revoke = (token: string, c: Creds = reports) => post('/oauth/revoke', { token }, { authorization: basic(c.id, c.secret) });

  /** A fresh session of `username` (a user's token pair, as POST /api/auth/login gives it). */
  const logIn = async (username: string) =>
    (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password: PASSWORD } })).json() as {
      access_token: string;
      refresh_token: string;
    };

  /** RFC 6749 §5.2: exactly {error, error_description}, never Bastion's own shape. */
  const assertOAuthError = (res: LightMyRequestResponse, status: number, error: string) => {
    assert.equal(res.statusCode, status, res.body);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
    assert.equal(body.error, error);
    assert.match(body.error_description, /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
    assert.equal(res.headers['cache-control'], 'no-store');
  };

  test('client_credentials with HTTP Basic: an RFC 9068 access token for the client, all its scopes by default', async () => {
    const res = await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic(reports.id, reports.secret) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['pragma'], 'no-cache');
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.expires_in, 60);
    assert.equal(body.scope, 'reports:read reports:write');
    assert.equal(decodeProtectedHeader(body.access_token).typ, 'at+jwt');
    const claims = decodeJwt(body.access_token);
    assert.equal(claims.sub, reports.id);
    assert.equal(claims['client_id'], reports.id);
    assert.equal(claims['scope'], 'reports:read reports:write');
    assert.equal(claims.iss, t.config.jwt.issuer);
    assert.equal(claims.aud, t.config.jwt.audience);
    assert.equal(claims.exp! - claims.iat!, 60);
    assert.equal(typeof claims.jti, 'string');
    assert.equal(claims['roles'], undefined, 'a client has no roles');
    assert.equal(claims['sid'], undefined, 'nor a session');
    assert.equal('refresh_token' in body, false, 'RFC 6749 §4.4.3: no refresh token');
  });

  test('client_secret_post and a percent-encoded Basic id authenticate too; a subset of scopes is granted as asked', async () => {
    const viaForm = await post('/oauth/token', { grant_type: 'client_credentials', client_id: reports.id, client_secret: reports.secret, scope: 'reports:read' });
    assert.equal(viaForm.statusCode, 200, viaForm.body);
    assert.equal(viaForm.json().scope, 'reports:read');
    assert.equal(decodeJwt(viaForm.json().access_token)['scope'], 'reports:read');

    // §2.3.1: the Basic user-id is form-urlencoded; "%61" is "a", "+" a space (no id has one)
    const encodedId = reports.id.replace(/[a-f]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
    assert.notEqual(encodedId, reports.id);
    const raw = `Basic ${Buffer.from(`${encodedId}:${reports.secret}`).toString('base64')}`;
    assert.equal((await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: raw })).statusCode, 200);

    // a client_id parameter naming the same client only identifies it (some libraries send it with Basic)
    const both = await post('/oauth/token', { grant_type: 'client_credentials', client_id: reports.id }, { authorization: basic(reports.id, reports.secret) });
    assert.equal(both.statusCode, 200);
    // RFC 6749 §3.2: an empty parameter counts as absent
    const empty = await post('/oauth/token', { grant_type: 'client_credentials', scope: '' }, { authorization: basic(reports.id, reports.secret) });
    assert.equal(empty.json().scope, 'reports:read reports:write');
  });

  test('token endpoint errors answer in RFC 6749 §5.2 form', async () => {
    const auth = { authorization: basic(reports.id, reports.secret) };
    const ip = freshIp();
    const wrong = await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic(reports.id, 'not-the-secret') }, ip);
    assertOAuthError(wrong, 401, 'invalid_client');
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="bastion"');
    assertOAuthError(await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic('0'.repeat(32), reports.secret) }, ip), 401, 'invalid_client');
    const none = await post('/oauth/token', { grant_type: 'client_credentials' });
    assertOAuthError(none, 401, 'invalid_client');
    assert.equal(none.headers['www-authenticate'], 'Basic realm="bastion"');
    assertOAuthError(await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: `Bearer x.y.z` }, freshIp()), 401, 'invalid_client');

    assertOAuthError(await post('/oauth/token', { grant_type: 'password', username: 'a', password: 'b' }, auth), 400, 'unsupported_grant_type');
    assertOAuthError(await post('/oauth/token', { scope: 'reports:read' }, auth), 400, 'invalid_request');
    assertOAuthError(await post('/oauth/token', 'grant_type=client_credentials&grant_type=client_credentials', auth), 400, 'invalid_request');
    // §2.3: one authentication method per request
    assertOAuthError(
      await post('/oauth/token', { grant_type: 'client_credentials', client_id: reports.id, client_secret: reports.secret }, auth),
      400,
      'invalid_request',
    );
    assertOAuthError(await post('/oauth/token', { grant_type: 'client_credentials', scope: 'billing:read' }, auth), 400, 'invalid_scope');
    assertOAuthError(await post('/oauth/token', { grant_type: 'client_credentials', scope: 'reports:read  reports:write' }, auth), 400, 'invalid_scope');
    const json = await t.app.inject({ method: 'POST', url: '/oauth/token', headers: auth, payload: { grant_type: 'client_credentials' } });
    assertOAuthError(json, 400, 'invalid_request');
    assert.match(json.json().error_description, /x-www-form-urlencoded/);
  });

  test('failed client authentication counts against the client IP like failed logins; the token endpoint has the login flood limit', async () => {
    const ip = freshIp();
    const bad = { authorization: basic(reports.id, 'guess') };
    for (let i = 0; i < 3; i++) assertOAuthError(await post('/oauth/token', { grant_type: 'client_credentials' }, bad, ip), 401, 'invalid_client');
    // LOGIN_IP_MAX_FAILURES=3: wrong credentials from that address now get 429, on every client-authenticated endpoint
    const locked = await post('/oauth/token', { grant_type: 'client_credentials' }, bad, ip);
    assertOAuthError(locked, 429, 'too_many_attempts');
    assert.ok(Number(locked.headers['retry-after']) > 0);
    assertOAuthError(await post('/oauth/introspect', { token: 'x' }, { authorization: basic(other.id, 'guess') }, ip), 429, 'too_many_attempts');
    const lockedFeed = await t.app.inject({ url: '/api/revocations', headers: bad, remoteAddress: ip });
    assert.equal(lockedFeed.statusCode, 429);
    assert.equal(lockedFeed.json().code, 'too_many_attempts');
    // right credentials are still served there (nobody guesses 256 bits; other services may share the address),
    // and people logging in from it are not locked out by a service's failures
    assert.equal((await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic(reports.id, reports.secret) }, ip)).statusCode, 200);
    const feed = await t.app.inject({ url: '/api/revocations', headers: { authorization: basic(reports.id, reports.secret) }, remoteAddress: ip });
    assert.equal(feed.statusCode, 200);
    await signupAndLogin(t.app, 'sharing-an-address');
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'sharing-an-address', password: PASSWORD }, remoteAddress: ip });
    assert.equal(login.statusCode, 200);
    const audit = await t.app.services.audit.list({ limit: 50, type: 'client_auth_failed' });
    assert.equal(audit.filter((e) => e.ip === ip).length, 3, 'three failures audited, none while locked');
    assert.ok(audit.some((e) => e.ip === ip && e.details?.['client_id'] === reports.id));

    // AUTH_RATE_LIMIT (120 a minute per IP, shared with the login routes): a flood gets 429 too_many_requests
    const flood = freshIp();
    let last: LightMyRequestResponse | undefined;
    for (let i = 0; i <= t.config.throttle.authRatePerMinute; i++) last = await post('/oauth/token', { grant_type: 'client_credentials' }, {}, flood);
    assertOAuthError(last!, 429, 'too_many_requests');
  });

  test('requireScopes: every listed scope; 403 insufficient_scope naming them (RFC 6750 §3.1); a user token has none', async () => {
    const all = await tokenFor(reports);
    assert.deepEqual((await t.app.inject({ url: '/reports', headers: bearer(all.access_token) })).json(), { for: reports.id });
    assert.equal((await t.app.inject({ method: 'POST', url: '/reports', headers: bearer(all.access_token) })).statusCode, 200);

    const readOnly = await tokenFor(reports, 'reports:read');
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(readOnly.access_token) })).statusCode, 200);
    const refused = await t.app.inject({ method: 'POST', url: '/reports', headers: bearer(readOnly.access_token) });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().code, 'insufficient_scope');
    assert.match(String(refused.headers['www-authenticate']), /^Bearer realm="bastion", error="insufficient_scope", .*scope="reports:read reports:write"$/);

    const billing = await tokenFor(other);
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(billing.access_token) })).json().code, 'insufficient_scope');
    const { access_token: userToken } = await signupAndLogin(t.app, 'scopeless');
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(userToken) })).json().code, 'insufficient_scope');
    assert.equal((await t.app.inject({ url: '/reports' })).statusCode, 401);
  });

  test('a client token passes requireAuth, never requireRoles or the routes about a user’s own account', async () => {
    const { access_token: token } = await tokenFor(reports);
    assert.deepEqual((await t.app.inject({ url: '/anyone', headers: bearer(token) })).json(), { sub: reports.id, client_id: reports.id });
    const secure = await t.app.inject({ url: '/api/secure', headers: bearer(token) });
    assert.equal(secure.statusCode, 200);
    assert.deepEqual(secure.json().roles, []);
    assert.equal((await t.app.inject({ url: '/editors', headers: bearer(token) })).json().code, 'forbidden');
    assert.equal((await t.app.inject({ url: '/api/admin/users', headers: bearer(token) })).json().code, 'forbidden');
    assert.equal((await t.app.inject({ url: '/admin', headers: bearer(token) })).statusCode, 403);
    for (const [method, url, payload] of [
      ['GET', '/api/auth/me'],
      ['GET', '/api/auth/sessions'],
      ['POST', '/api/auth/logout', {}],
      ['POST', '/api/auth/logout-all', {}],
      ['GET', '/api/person/'],
      ['GET', '/api/auth/passkeys'],
      ['POST', '/api/auth/mfa/enroll', {}],
      ['POST', '/api/auth/password', { current_password: 'x', new_password: 'yyyyyyyyyyyy' }],
      ['DELETE', '/api/auth/me'],
    ] as const) {
      const res = await t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
      assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
      assert.equal(res.json().code, 'user_token_required', `${method} ${url}`);
      assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope"/);
    }
    // and the token still works: nothing above logged it out
    assert.equal((await t.app.inject({ url: '/anyone', headers: bearer(token) })).statusCode, 200);
  });

  test('removing a client revokes its tokens; rotating the secret revokes them and retires the old secret', async () => {
    const temp = await t.app.services.clients.create('temporary', ['reports:read']);
    const creds = { id: temp.client.id, secret: temp.secret };
    const before = await tokenFor(creds);
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(before.access_token) })).statusCode, 200);

    const rotated = await t.app.services.clients.rotateSecret('temporary');
    assert.notEqual(rotated.secret, creds.secret);
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(before.access_token) })).json().code, 'token_revoked');
    assertOAuthError(await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic(creds.id, creds.secret) }, freshIp()), 401, 'invalid_client');
    const fresh = await tokenFor({ id: creds.id, secret: rotated.secret });
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(fresh.access_token) })).statusCode, 200, 'issued after the rotation stamp');

    await t.app.services.clients.remove(creds.id);
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(fresh.access_token) })).json().code, 'token_revoked');
    assertOAuthError(await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic(creds.id, rotated.secret) }, freshIp()), 401, 'invalid_client');
    assert.deepEqual(await introspect(fresh.access_token), { active: false });

    const code = (expected: string) => (err: unknown) => (err as { code?: string }).code === expected;
    await assert.rejects(t.app.services.clients.create('reports', []), code('client_name_taken'));
    await assert.rejects(t.app.services.clients.create('no spaces', []), code('validation_failed'));
    await assert.rejects(t.app.services.clients.create('quotes', ['a"b']), code('validation_failed'));
    await assert.rejects(t.app.services.clients.remove('temporary'), code('client_not_found'));
    assert.deepEqual((await t.app.services.clients.list()).map((c) => c.name), ['billing', 'reports']);
  });

  test('introspection: the claims of active tokens, and active:false for every kind of revocation, expiry and foreign tokens', async () => {
    const client = await tokenFor(reports, 'reports:read');
    const seen = await introspect(client.access_token, other);
    const claims = decodeJwt(client.access_token);
    assert.deepEqual(seen, {
      active: true,
      sub: reports.id,
      client_id: reports.id,
      scope: 'reports:read',
      iss: t.config.jwt.issuer,
      aud: t.config.jwt.audience,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: 'Bearer',
    });
    assert.equal((await post('/oauth/introspect', { token: client.access_token }, { authorization: basic(reports.id, reports.secret) })).headers['cache-control'], 'no-store');

    await signupAndLogin(t.app, 'dora');
    const login = () => logIn('dora');
    const a = await login();
    const user = await introspect(a.access_token);
    assert.equal(user.active, true);
    assert.equal(user.username, 'dora');
    assert.deepEqual(user.roles, []);
    assert.equal(user.sub, decodeJwt(a.access_token).sub);
    assert.equal(user.sid, decodeJwt(a.access_token)['sid']);
    assert.equal(user.csrf, undefined);

    // refresh tokens: active while current; the spent one is not
    const refreshSeen = await introspect(a.refresh_token);
    assert.equal(refreshSeen.active, true);
    assert.equal(refreshSeen.username, 'dora');
    const rotated = (await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: a.refresh_token } })).json();
    assert.deepEqual(await introspect(a.refresh_token), { active: false });
    assert.equal((await introspect(rotated.refresh_token)).active, true);

    // kind "session": another session ended from this one
    const b = await login();
    const sessions = (await t.app.inject({ url: '/api/auth/sessions', headers: bearer(rotated.access_token) })).json() as Array<{ id: string; current: boolean }>;
    const sidB = decodeJwt(b.access_token)['sid'] as string;
    assert.ok(sessions.some((s) => s.id === sidB));
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/api/auth/sessions/${sidB}`, headers: bearer(rotated.access_token) })).statusCode, 204);
    assert.deepEqual(await introspect(b.access_token), { active: false });
    assert.deepEqual(await introspect(b.refresh_token), { active: false });
    assert.equal((await introspect(rotated.access_token)).active, true);

    // kind "jti": logout revokes the presented token (and its session)
    const c = await login();
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(c.access_token) })).statusCode, 204);
    assert.deepEqual(await introspect(c.access_token), { active: false });

    // kind "user": a role change voids every token issued before it
    const d = await login();
    const dora = await t.app.services.users.require('dora');
    await t.app.services.users.changeRole(dora.id, 'add', 'editor');
    assert.deepEqual(await introspect(d.access_token), { active: false });
    assert.deepEqual(await introspect(rotated.access_token), { active: false });
    assert.equal((await introspect(rotated.refresh_token)).active, true, 'a role change keeps sessions; they refresh into the new roles');

    // expired (past exp and the leeway), garbage, and a token signed by someone else
    clock.advance(1000);
    const e = await login();
    assert.equal((await introspect(e.access_token)).active, true);
    clock.advance((60 + 6) * 1000);
    assert.deepEqual(await introspect(e.access_token), { active: false });
    for (const junk of ['nonsense', 'a.b.c', `${e.refresh_token.slice(0, 23)}${'A'.repeat(43)}`]) assert.deepEqual(await introspect(junk), { active: false });
    const { privateKey } = await generateKeyPair('EdDSA');
    const foreign = await new SignJWT({ sub: 'x', jti: 'y', roles: [] })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: t.app.services.keys.ring.active.kid })
      .setIssuer(t.config.jwt.issuer)
      .setAudience(t.config.jwt.audience)
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 60)
      .sign(privateKey);
    assert.deepEqual(await introspect(foreign), { active: false });

    // the request itself: client authentication and a token parameter are required
    assertOAuthError(await post('/oauth/introspect', { token: e.access_token }), 401, 'invalid_client');
    assertOAuthError(await post('/oauth/introspect', { token_type_hint: 'access_token' }, { authorization: basic(reports.id, reports.secret) }), 400, 'invalid_request');
  });

  test('revocation (RFC 7009): an access token by its jti, a refresh token with its whole session; 200 for unknown tokens', async () => {
    await signupAndLogin(t.app, 'ernest');
    const login = () => logIn('ernest');
    const a = await login();
    const res = await revoke(a.access_token);
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '');
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(a.access_token) })).json().code, 'token_revoked');
    assert.equal((await introspect(a.refresh_token)).active, true, 'an access token alone: the session lives on');

    const b = await login();
    assert.equal((await revoke(b.refresh_token, other)).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: b.refresh_token } })).json().code, 'invalid_refresh_token');
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(b.access_token) })).json().code, 'token_revoked');

    // unknown, garbage, already revoked: the same 200, nothing happens (§2.2)
    for (const token of ['nonsense', b.refresh_token, a.access_token, `${'A'.repeat(22)}.${'B'.repeat(43)}`]) assert.equal((await revoke(token)).statusCode, 200);
    // an unknown token_type_hint is ignored (§2.2)
    assert.equal((await post('/oauth/revoke', { token: 'x', token_type_hint: 'id_token' }, { authorization: basic(reports.id, reports.secret) })).statusCode, 200);

    // a client's token: only by that client (§2.1)
    const own = await tokenFor(reports);
    assertOAuthError(await revoke(own.access_token, other), 400, 'unauthorized_client');
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(own.access_token) })).statusCode, 200);
    assert.equal((await revoke(own.access_token, reports)).statusCode, 200);
    assert.equal((await t.app.inject({ url: '/reports', headers: bearer(own.access_token) })).json().code, 'token_revoked');

    assertOAuthError(await post('/oauth/revoke', { token: own.access_token }), 401, 'invalid_client');
    const audit = await t.app.services.audit.list({ limit: 20, type: 'token_revoked' });
    assert.ok(audit.some((e) => e.details?.['jti'] === decodeJwt(own.access_token).jti && e.actor_id === reports.id));
  });

  test('the revocation feed: client-authenticated, ordered, paged, every kind, rows in force only', async () => {
    const feed = async (query: string, c: Creds = reports) => {
      const res = await t.app.inject({ url: `/api/revocations${query}`, headers: { authorization: basic(c.id, c.secret) } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      return res.json() as { revocations: Array<{ seq: number; kind: string; subject: string; not_before: number | null; expires_at: number }>; cursor: number; more: boolean };
    };

    const wrong = await t.app.inject({ url: '/api/revocations', headers: { authorization: basic(reports.id, 'nope') }, remoteAddress: freshIp() });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_client', 'Bastion’s own shape: this is not an OAuth endpoint');
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="bastion"');
    assert.equal((await t.app.inject({ url: '/api/revocations' })).json().code, 'invalid_client');
    const { access_token: userToken } = await signupAndLogin(t.app, 'feedreader');
    assert.equal((await t.app.inject({ url: '/api/revocations', headers: bearer(userToken), remoteAddress: freshIp() })).statusCode, 401, 'a user token is not a client');

    const start = await feed('');
    assert.equal(start.more, false);
    for (const r of start.revocations) assert.ok(r.expires_at * 1000 > clock.now(), 'only rows in force');

    // one of each kind
    await signupAndLogin(t.app, 'fiona');
    const fiona = await t.app.services.users.require('fiona');
    const loginF = () => logIn('fiona');
    const first = await loginF();
    await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(first.access_token) }); // jti + session
    const second = await loginF();
    await t.app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: bearer(second.access_token) }); // user
    await t.app.services.users.changeRole(fiona.id, 'add', 'editor'); // user again
    const key = await t.app.services.keys.rotate(); // keys
    const gone = await t.app.services.clients.create('short-lived', []);
    await t.app.services.clients.remove(gone.client.id); // user, subject = the client id

    const next = await feed(`?after=${start.cursor}`);
    assert.ok(next.cursor > start.cursor);
    const kinds = next.revocations.map((r) => `${r.kind}:${r.subject}`);
    const firstClaims = decodeJwt(first.access_token);
    assert.ok(kinds.includes(`jti:${firstClaims.jti}`), kinds.join());
    assert.ok(kinds.includes(`session:${firstClaims['sid']}`));
    assert.ok(kinds.includes(`keys:${key.kid}`));
    assert.ok(kinds.includes(`user:${gone.client.id}`));
    const userRows = next.revocations.filter((r) => r.kind === 'user' && r.subject === fiona.id);
    assert.equal(userRows.length, 2, 'log out everywhere and the role change');
    for (const r of userRows) {
      assert.equal(Number.isInteger(r.not_before), true);
      assert.ok(r.not_before! > (decodeJwt(second.access_token).iat as number), 'tokens issued before the stamp are void');
    }
    for (const r of next.revocations) {
      assert.equal(Number.isInteger(r.expires_at), true);
      if (r.kind !== 'user') assert.equal(r.not_before, null);
    }
    const seqs = next.revocations.map((r) => r.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'in seq order');
    assert.equal(next.cursor, seqs[seqs.length - 1]);

    // nothing new: empty, and the cursor stays
    const idle = await feed(`?after=${next.cursor}`);
    assert.deepEqual(idle, { revocations: [], cursor: next.cursor, more: false });
    assert.equal((await feed(`?after=${next.cursor + 1000}`)).cursor, next.cursor + 1000, 'never backwards');

    // pages of one: the same rows, cursors rising, `more` until the end
    const whole = await feed('?after=0');
    const paged: number[] = [];
    let cursor = 0;
    for (let page = await feed('?limit=1'); ; page = await feed(`?after=${cursor}&limit=1`)) {
      assert.ok(page.revocations.length <= 1);
      assert.ok(page.cursor >= cursor);
      paged.push(...page.revocations.map((r) => r.seq));
      cursor = page.cursor;
      if (!page.more) break;
    }
    assert.deepEqual(paged, whole.revocations.map((r) => r.seq));
    assert.equal(cursor, whole.cursor);

    // after=0: only rows still in force (here, past every token's lifetime and the key overlap)
    clock.advance(3 * 60_000);
    assert.deepEqual((await feed('?after=0')).revocations, []);
    assert.equal((await feed('?after=0')).cursor, whole.cursor, 'the head, so a new reader starts from here');

    for (const query of ['?limit=0', '?limit=1001', '?after=-1', '?after=abc', '?other=1']) {
      const res = await t.app.inject({ url: `/api/revocations${query}`, headers: { authorization: basic(reports.id, reports.secret) } });
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.json().code, 'validation_failed', query);
    }
  });

  test('client secrets and tokens never reach the log or the audit trail', async () => {
    const res = await post('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic(reports.id, reports.secret) });
    await post('/oauth/token', { grant_type: 'client_credentials', client_id: other.id, client_secret: `${other.secret}x` }, {}, freshIp());
    await post('/oauth/introspect', { token: res.json().access_token, client_id: reports.id, client_secret: reports.secret });
    const logs = logLines.join('\n');
    assert.ok(logs.includes('/oauth/token'), 'requests were logged');
    for (const secret of [reports.secret, other.secret, res.json().access_token]) assert.ok(!logs.includes(secret));
    const audit = JSON.stringify(await t.app.services.audit.list({ limit: 500 }));
    for (const secret of [reports.secret, other.secret, res.json().access_token]) assert.ok(!audit.includes(secret));
    const stored = await t.app.services.store.db.selectFrom('oauth_clients').selectAll().execute();
    assert.ok(!JSON.stringify(stored).includes(reports.secret), 'only a hash is stored');
  });
});

describe('introspection and revocation across two instances on one database', () => {
  test('a revocation through either instance reaches the other: introspection and the guard agree', async (t) => {
    const { dir, remove } = tempDir();
    // the default REVOCATION_POLL (500ms): the bound the README promises
    const a = await buildApp(testConfig({}, dir));
    const b = await buildApp(testConfig({}, dir));
    t.after(async () => {
      await a.close();
      await b.close();
      remove();
    });
    const made = await a.services.clients.create('gateway', ['reports:read']);
    const auth = { authorization: basic(made.client.id, made.secret), 'content-type': 'application/x-www-form-urlencoded' };
    const call = (app: typeof a, url: string, params: Record<string, string>) => app.inject({ method: 'POST', url, headers: auth, payload: new URLSearchParams(params).toString() });
    const active = async (app: typeof a, token: string) => (await call(app, '/oauth/introspect', { token })).json().active as boolean;
    const waitUntil = async (what: string, check: () => Promise<boolean>) => {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        if (Date.now() > deadline) assert.fail(`not within 10 s: ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };

    const pair = await signupAndLogin(a, 'grace');
    const client = (await call(a, '/oauth/token', { grant_type: 'client_credentials' })).json().access_token as string;
    assert.equal(await active(b, pair.access_token), true, 'B introspects A’s token');
    assert.equal(await active(b, client), true);

    // an access token revoked on A: inactive on B, and refused by B's guard
    assert.equal((await call(a, '/oauth/revoke', { token: pair.access_token })).statusCode, 200);
    await waitUntil('B sees A’s jti revocation', async () => !(await active(b, pair.access_token)));
    assert.equal((await b.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).json().code, 'token_revoked');

    // a refresh token revoked on B ends the session on A (its other access tokens too)
    const again = (await a.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: pair.refresh_token } })).json();
    assert.equal((await call(b, '/oauth/revoke', { token: again.refresh_token })).statusCode, 200);
    await waitUntil('A sees B’s session revocation', async () => (await a.inject({ url: '/api/secure', headers: bearer(again.access_token) })).statusCode === 401);
    assert.equal(await active(a, again.refresh_token), false);

    // a client removed through A: its token stops on B
    const other = await a.services.clients.create('other', []);
    const otherToken = (
      await b.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { authorization: basic(other.client.id, other.secret), 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials',
      })
    ).json().access_token as string;
    await a.services.clients.remove('other');
    await waitUntil('B sees the removal', async () => (await b.inject({ url: '/api/secure', headers: bearer(otherToken) })).statusCode === 401);
    assert.equal(await active(b, otherToken), false);
  });
});
