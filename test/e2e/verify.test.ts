/**
 * bastion/verify in a separate service (issue #12 part 4): Bastion on real HTTP, and a
 * Fastify service and a node:http service (Express's middleware shape) on loopback that
 * import the package by its subpath export, `bastion/verify` (the compiled dist/). The
 * services know only Bastion's issuer URL and a machine client's credentials.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { decodeProtectedHeader, generateKeyPair, SignJWT, type JSONWebKeySet } from 'jose';
import { createVerifier, DiscoveryError, expressVerifier, fastifyVerifier, FeedError, VerifyError, type Verifier } from 'bastion/verify';
import { listenTestApp, type TestApp } from '../helpers/app.ts';
import { ROOT } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery';

async function post(base: string, path: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
}

async function login(base: string, username: string): Promise<string> {
  const res = await post(base, '/api/auth/login', { username, password: PASSWORD });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { access_token: string }).access_token;
}

const get = (base: string, path: string, token?: string) => fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

/** Calls `path` downstream until it answers `status` (every 20 ms); fails after 15 s. Returns the ms since `since`. */
async function until(base: string, path: string, token: string, status: number, since: number): Promise<number> {
  for (;;) {
    const res = await get(base, path, token);
    await res.arrayBuffer();
    if (res.status === status) return performance.now() - since;
    if (performance.now() - since > 15_000) assert.fail(`${path} still answers ${res.status}, not ${status}, after 15 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Called once a revocation at Bastion has returned: waits until the service's verifier
 * refuses `token` (asked in-process every 10 ms, so observing costs next to nothing), checks
 * that the service answers 401 token_revoked, and records the lag from the revocation's
 * response. The issue's bound (2 s) is asserted in feed reads rather than milliseconds, so
 * that it holds on a busy machine: the refusal must come from the first read that began
 * after the revocation returned, which is at most the second read to complete after it;
 * reads come every pollInterval (1 s), so the lag is at most one interval plus one read.
 */
async function refusedDownstream(what: string, v: Verifier, base: string, path: string, token: string): Promise<void> {
  const since = performance.now();
  const before = v.status.syncs;
  for (;;) {
    try {
      await v.verify(token);
    } catch (err) {
      if (err instanceof VerifyError && err.code === 'token_revoked') break;
      throw err;
    }
    if (performance.now() - since > 10_000) assert.fail(`${what}: still accepted downstream 10 s later`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const lag = performance.now() - since;
  const reads = v.status.syncs - before;
  lags.push([what, lag]);
  assert.ok(reads <= 2, `${what}: refused by the first feed read that began after it (${reads} reads completed meanwhile, ${Math.round(lag)} ms)`);
  const res = await get(base, path, token);
  assert.equal(res.status, 401, what);
  assert.equal(((await res.json()) as { code: string }).code, 'token_revoked', what);
}

let bastion: { t: TestApp; url: string };
let client: { id: string; secret: string };
let service: FastifyInstance;
let serviceUrl: string;
let verifier: Verifier;
const lags: Array<[string, number]> = [];

before(async () => {
  bastion = await listenTestApp({ ACCESS_TTL: '10m', AUTH_RATE_LIMIT: '100000' });
  const { app } = bastion.t;
  for (const name of ['alice', 'bob']) {
    const res = await post(bastion.url, '/api/auth/signup', { username: name, password: PASSWORD });
    assert.equal(res.status, 201);
  }
  const made = await app.services.clients.create('downstream-reports', ['reports:read']);
  client = { id: made.client.id, secret: made.secret };

  // The other service: it knows the issuer and its client credentials, nothing else.
  service = Fastify();
  await service.register(fastifyVerifier, { issuer: bastion.url, clientId: client.id, clientSecret: client.secret, realm: 'reports' });
  verifier = service.verifier;
  service.get('/whoami', { preHandler: service.requireAuth }, async (request) => ({ sub: request.claims!.sub, roles: request.claims!.roles ?? null }));
  service.get('/reports', { preHandler: service.requireScopes('reports:read') }, async (request) => ({ for: request.claims!.sub }));
  service.get('/admin', { preHandler: service.requireRoles('admin') }, async () => ({ ok: true }));
  serviceUrl = await service.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  // the figure the issue's closing note reports (from the revocation's response to the first refusal)
  if (lags.length > 0) console.log(`downstream revocation lag (poll interval 1 s): ${lags.map(([what, ms]) => `${what} ${Math.round(ms)} ms`).join(', ')}`);
  await service?.close();
  await bastion?.t.close();
});

describe('bastion/verify in a Fastify service', () => {
  test('the package is imported by its subpath export and needs none of Bastion\u2019s server modules', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
    assert.deepEqual(pkg.exports['./verify'], { types: './dist/verify/index.d.ts', default: './dist/verify/index.js' });
    const dir = join(ROOT, 'dist/verify');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
      const specifiers = [...readFileSync(join(dir, file), 'utf8').matchAll(/^(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
      for (const s of specifiers) assert.match(s, /^(\.\/[\w-]+\.js|jose|fastify-plugin|node:[\w/]+)$/, `${file} imports ${s}`);
    }
  });

  test('a Bastion token works there; no token, garbage and foreign tokens are 401 with the RFC 6750 challenge', async () => {
    const token = await login(bastion.url, 'alice');
    const ok = await get(serviceUrl, '/whoami', token);
    assert.equal(ok.status, 200);
    const me = (await ok.json()) as { sub: string; roles: string[] };
    assert.deepEqual(me.roles, []);

    const none = await get(serviceUrl, '/whoami');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="reports"');
    assert.equal(((await none.json()) as { code: string }).code, 'missing_token');

    // signed by a key that is not Bastion's, under Bastion's kid and claims
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const kid = decodeProtectedHeader(token).kid!;
    const claims = { iss: bastion.url, aud: 'bastion', sub: me.sub, jti: 'x', roles: ['admin'] };
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    // the public key used as an HS256 secret (RFC 8725 §2.1), and alg none
    const jwks = (await (await fetch(`${bastion.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid, typ: 'at+jwt' })).toString('base64url')}.${token.split('.')[1]}.`;
    const [h, p, s] = token.split('.') as [string, string, string];
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), roles: ['admin'] })).toString('base64url')}.${s}`;
    for (const [what, bad] of [
      ['garbage', 'not-a-token'],
      ['forged', forged],
      ['alg confusion', confused],
      ['alg none', unsigned],
      ['tampered', tampered],
    ] as const) {
      const res = await get(serviceUrl, '/whoami', bad);
      assert.equal(res.status, 401, what);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="reports", error="invalid_token", error_description="[^"]+"$/, what);
      assert.equal(((await res.json()) as { code: string }).code, 'invalid_token', what);
    }
    const wrongScheme = await fetch(`${serviceUrl}/whoami`, { headers: { authorization: `Basic ${token}` } });
    assert.equal(wrongScheme.status, 401);
  });

  test('roles and scopes: a machine client\u2019s token carries the scope, a user\u2019s does not (403 insufficient_scope naming it)', async () => {
    const tokenRes = await fetch(`${bastion.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    assert.equal(tokenRes.status, 200);
    const machine = ((await tokenRes.json()) as { access_token: string }).access_token;
    const reports = await get(serviceUrl, '/reports', machine);
    assert.equal(reports.status, 200);
    assert.deepEqual(await reports.json(), { for: client.id });

    const user = await login(bastion.url, 'alice');
    const refused = await get(serviceUrl, '/reports', user);
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="insufficient_scope".*, scope="reports:read"$/);
    assert.equal((await get(serviceUrl, '/admin', user)).status, 403, 'no admin role');
    assert.equal((await get(serviceUrl, '/admin', machine)).status, 403, 'a client has no roles');

    // RFC 7009 revocation at Bastion reaches the service through the feed
    const revoke = await fetch(`${bastion.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
      body: new URLSearchParams({ token: machine }).toString(),
    });
    assert.equal(revoke.status, 200);
    await refusedDownstream('oauth/revoke', verifier, serviceUrl, '/reports', machine);
  });

  test('a logout on Bastion makes the token fail there at the next feed read (within 2 s); the other session keeps working', async () => {
    const first = await login(bastion.url, 'bob');
    const second = await login(bastion.url, 'bob');
    assert.equal((await get(serviceUrl, '/whoami', first)).status, 200);
    assert.equal((await post(bastion.url, '/api/auth/logout', {}, first)).status, 204);
    await refusedDownstream('logout', verifier, serviceUrl, '/whoami', first);
    assert.equal((await get(serviceUrl, '/whoami', second)).status, 200, 'the other session is not logged out');
  });

  test('log out everywhere: every token of the user fails there at the next feed read', async () => {
    const tokens = [await login(bastion.url, 'alice'), await login(bastion.url, 'alice')];
    for (const token of tokens) assert.equal((await get(serviceUrl, '/whoami', token)).status, 200);
    assert.equal((await post(bastion.url, '/api/auth/logout-all', {}, tokens[0])).status, 204);
    await refusedDownstream('logout-all', verifier, serviceUrl, '/whoami', tokens[1]!);
    assert.equal((await get(serviceUrl, '/whoami', tokens[0])).status, 401);
    // a new login afterwards works there at once
    assert.equal((await get(serviceUrl, '/whoami', await login(bastion.url, 'alice'))).status, 200);
  });

  test('a key rotation is followed: the feed reloads the keys, a token of the new key verifies, one of the old key still does', async () => {
    const old = await login(bastion.url, 'bob');
    const rotated = await bastion.t.app.services.keys.rotate();
    // the feed's `keys` row reloads the JWKS before any token of the new key is shown
    const since = performance.now();
    while (!(verifier.jwks()?.keys ?? []).some((k) => k.kid === rotated.kid)) {
      if (performance.now() - since > 15_000) assert.fail('the verifier did not load the new key');
      await new Promise((r) => setTimeout(r, 20));
    }
    const fresh = await login(bastion.url, 'bob');
    assert.equal(decodeProtectedHeader(fresh).kid, rotated.kid);
    assert.equal((await get(serviceUrl, '/whoami', fresh)).status, 200);
    assert.equal((await get(serviceUrl, '/whoami', old)).status, 200, 'the retired key verifies until its tokens expire');
  });

  test('the Express-style middleware on a node:http server: the same answers', async () => {
    const guard = expressVerifier(verifier);
    const scoped = expressVerifier(verifier, { scopes: ['reports:read'] });
    // node:http calling the middleware as Express does: (req, res, next)
    const server: Server = createServer((req, res) => {
      const mw = req.url === '/reports' ? scoped : guard;
      mw(req, res, (err?: unknown) => {
        if (err) {
          res.writeHead(500).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: (req as { claims?: { sub: string } }).claims?.sub }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const token = await login(bastion.url, 'alice');
      const ok = await get(base, '/', token);
      assert.equal(ok.status, 200);
      assert.equal(typeof ((await ok.json()) as { sub: string }).sub, 'string');
      const none = await get(base, '/');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      const bad = await get(base, '/', `${token}x`);
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
      assert.equal((await get(base, '/reports', token)).status, 403);
      assert.equal((await post(bastion.url, '/api/auth/logout', {}, token)).status, 204);
      await refusedDownstream('logout (express)', verifier, base, '/', token);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('createVerifier refuses what it cannot trust, at start', () => {
  test('metadata naming another issuer (RFC 8414 §3.3), a plain-http issuer off loopback, wrong client credentials', async () => {
    // a server that answers with Bastion's own metadata, under another address
    const doc = await (await fetch(`${bastion.url}/.well-known/oauth-authorization-server`)).json();
    const impostor = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc)));
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    try {
      const other = `http://127.0.0.1:${(impostor.address() as { port: number }).port}`;
      await assert.rejects(createVerifier({ issuer: other }), (err: unknown) => err instanceof DiscoveryError && /RFC 8414 §3\.3/.test(err.message));
    } finally {
      await new Promise((resolve) => impostor.close(resolve));
    }
    await assert.rejects(createVerifier({ issuer: 'http://auth.example.com' }), (err: unknown) => err instanceof TypeError && /https/.test(err.message));
    await assert.rejects(
      createVerifier({ issuer: bastion.url, clientId: client.id, clientSecret: 'wrong' }),
      (err: unknown) => err instanceof FeedError && /invalid_client/.test(err.message) && !err.message.includes('wrong'),
    );
    // a token for another audience
    const strict = await createVerifier({ issuer: bastion.url, audience: 'reports-api' });
    await assert.rejects(strict.verify(await login(bastion.url, 'alice')), (err: unknown) => err instanceof VerifyError && err.code === 'invalid_token');
    await strict.close();
  });

  test('feed outage: the last state is kept and retried; status says so; failClosedAfter refuses with 503 until the feed is back', async () => {
    let outage = false;
    const seen: string[] = [];
    const faulty: typeof fetch = (input, init) =>
      outage && String(input).includes('/api/revocations') ? Promise.reject(new TypeError('fetch failed (test: Bastion unreachable)')) : fetch(input, init);
    const app = Fastify();
    await app.register(fastifyVerifier, {
      issuer: bastion.url,
      clientId: client.id,
      clientSecret: client.secret,
      pollInterval: 100,
      failClosedAfter: 1500,
      fetch: faulty,
      onError: (err) => seen.push(err.message),
    });
    app.get('/whoami', { preHandler: app.requireAuth }, async (request) => ({ sub: request.claims!.sub }));
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const v = app.verifier;
      const token = await login(bastion.url, 'alice');
      const doomed = await login(bastion.url, 'alice');
      assert.equal(v.healthy, true);
      outage = true;
      const since = performance.now();
      // revoked at Bastion while the feed is down: not seen yet, the rest keeps working
      assert.equal((await post(bastion.url, '/api/auth/logout', {}, doomed)).status, 204);
      await until(base, '/whoami', token, 503, since);
      assert.equal(v.healthy, false);
      assert.match(v.status.lastError?.message ?? '', /unreachable/);
      assert.ok(seen.length >= 2, 'each failed read is reported');
      const refused = await get(base, '/whoami', token);
      assert.equal(((await refused.json()) as { code: string }).code, 'verifier_unavailable');
      assert.equal(refused.headers.get('www-authenticate'), null);

      outage = false;
      await until(base, '/whoami', token, 200, performance.now());
      assert.equal(v.healthy, true);
      assert.equal(v.status.lastError, null);
      assert.equal((await get(base, '/whoami', doomed)).status, 401, 'the logout made during the outage is applied');
    } finally {
      await app.close();
    }
  });

  test('without failClosedAfter a feed outage does not stop verification (fail open on the last state)', async () => {
    let outage = false;
    const v = await createVerifier({
      issuer: bastion.url,
      clientId: client.id,
      clientSecret: client.secret,
      pollInterval: 100,
      fetch: (input, init) => (outage && String(input).includes('/api/revocations') ? Promise.reject(new TypeError('down')) : fetch(input, init)),
    });
    try {
      const token = await login(bastion.url, 'bob');
      outage = true;
      await assert.rejects(v.sync(), /down/);
      assert.equal(v.status.lastError?.message.includes('down'), true);
      assert.equal((await v.verify(token)).iss, bastion.url);
    } finally {
      await v.close();
    }
  });
});
