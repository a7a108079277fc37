/**
 * The seed contract (DESIGN.md §3), replayed over real HTTP against the real server:
 * one test per row of the table, asserting only what a client of the original seed
 * tutorials would see (status, JSON fields, headers, cookies).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { startServer, type RunningServer } from '../helpers/server.ts';

const ORIGIN = 'https://myclient.github.io';
const EVIL_ORIGIN = 'https://evil.example';
const ACCESS_TTL_SEC = 15 * 60; // ACCESS_TTL=15m below
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

let server: RunningServer;

// ---------------------------------------------------------------------------------------
// HTTP helpers: plain fetch, as a client would call.

interface CallInit {
  method?: string;
  headers?: Record<string, string>;
  json?: unknown;
}

function call(path: string, init: CallInit = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(init.json);
  }
  return fetch(`${server.url}${path}`, { method: init.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}), redirect: 'manual' });
}

type Json = Record<string, unknown>;

function assertJsonContentType(res: Response): void {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json\b/i, 'content-type is JSON');
}

/** Status + JSON content type; returns the parsed body. */
async function readJson(res: Response, status: number): Promise<unknown> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  assertJsonContentType(res);
  return JSON.parse(text) as unknown;
}

function asObject(value: unknown, what = 'body'): Json {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${what} is a JSON object`);
  return value as Json;
}

interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/** `{code, message[, details]}` and nothing else: no stack, no library fields. */
function assertOneShape(text: string): ErrorBody {
  const body = asObject(JSON.parse(text) as unknown, 'error body');
  const extra = Object.keys(body).filter((k) => !['code', 'message', 'details'].includes(k));
  assert.deepEqual(extra, [], `error body has only code, message, details: ${text.slice(0, 300)}`);
  assert.equal(typeof body['code'], 'string', 'error code is a string');
  assert.equal(typeof body['message'], 'string', 'error message is a string');
  assert.doesNotMatch(text, /\bstack\b|\n\s+at |node:internal|\.ts:\d+/i, 'no stack trace in the error body');
  return body as unknown as ErrorBody;
}

/**
 * The one error shape with the expected status and code; a 401 always carries a Bearer
 * challenge (RFC 7235 §3.1).
 */
async function assertErrorShape(res: Response, status: number, code: string): Promise<ErrorBody> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text.slice(0, 300)}`);
  assertJsonContentType(res);
  const body = assertOneShape(text);
  assert.equal(body.code, code, `error code: ${text}`);
  if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/, '401 carries WWW-Authenticate: Bearer');
  return body;
}

/** Any 4xx, as long as it is in the one error shape. */
async function assertClientErrorShape(res: Response): Promise<ErrorBody> {
  const text = await res.text();
  assert.ok(res.status >= 400 && res.status < 500, `4xx (got ${res.status}: ${text.slice(0, 200)})`);
  assertJsonContentType(res);
  return assertOneShape(text);
}

// ---------------------------------------------------------------------------------------
// Cookies: parse Set-Cookie the way a browser reads the attributes.

interface SetCookie {
  name: string;
  value: string;
  /** attribute name, lower-cased -> value (true for flags) */
  attrs: Map<string, string | true>;
}

function parseSetCookie(line: string): SetCookie {
  const [pair = '', ...rest] = line.split(';');
  const eq = pair.indexOf('=');
  assert.ok(eq > 0, `Set-Cookie has name=value: ${line}`);
  const attrs = new Map<string, string | true>();
  for (const part of rest) {
    const [k = '', ...v] = part.trim().split('=');
    if (k !== '') attrs.set(k.toLowerCase(), v.length > 0 ? v.join('=') : true);
  }
  return { name: pair.slice(0, eq).trim(), value: decodeURIComponent(pair.slice(eq + 1).trim()), attrs };
}

function setCookies(res: Response): Map<string, SetCookie> {
  const out = new Map<string, SetCookie>();
  for (const line of res.headers.getSetCookie()) {
    const cookie = parseSetCookie(line);
    assert.ok(!out.has(cookie.name), `cookie ${cookie.name} is set once`);
    out.set(cookie.name, cookie);
  }
  return out;
}

function requireCookie(cookies: Map<string, SetCookie>, name: string): SetCookie {
  const cookie = cookies.get(name);
  assert.ok(cookie, `Set-Cookie ${name} is present (got ${[...cookies.keys()].join(', ') || 'none'})`);
  return cookie;
}

/** A cookie that tells the browser to drop it: Max-Age<=0 or Expires in the past. */
function isCleared(cookie: SetCookie): boolean {
  const maxAge = cookie.attrs.get('max-age');
  const expires = cookie.attrs.get('expires');
  if (typeof maxAge === 'string' && Number(maxAge) <= 0) return true;
  return typeof expires === 'string' && Date.parse(expires) < Date.now();
}

// ---------------------------------------------------------------------------------------
// Logins.

/** Token-mode login on one of the seed routes; returns the access token. */
async function tokenLogin(path: string, credentials: Json): Promise<string> {
  const body = asObject(await readJson(await call(path, { method: 'POST', json: credentials }), 200));
  assert.equal(typeof body['access_token'], 'string', 'access_token is a string');
  return body['access_token'] as string;
}

interface CookieLogin {
  res: Response;
  body: Json;
  cookies: Map<string, SetCookie>;
  jwt: string;
  csrf: string;
}

/** Seed 001's cookie login, from the allowed origin. */
async function cookieLogin(credentials: Json): Promise<CookieLogin> {
  const res = await call('/authenticate', { method: 'POST', headers: { origin: ORIGIN }, json: credentials });
  const body = asObject(await readJson(res, 200));
  const cookies = setCookies(res);
  const jwt = requireCookie(cookies, 'jwt').value;
  const csrf = requireCookie(cookies, 'csrf_token').value;
  return { res, body, cookies, jwt, csrf };
}

function assertCorsFor(res: Response, origin: string): void {
  assert.equal(res.headers.get('access-control-allow-origin'), origin, 'allow-origin echoes the origin');
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true', 'allow-credentials is true');
}

function assertNoCors(res: Response, what: string): void {
  assert.equal(res.headers.get('access-control-allow-origin'), null, `${what}: no access-control-allow-origin`);
  assert.equal(res.headers.get('access-control-allow-credentials'), null, `${what}: no access-control-allow-credentials`);
}

/** Whole years from a YYYY-MM-DD birth date to today (the UTC calendar date, as the server counts). */
function ageToday(dob: string): number {
  const [y, m, d] = dob.split('-').map(Number) as [number, number, number];
  const now = new Date();
  const month = now.getUTCMonth() + 1;
  let age = now.getUTCFullYear() - y;
  if (month < m || (month === m && now.getUTCDate() < d)) age -= 1;
  return age;
}

// ---------------------------------------------------------------------------------------

describe('seed contract (DESIGN.md §3)', () => {
  before(async () => {
    server = await startServer({ CORS_ORIGINS: `http://localhost:4000,${ORIGIN}`, ACCESS_TTL: '15m' }, ['--demo']);
  });
  after(async () => {
    await server?.stop();
  });

  // --- seed 000: flask-restx + Flask-JWT-Extended ---------------------------------------

  test('000 GET /api/unsecure -> 200 JSON, no auth', async () => {
    const body = asObject(await readJson(await call('/api/unsecure'), 200));
    assert.equal(typeof body['message'], 'string');
  });

  test('000 GET /api/secure without token -> 401 Missing Authorization Header', async () => {
    const res = await call('/api/secure');
    const body = await assertErrorShape(res, 401, 'missing_token');
    assert.equal(body.message, 'Missing Authorization Header');
    assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
  });

  test('000 POST /api/login {"username":"kyle","password":"p1"} -> 200 {access_token, token_type, expires_in, refresh_token}', async () => {
    const res = await call('/api/login', { method: 'POST', json: { username: 'kyle', password: 'p1' } });
    const body = asObject(await readJson(res, 200));
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.match(String(body['access_token']), JWT_SHAPE, 'access_token is a JWT');
    assert.equal(body['token_type'], 'Bearer');
    assert.equal(body['expires_in'], ACCESS_TTL_SEC);
    assert.equal(typeof body['refresh_token'], 'string');
    assert.ok((body['refresh_token'] as string).length > 0, 'refresh_token is not empty');
    assert.notEqual(body['refresh_token'], body['access_token']);
  });

  test('000 GET /api/secure with Authorization: Bearer <token> -> 200 JSON', async () => {
    const token = await tokenLogin('/api/login', { username: 'kyle', password: 'p1' });
    const res = await call('/api/secure', { headers: { authorization: `Bearer ${token}` } });
    const body = asObject(await readJson(res, 200));
    assert.equal(typeof body['message'], 'string');
  });

  // --- seed 001: Flask-Security, cookies, CORS, roles -----------------------------------

  test('001 POST /authenticate {email,password} from allowed origin -> 200, jwt/bastion_refresh/csrf_token cookies, CORS credentials', async () => {
    for (const credentials of [
      { email: 'admin@example.com', password: 'password' },
      { email: 'kyle', password: 'p1' }, // seed 001 sends a uid in the email field
    ]) {
      const who = credentials.email;
      const { res, body, cookies } = await cookieLogin(credentials);
      assertCorsFor(res, ORIGIN);

      const jwt = requireCookie(cookies, 'jwt');
      assert.match(jwt.value, JWT_SHAPE, `${who}: jwt cookie holds a JWT`);
      assert.equal(jwt.attrs.get('httponly'), true, `${who}: jwt HttpOnly`);
      assert.equal(jwt.attrs.get('secure'), true, `${who}: jwt Secure`);
      assert.equal(jwt.attrs.get('path'), '/', `${who}: jwt Path=/`);
      assert.equal(jwt.attrs.get('max-age'), String(ACCESS_TTL_SEC), `${who}: jwt Max-Age = ACCESS_TTL`);
      assert.equal(String(jwt.attrs.get('samesite')).toLowerCase(), 'lax', `${who}: jwt SameSite=Lax`);

      const refresh = requireCookie(cookies, 'bastion_refresh');
      assert.ok(refresh.value.length > 0, `${who}: bastion_refresh has a value`);
      assert.equal(refresh.attrs.get('path'), '/api/auth/refresh', `${who}: bastion_refresh Path`);
      assert.equal(refresh.attrs.get('httponly'), true, `${who}: bastion_refresh HttpOnly`);

      const csrf = requireCookie(cookies, 'csrf_token');
      assert.equal(csrf.attrs.has('httponly'), false, `${who}: csrf_token is readable by the page`);
      assert.equal(typeof body['csrf_token'], 'string', `${who}: body carries csrf_token`);
      assert.ok(csrf.value.length > 0, `${who}: csrf_token has a value`);
      assert.equal(csrf.value, body['csrf_token'], `${who}: csrf_token cookie equals body.csrf_token`);

      // The page never sees the tokens themselves.
      assert.equal('access_token' in body, false, `${who}: no access_token in the body`);
      assert.equal('refresh_token' in body, false, `${who}: no refresh_token in the body`);
    }
  });

  test('001 GET /api/person/ with jwt cookie -> 200 [{name,email,age}] incl. Kyle, CORS credentials', async () => {
    const { jwt } = await cookieLogin({ email: 'kyle', password: 'p1' });
    const res = await call('/api/person/', {
      headers: { cookie: `jwt=${jwt}`, origin: ORIGIN, 'content-type': 'application/json' },
    });
    const people = await readJson(res, 200);
    assertCorsFor(res, ORIGIN);
    assert.ok(Array.isArray(people), 'body is an array');
    assert.ok(people.length >= 6, `every demo person is listed (got ${people.length})`);
    for (const p of people) {
      const person = asObject(p, 'person');
      assert.deepEqual(Object.keys(person).sort(), ['age', 'email', 'name'], `exactly name, email, age: ${JSON.stringify(p)}`);
    }
    assert.deepEqual(
      people.find((p) => (p as Json)['email'] === 'kyle@example.com'),
      { name: 'Kyle', email: 'kyle@example.com', age: ageToday('1990-04-12') },
    );
    const toby = people.find((p) => (p as Json)['email'] === 'toby@example.com') as Json | undefined;
    assert.equal(toby?.['age'], ageToday('1847-02-11'), 'ages are whole years from dob');
  });

  test('001 preflight OPTIONS /api/person/ from allowed origin -> 2xx, allow-headers, max-age 600, credentials', async () => {
    const res = await call('/api/person/', {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'content-type,authorization,x-csrf-token',
      },
    });
    await res.arrayBuffer();
    assert.ok(res.status >= 200 && res.status < 300, `preflight is 2xx (got ${res.status})`);
    assertCorsFor(res, ORIGIN);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase());
    for (const h of ['content-type', 'authorization', 'x-csrf-token']) assert.ok(allowed.includes(h), `allow-headers has ${h}: ${allowed.join(',')}`);
    assert.equal(res.headers.get('access-control-max-age'), '600');
    const methods = (res.headers.get('access-control-allow-methods') ?? '').toUpperCase();
    assert.match(methods, /\bGET\b/, 'allow-methods has GET');
  });

  test('001 preflight / GET from a not-allowed origin or Origin: null -> no access-control-allow-origin', async () => {
    const { jwt } = await cookieLogin({ email: 'kyle', password: 'p1' });
    for (const origin of [EVIL_ORIGIN, 'null']) {
      const preflight = await call('/api/person/', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'content-type,authorization' },
      });
      await preflight.arrayBuffer();
      assertNoCors(preflight, `OPTIONS from ${origin}`);
      assert.equal(preflight.headers.get('access-control-allow-headers'), null, `OPTIONS from ${origin}: no allow-headers`);

      const get = await call('/api/person/', { headers: { origin, cookie: `jwt=${jwt}`, 'content-type': 'application/json' } });
      await get.arrayBuffer();
      assertNoCors(get, `GET from ${origin}`);

      const unauth = await call('/api/person/', { headers: { origin } });
      await assertErrorShape(unauth, 401, 'missing_token');
      assertNoCors(unauth, `401 GET from ${origin}`);
    }
  });

  test('001 POST /login {"email":"admin@example.com","password":"password"} -> 200 {access_token}; bad password / unknown user -> 401 Invalid credentials', async () => {
    const res = await call('/login', { method: 'POST', json: { email: 'admin@example.com', password: 'password' } });
    const body = asObject(await readJson(res, 200));
    assert.match(String(body['access_token']), JWT_SHAPE);

    const wrong = await call('/login', { method: 'POST', json: { email: 'admin@example.com', password: 'not-the-password' } });
    const wrongBody = await assertErrorShape(wrong, 401, 'invalid_credentials');
    assert.equal(wrongBody.message, 'Invalid credentials');

    const unknown = await call('/login', { method: 'POST', json: { email: 'nobody@example.com', password: 'password' } });
    const unknownBody = await assertErrorShape(unknown, 401, 'invalid_credentials');
    assert.deepEqual(unknownBody, wrongBody, 'unknown user gets the same body as a wrong password');
  });

  test('001 GET /protected with token -> 200', async () => {
    const token = await tokenLogin('/login', { email: 'kyle', password: 'p1' });
    const body = asObject(await readJson(await call('/protected', { headers: { authorization: `Bearer ${token}` } }), 200));
    assert.equal(typeof body['message'], 'string');
    await assertErrorShape(await call('/protected'), 401, 'missing_token');
  });

  test('001 GET /admin: admin token -> 200, kyle token -> 403 forbidden, no token -> 401', async () => {
    const admin = await tokenLogin('/login', { email: 'admin@example.com', password: 'password' });
    const kyle = await tokenLogin('/login', { email: 'kyle@example.com', password: 'p1' });
    const ok = asObject(await readJson(await call('/admin', { headers: { authorization: `Bearer ${admin}` } }), 200));
    assert.equal(typeof ok['message'], 'string');
    await assertErrorShape(await call('/admin', { headers: { authorization: `Bearer ${kyle}` } }), 403, 'forbidden');
    await assertErrorShape(await call('/admin'), 401, 'missing_token');
  });

  test('001 POST /api/auth/logout by jwt cookie: no/wrong X-CSRF-Token -> 403 csrf_failed, right one -> 204 clears jwt, then jwt -> 401', async () => {
    const { jwt, csrf, body } = await cookieLogin({ email: 'kyle', password: 'p1' });
    assert.equal(csrf, body['csrf_token']);
    const cookie = `jwt=${jwt}`;

    await assertErrorShape(await call('/api/auth/logout', { method: 'POST', headers: { cookie, origin: ORIGIN } }), 403, 'csrf_failed');
    const wrong = await call('/api/auth/logout', { method: 'POST', headers: { cookie, origin: ORIGIN, 'x-csrf-token': `${csrf}x` } });
    await assertErrorShape(wrong, 403, 'csrf_failed');
    // the refusals did not end the session
    assert.equal((await call('/api/person/', { headers: { cookie } })).status, 200, 'jwt still works after refused logouts');

    const res = await call('/api/auth/logout', { method: 'POST', headers: { cookie, origin: ORIGIN, 'x-csrf-token': csrf } });
    assert.equal(res.status, 204, `logout with the right X-CSRF-Token is 204 (got ${res.status}: ${await res.text()})`);
    assertCorsFor(res, ORIGIN);
    const cleared = requireCookie(setCookies(res), 'jwt');
    assert.equal(cleared.value, '', 'jwt cookie emptied');
    assert.ok(isCleared(cleared), `jwt cookie cleared (Max-Age=0 or past Expires): ${JSON.stringify([...cleared.attrs])}`);
    assert.equal(cleared.attrs.get('path'), '/', 'cleared on the path it was set on');
    const clearedRefresh = requireCookie(setCookies(res), 'bastion_refresh');
    assert.ok(isCleared(clearedRefresh), 'bastion_refresh cookie cleared too');
    assert.equal(clearedRefresh.attrs.get('path'), '/api/auth/refresh', 'bastion_refresh cleared on its own path');

    const afterLogout = await call('/api/person/', { headers: { cookie, origin: ORIGIN } });
    await assertErrorShape(afterLogout, 401, 'token_revoked');
  });

  // --- seed 002: Flask-RESTful + Flask-JWT ("Authorization: JWT <token>") -----------------

  test('002 POST /auth {"username":"sherpa","password":"everest"} -> 200 {access_token}', async () => {
    const body = asObject(await readJson(await call('/auth', { method: 'POST', json: { username: 'sherpa', password: 'everest' } }), 200));
    assert.match(String(body['access_token']), JWT_SHAPE);
  });

  test('002 GET /mountain/everest with Authorization: JWT <token> -> 200 {"mountain":"everest"}; no token 401; garbage 401 invalid_token', async () => {
    const token = await tokenLogin('/auth', { username: 'sherpa', password: 'everest' });
    const res = await call('/mountain/everest', { headers: { authorization: `JWT ${token}` } });
    assert.deepEqual(await readJson(res, 200), { mountain: 'everest' });

    await assertErrorShape(await call('/mountain/everest'), 401, 'missing_token');

    const garbage = await call('/mountain/everest', { headers: { authorization: 'JWT abc.def.ghi' } });
    await assertErrorShape(garbage, 401, 'invalid_token');
    assert.match(garbage.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  // --- the one error shape on the seed routes, beyond the table ----------------------------
  // Regressions found while replaying the contract: each once escaped the one error shape.

  test('000 GET /api/secure with "Authorization: Bearer" and no token -> 401 invalid_token with a well-formed WWW-Authenticate (error_description must not carry raw double quotes)', async () => {
    const res = await call('/api/secure', { headers: { authorization: 'Bearer ' } }); // a client that sends `Bearer ${''}`
    await assertErrorShape(res, 401, 'invalid_token');
    const challenge = res.headers.get('www-authenticate') ?? '';
    // RFC 6750 §3: error_description is a quoted-string of %x20-21 / %x23-5B / %x5D-7E (no `"` or `\`).
    assert.match(
      challenge,
      /^Bearer realm="[^"\\]*", error="invalid_token"(, error_description="[\x20\x21\x23-\x5B\x5D-\x7E]*")?$/,
      `well-formed Bearer challenge: ${challenge}`,
    );
  });

  test('002 GET /mountain/<300-character name> -> 4xx in the one error shape (not Fastify\'s default 414 body)', async () => {
    const res = await call(`/mountain/${'x'.repeat(300)}`, { headers: { origin: ORIGIN } });
    const body = await assertClientErrorShape(res);
    assert.doesNotMatch(body.code, /^FST_/, 'a Bastion code, not a Fastify one');
    assertCorsFor(res, ORIGIN);
  });

  test('002 GET /mountain/50% (bad percent-encoding) -> 400 bad_request in the one error shape (not Fastify\'s default body)', async () => {
    const res = await call('/mountain/50%', { headers: { origin: ORIGIN } });
    await assertErrorShape(res, 400, 'bad_request');
    assertCorsFor(res, ORIGIN);
  });

  test('001 OPTIONS /api/person/ from allowed origin without Access-Control-Request-Method -> the one error shape (not text/plain "Invalid Preflight Request")', async () => {
    const res = await call('/api/person/', { method: 'OPTIONS', headers: { origin: ORIGIN } });
    // Either handled as a plain OPTIONS (2xx) or refused, but refused in the one shape.
    if (res.status >= 400) await assertClientErrorShape(res);
    else await res.arrayBuffer();
    assert.ok(res.status < 500, `no 5xx (got ${res.status})`);
  });

  // --- how another service verifies Bastion's tokens -------------------------------------

  test('JWKS GET /.well-known/jwks.json -> one public OKP Ed25519 key; /api/login token verifies against it with jose', async () => {
    const jwks = asObject(await readJson(await call('/.well-known/jwks.json'), 200)) as unknown as JSONWebKeySet;
    assert.ok(Array.isArray(jwks.keys), 'keys is an array');
    assert.equal(jwks.keys.length, 1, 'one key');
    const [key] = jwks.keys;
    assert.ok(key);
    assert.equal(key.kty, 'OKP');
    assert.equal(key.crv, 'Ed25519');
    assert.equal(key.alg, 'EdDSA');
    assert.equal(typeof key.kid, 'string');
    assert.ok((key.kid ?? '').length > 0, 'kid is not empty');
    assert.equal(typeof key['x'], 'string', 'public member x');
    assert.equal('d' in key, false, 'no private member d');

    const token = await tokenLogin('/api/login', { username: 'kyle', password: 'p1' });
    assert.equal(decodeProtectedHeader(token).kid, key.kid, 'token names the published kid');
    // iss is the issuer discovery publishes (PUBLIC_URL by default, RFC 8414)
    const { issuer } = asObject(await readJson(await call('/.well-known/oauth-authorization-server'), 200)) as { issuer: string };
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer, audience: 'bastion' });
    for (const claim of ['sub', 'iat', 'exp', 'jti', 'roles', 'iss', 'aud']) assert.ok(claim in payload, `claim ${claim} present`);
    assert.equal(payload.iss, issuer);
    assert.equal(payload.aud, 'bastion');
    assert.ok(Array.isArray(payload['roles']), 'roles is an array');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), ACCESS_TTL_SEC, 'exp - iat = ACCESS_TTL');

    // and a token that is not Bastion's does not verify
    const [h, p, s] = token.split('.') as [string, string, string];
    const tampered = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
    await assert.rejects(jwtVerify(tampered, createLocalJWKSet(jwks), { issuer, audience: 'bastion' }));
  });
});
