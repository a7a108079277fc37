/**
 * Behind a real reverse proxy (issue #9 part 5): Debian's nginx runs the configuration
 * printed in docs/deploy.md, exactly (placeholders filled), terminating TLS in front of
 * two `bastion serve` instances on one database (a SQLite file, or a PostgreSQL database
 * in the second pass). Instance A trusts nginx by address (TRUST_PROXY=127.0.0.1), B by
 * hop count (TRUST_PROXY=1), the two forms docs/deploy.md names.
 *
 * Addresses: nginx connects to the instances from 127.0.0.1, while the test's clients
 * connect to nginx from other loopback addresses (127.0.0.3, …), so what the instances
 * recorded tells the client's address apart from nginx's.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../helpers/app.ts';
import { testDatabaseUrl } from '../helpers/db.ts';
import {
  deployNginxConfig,
  headerCount,
  httpsCall,
  makeTestCa,
  startNginx,
  type HttpsResult,
  type IssuedCert,
  type RunningNginx,
  type TestCa,
} from '../helpers/nginx.ts';
import { freePort } from '../helpers/postgres.ts';
import { launchServer, type LaunchedServer } from '../helpers/server.ts';

const ORIGIN = 'https://myclient.github.io';
const EVIL_ORIGIN = 'https://evil.example';
const ACCESS_TTL_SEC = 15 * 60;
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;
/** LOGIN_IP_MAX_FAILURES below: failed logins from one client address before it is locked out */
const IP_MAX_FAILURES = 3;

let dir: string;
let remove: () => void;
let ca: TestCa;
let site: IssuedCert;
let a: LaunchedServer;
let b: LaunchedServer;
let nginx: RunningNginx;
let httpsPort: number;
let httpPort: number;

interface CallInit {
  method?: string;
  headers?: Record<string, string>;
  json?: unknown;
  /** the loopback address the client connects to nginx from (default 127.0.0.1) */
  from?: string;
}

/** A request to nginx's HTTPS port, trusting only the test CA. */
const call = (path: string, init: CallInit = {}): Promise<HttpsResult> =>
  httpsCall(`https://127.0.0.1:${httpsPort}${path}`, {
    ca: ca.ca,
    ...(init.method ? { method: init.method } : {}),
    ...(init.headers ? { headers: init.headers } : {}),
    ...(init.json !== undefined ? { json: init.json } : {}),
    ...(init.from ? { localAddress: init.from } : {}),
  });

/** A plain-HTTP request straight to `base` (no TLS, no nginx), from a chosen address. */
function directCall(base: string, path: string, init: CallInit): Promise<{ status: number; text: string; location?: string }> {
  const body = init.json === undefined ? undefined : JSON.stringify(init.json);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
        ...(init.from ? { localAddress: init.from } : {}),
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ...(res.headers.location ? { location: res.headers.location } : {}) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function expectStatus(res: HttpsResult, status: number): any {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
  return res.text === '' ? undefined : res.json();
}

interface Cookie {
  value: string;
  attrs: Map<string, string | true>;
}

function cookie(res: HttpsResult, name: string): Cookie {
  const line = res.setCookies.find((c) => c.startsWith(`${name}=`));
  assert.ok(line, `Set-Cookie ${name} (got ${res.setCookies.map((c) => c.split('=')[0]).join(', ') || 'none'})`);
  const [pair, ...parts] = line.split(';').map((s) => s.trim());
  const attrs = new Map<string, string | true>();
  for (const part of parts) {
    const [k = '', ...v] = part.split('=');
    attrs.set(k.toLowerCase(), v.length > 0 ? v.join('=') : true);
  }
  return { value: decodeURIComponent(pair!.slice(name.length + 1)), attrs };
}

/** Exactly one Access-Control-Allow-Origin (Bastion's; nginx adds none) naming the origin, with credentials. */
function assertCorsOnce(res: HttpsResult, origin: string): void {
  assert.equal(headerCount(res, 'access-control-allow-origin'), 1, 'one Access-Control-Allow-Origin');
  assert.equal(headerCount(res, 'access-control-allow-credentials'), 1, 'one Access-Control-Allow-Credentials');
  assert.equal(res.headers['access-control-allow-origin'], origin);
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
}

interface AuditEvent {
  type: string;
  ip: string | null;
  user_agent: string | null;
}

/** The audit log as an admin reads it (through nginx, from yet another address). */
async function auditEvents(): Promise<AuditEvent[]> {
  const from = '127.0.0.6';
  const login = expectStatus(await call('/login', { method: 'POST', json: { email: 'admin@example.com', password: 'password' }, from }), 200);
  const res = await call('/api/admin/audit?limit=200', { headers: { authorization: `Bearer ${login.access_token}` }, from });
  return expectStatus(res, 200).events as AuditEvent[];
}

/** How many requests an instance logged from this client address (Fastify logs request.ip as remoteAddress). */
const seenFrom = (server: LaunchedServer, ip: string): number => server.output().split(`"remoteAddress":"${ip}"`).length - 1;

describe('behind nginx, configured as docs/deploy.md says', () => {
  before(async () => {
    ({ dir, remove } = tempDir('bastion-nginx-e2e-'));
    ca = makeTestCa(dir);
    site = ca.issue('nginx-site');
    httpsPort = await freePort();
    do httpPort = await freePort();
    while (httpPort === httpsPort);
    const env = {
      DATABASE_URL: testDatabaseUrl(dir),
      CORS_ORIGINS: ORIGIN,
      COOKIE_SAMESITE: 'none',
      ACCESS_TTL: '15m',
      LOGIN_IP_MAX_FAILURES: String(IP_MAX_FAILURES),
      PUBLIC_URL: `https://localhost:${httpsPort}`,
      OUTBOX_DIR: join(dir, 'outbox'),
    };
    // A first: it migrates and seeds the demo accounts; B then finds them
    a = await launchServer({ ...env, TRUST_PROXY: '127.0.0.1' }, ['--demo']);
    b = await launchServer({ ...env, TRUST_PROXY: '1' }, ['--demo']);
    const hostPort = (url: string) => url.replace(/^http:\/\//, '');
    nginx = await startNginx(
      deployNginxConfig(),
      {
        HTTPS_LISTEN: `127.0.0.1:${httpsPort}`,
        HTTP_LISTEN: `127.0.0.1:${httpPort}`,
        SERVER_NAME: 'localhost',
        CERT: site.certFile,
        KEY: site.keyFile,
        UPSTREAM_A: hostPort(a.url),
        UPSTREAM_B: hostPort(b.url),
      },
      [httpsPort, httpPort],
    );
  });

  after(async () => {
    await nginx?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    remove?.();
  });

  test('000 through nginx over HTTPS: /api/unsecure (both instances answer), /api/secure 401 then 200 with Bearer, /api/login', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await call('/api/unsecure', { from: '127.0.0.2' });
      assert.equal(res.peerFingerprint256, site.fingerprint256, "nginx's certificate");
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(typeof expectStatus(res, 200).message, 'string');
    }
    // nginx alternates between the instances per worker: four requests reach both
    assert.ok(seenFrom(a, '127.0.0.2') > 0, `instance A answered:\n${nginx.log()}`);
    assert.ok(seenFrom(b, '127.0.0.2') > 0, `instance B answered:\n${nginx.log()}`);

    const missing = await call('/api/secure');
    assert.deepEqual(expectStatus(missing, 401), { code: 'missing_token', message: 'Missing Authorization Header' });
    assert.match(String(missing.headers['www-authenticate']), /^Bearer\b/);

    const login = expectStatus(await call('/api/login', { method: 'POST', json: { username: 'kyle', password: 'p1' } }), 200);
    assert.deepEqual(Object.keys(login).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.match(login.access_token, JWT_SHAPE);
    assert.equal(login.expires_in, ACCESS_TTL_SEC);
    // a token from one instance works on both: twice, so both instances verify it
    for (let i = 0; i < 2; i++) {
      assert.equal(typeof expectStatus(await call('/api/secure', { headers: { authorization: `Bearer ${login.access_token}` } }), 200).message, 'string');
    }
  });

  test('001 cross-origin cookie mode: /authenticate sets Secure SameSite=None cookies; /api/person/ with the cookie; preflight; CORS headers once', async () => {
    const auth = await call('/authenticate', { method: 'POST', headers: { origin: ORIGIN }, json: { email: 'kyle', password: 'p1' } });
    const body = expectStatus(auth, 200);
    assertCorsOnce(auth, ORIGIN);
    const jwt = cookie(auth, 'jwt');
    assert.match(jwt.value, JWT_SHAPE);
    for (const name of ['jwt', 'bastion_refresh', 'csrf_token']) {
      const c = cookie(auth, name);
      assert.equal(c.attrs.get('secure'), true, `${name}: Secure`);
      assert.equal(String(c.attrs.get('samesite')).toLowerCase(), 'none', `${name}: SameSite=None`);
    }
    assert.equal(jwt.attrs.get('httponly'), true);
    assert.equal(jwt.attrs.get('path'), '/');
    assert.equal(jwt.attrs.get('max-age'), String(ACCESS_TTL_SEC));
    assert.equal(cookie(auth, 'bastion_refresh').attrs.get('path'), '/api/auth/refresh');
    assert.equal(cookie(auth, 'csrf_token').value, body.csrf_token);

    for (let i = 0; i < 2; i++) {
      const people = await call('/api/person/', { headers: { cookie: `jwt=${jwt.value}`, origin: ORIGIN } });
      const list = expectStatus(people, 200) as Array<Record<string, unknown>>;
      assertCorsOnce(people, ORIGIN);
      assert.ok(list.some((p) => p['email'] === 'kyle@example.com' && p['name'] === 'Kyle'), 'Kyle is listed');
    }

    const preflight = await call('/api/person/', {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'content-type,authorization,x-csrf-token' },
    });
    assert.ok(preflight.status >= 200 && preflight.status < 300, `preflight 2xx (got ${preflight.status})`);
    assertCorsOnce(preflight, ORIGIN);
    const allowed = String(preflight.headers['access-control-allow-headers']).toLowerCase();
    for (const h of ['content-type', 'authorization', 'x-csrf-token']) assert.ok(allowed.includes(h), `allow-headers has ${h}: ${allowed}`);
    assert.equal(preflight.headers['access-control-max-age'], '600');

    const evil = await call('/api/person/', { method: 'OPTIONS', headers: { origin: EVIL_ORIGIN, 'access-control-request-method': 'GET' } });
    assert.equal(headerCount(evil, 'access-control-allow-origin'), 0, 'a stranger origin gets no CORS headers, from Bastion or nginx');

    // an unsafe request by cookie needs the CSRF header, which passes through nginx
    const refused = await call('/api/auth/logout', { method: 'POST', headers: { cookie: `jwt=${jwt.value}`, origin: ORIGIN } });
    assert.equal(expectStatus(refused, 403).code, 'csrf_failed');
    const logout = await call('/api/auth/logout', { method: 'POST', headers: { cookie: `jwt=${jwt.value}`, origin: ORIGIN, 'x-csrf-token': body.csrf_token } });
    assert.equal(logout.status, 204, logout.text);
    assert.equal(cookie(logout, 'jwt').attrs.get('secure'), true, 'the clearing cookie is Secure too');
  });

  test('001 /login + /admin, 002 /auth + "Authorization: JWT" on /mountain/everest', async () => {
    const admin = expectStatus(await call('/login', { method: 'POST', json: { email: 'admin@example.com', password: 'password' } }), 200);
    assert.equal(typeof expectStatus(await call('/admin', { headers: { authorization: `Bearer ${admin.access_token}` } }), 200).message, 'string');
    const sherpa = expectStatus(await call('/auth', { method: 'POST', json: { username: 'sherpa', password: 'everest' } }), 200);
    assert.deepEqual(expectStatus(await call('/mountain/everest', { headers: { authorization: `JWT ${sherpa.access_token}` } }), 200), { mountain: 'everest' });
    assert.equal(expectStatus(await call('/mountain/everest'), 401).code, 'missing_token');
  });

  test('plain HTTP to nginx is redirected to HTTPS', async () => {
    const res = await directCall(`http://127.0.0.1:${httpPort}`, '/api/unsecure', {});
    assert.equal(res.status, 301);
    assert.match(res.location ?? '', /^https:\/\/127\.0\.0\.1\/api\/unsecure$/);
  });

  test("failed logins are audited and locked out under the client's address, not nginx's", async () => {
    const client = '127.0.0.3';
    const other = '127.0.0.4';
    for (let i = 1; i <= IP_MAX_FAILURES; i++) {
      const res = await call('/api/login', {
        method: 'POST',
        json: { username: `ghost-${i}`, password: 'not-it' },
        headers: { 'user-agent': 'nginx-e2e-throttle' },
        from: client,
      });
      assert.equal(expectStatus(res, 401).code, 'invalid_credentials');
    }
    // the client's address is locked out, whichever instance answers and whatever it claims
    const attempts: Array<Record<string, string>> = [{}, { 'x-forwarded-for': other }, {}];
    for (const headers of attempts) {
      const res = await call('/api/login', { method: 'POST', json: { username: 'kyle', password: 'p1' }, headers, from: client });
      assert.equal(expectStatus(res, 429).code, 'too_many_attempts', `locked out (${JSON.stringify(headers)})`);
      assert.ok(Number(res.headers['retry-after']) > 0);
    }
    // …and only it: had the instances counted nginx's address, every client would be locked out now
    const res = await call('/api/login', { method: 'POST', json: { username: 'kyle', password: 'p1' }, headers: { 'user-agent': 'nginx-e2e-other' }, from: other });
    expectStatus(res, 200);

    const events = await auditEvents();
    const failed = events.filter((e) => e.user_agent === 'nginx-e2e-throttle' && e.type === 'login_failed');
    assert.equal(failed.length, IP_MAX_FAILURES, 'each failure audited');
    for (const e of failed) assert.equal(e.ip, client, "audited under the client's address");
    const ok = events.filter((e) => e.user_agent === 'nginx-e2e-other' && e.type === 'login_ok');
    assert.deepEqual(ok.map((e) => e.ip), [other]);
  });

  test('a client cannot choose its address with X-Forwarded-For: nginx overwrites it, the instances trust only nginx', async () => {
    const client = '127.0.0.5';
    const claims = ['6.6.6.6', '6.6.6.6, 7.7.7.7', '127.0.0.1'];
    for (const claim of claims) {
      const res = await call('/api/login', {
        method: 'POST',
        json: { username: 'ghost-spoof', password: 'not-it' },
        headers: { 'x-forwarded-for': claim, 'user-agent': 'nginx-e2e-spoof' },
        from: client,
      });
      assert.equal(expectStatus(res, 401).code, 'invalid_credentials');
    }
    // both instances (A trusting nginx's address, B one hop) saw these requests, from the client's address
    assert.ok(seenFrom(a, client) > 0 && seenFrom(b, client) > 0, `both instances saw ${client} (A ${seenFrom(a, client)}, B ${seenFrom(b, client)})`);
    for (const fake of ['6.6.6.6', '7.7.7.7']) {
      assert.equal(seenFrom(a, fake) + seenFrom(b, fake), 0, `no instance took ${fake} for the client's address`);
    }

    // the client's own lockout counted under its real address, so the claims did not spread it
    const locked = await call('/api/login', { method: 'POST', json: { username: 'kyle', password: 'p1' }, headers: { 'x-forwarded-for': '6.6.6.6' }, from: client });
    assert.equal(expectStatus(locked, 429).code, 'too_many_attempts');

    const events = (await auditEvents()).filter((e) => e.user_agent === 'nginx-e2e-spoof');
    assert.equal(events.length, claims.length);
    for (const e of events) assert.equal(e.ip, client, `audited under ${client}, not a claimed address (got ${e.ip})`);
  });

  test('the configuration overwrites X-Forwarded-For with the address nginx accepted, never appends to what the client sent', () => {
    // Appending would still be safe with the TRUST_PROXY forms above, but not with TRUST_PROXY=true (docs/deploy.md)
    assert.match(nginx.config, /^\s*proxy_set_header X-Forwarded-For\s+\$remote_addr;$/m);
    assert.doesNotMatch(nginx.config, /proxy_add_x_forwarded_for/);
    assert.match(nginx.config, /^\s*proxy_set_header X-Forwarded-Proto\s+\$scheme;$/m);
    const directives = nginx.config.replace(/#.*$/gm, '');
    assert.doesNotMatch(directives, /add_header\s+"?Access-Control/i, 'nginx adds no CORS headers of its own');
  });

  test('TRUST_PROXY=<nginx address>: a client reaching the instance directly is not trusted with its X-Forwarded-For', async () => {
    const res = await directCall(a.url, '/api/login', {
      method: 'POST',
      json: { username: 'ghost-direct', password: 'not-it' },
      headers: { 'x-forwarded-for': '6.6.6.6', 'user-agent': 'nginx-e2e-direct' },
      from: '127.0.0.7',
    });
    assert.equal(res.status, 401, res.text);
    const events = (await auditEvents()).filter((e) => e.user_agent === 'nginx-e2e-direct');
    assert.deepEqual(events.map((e) => e.ip), ['127.0.0.7']);
  });
});
