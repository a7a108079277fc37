/**
 * The fuzz harness: one Bastion (demo data, real SQLite file, low argon2 cost) with real
 * tokens taken at setup, a set of forged tokens, the secrets no response may carry, and
 * the checks every response must pass. Used by fuzz.test.ts.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID, sign as signBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { ERRORS } from '../../src/errors/codes.ts';
import type { Database } from '../../src/storage/tables.ts';
import { buildTestApp, tempDir, type TestApp } from '../helpers/app.ts';

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;
export type Method = (typeof METHODS)[number];

/** Stack traces and library text: never in a response body. */
export const LEAK = /\bat .+:\d+:\d+|node_modules|Error:|FST_|SQLITE|TypeError|SyntaxError/;
/** Files that must never be served (path traversal): the database, package.json, PEM keys. */
export const FILE_MARKERS = ['SQLite format 3', '"devDependencies"', 'PRIVATE KEY-----'];
/** Routes the OpenAPI document hides, fuzzed as well. */
export const EXTRA_ROUTES = ['/', '/docs', '/openapi.json', '/.well-known/jwks.json', '/healthz', '/readyz'];
/**
 * Tables a rejected request may write on purpose: a failed login is audited and counted
 * by the login throttle, and every request to an auth route counts against the shared
 * per-IP flood limit. Every other table must be unchanged by a 4xx.
 */
export const WRITTEN_ON_REJECTION = new Set(['audit_events', 'login_attempts', 'rate_limits']);

/**
 * Replaced at send time by a freshly minted, valid access token of one of two accounts made
 * for the fuzzer (a plain user and an admin), so revocations, logouts and even account
 * deletion during fuzzing do not starve the valid paths nor destroy the demo accounts.
 */
export const FRESH = { user: '@@FRESH_USER_TOKEN@@', admin: '@@FRESH_ADMIN_TOKEN@@' } as const;
/** The csrf claim of minted tokens; the X-CSRF-Token generator offers it. */
export const FUZZ_CSRF = 'fuzz-csrf-0123456789abcdef';

export interface Route {
  readonly method: Method;
  readonly template: string;
  readonly params: readonly string[];
  readonly bodySchema?: JsonSchema;
  readonly guarded: boolean;
}

export interface JsonSchema {
  readonly $ref?: string;
  readonly type?: string | string[];
  readonly properties?: Record<string, JsonSchema>;
  readonly required?: string[];
  readonly items?: JsonSchema;
  readonly anyOf?: JsonSchema[];
  readonly oneOf?: JsonSchema[];
  readonly enum?: unknown[];
  readonly const?: unknown;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly format?: string;
  readonly pattern?: string;
}

export interface Forged {
  readonly name: string;
  readonly token: string;
  /** the code the guard must answer with */
  readonly expect: 'invalid_token' | 'token_expired';
}

export interface Fixture {
  readonly t: TestApp;
  readonly app: FastifyInstance;
  readonly routes: readonly Route[];
  /** every distinct path template, with the methods the server documents for it */
  readonly templates: ReadonlyMap<string, ReadonlySet<Method>>;
  readonly schemas: Record<string, JsonSchema>;
  readonly userIds: readonly string[];
  readonly sessionIds: readonly string[];
  /** unmutated access tokens from real logins at setup (kyle by header, admin by header, kyle by cookie) */
  readonly realAccess: readonly string[];
  /** refresh tokens from those logins; never presented unmutated where data must stay unchanged */
  readonly realRefresh: readonly string[];
  readonly csrf: string;
  readonly kid: string;
  readonly forged: readonly Forged[];
  /** what no response may carry: fixed ones plus every stored hash and private key (refreshed per test) */
  secrets: { name: string; value: string }[];
  readonly fixedSecrets: readonly { name: string; value: string }[];
  mint(who: keyof typeof FRESH): Promise<string>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- counters

export const stats = {
  inject: 0,
  raw: 0,
  fiveXX: 0,
  shape: 0,
  leaks: 0,
  dataChanged: 0,
  wrongAnswer: 0,
  rejectedUnchanged: 0,
  byClass: new Map<string, number>(),
  /** error code (or status for successes) -> count; printed with FUZZ_VERBOSE=1 */
  byCode: new Map<string, number>(),
  rawClosedWithoutAnswer: 0,
};

const pathTemplate = (url: string): string => url.split('?')[0]!.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '{id}').slice(0, 60);

export function summary(): string {
  const classes = [...stats.byClass.entries()]
    .sort()
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return (
    `fuzz: ${stats.inject + stats.raw} requests (${stats.inject} inject, ${stats.raw} raw HTTP), ` +
    `${stats.fiveXX} 5xx, ${stats.shape} shape violations, ${stats.leaks} leaks, ${stats.dataChanged} data changes by rejected requests, ` +
    `${stats.wrongAnswer} wrong answers; ${stats.rejectedUnchanged} rejected requests checked for unchanged data; ` +
    `statuses: ${classes}; raw connections closed without an answer: ${stats.rawClosedWithoutAnswer}` +
    (process.env['FUZZ_VERBOSE']
      ? '\n' +
        [...stats.byCode.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `  ${v}\t${k}`)
          .join('\n')
      : '')
  );
}

// ---------------------------------------------------------------- requests

export interface Req {
  readonly method: Method;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload?: string;
}

export interface Res {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const flatten = (headers: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join('\n') : String(v)]),
  );

async function materialize(fx: Fixture, text: string): Promise<string> {
  let out = text;
  for (const who of Object.keys(FRESH) as (keyof typeof FRESH)[]) {
    while (out.includes(FRESH[who])) out = out.replace(FRESH[who], await fx.mint(who));
  }
  return out;
}

/** Fills the fresh-token placeholders (minting may create a fuzz account, so do it before a snapshot). */
export async function prepare(fx: Fixture, req: Req): Promise<Req> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = await materialize(fx, v);
  const payload = req.payload === undefined ? undefined : await materialize(fx, req.payload);
  return { method: req.method, url: req.url, headers, ...(payload !== undefined ? { payload } : {}) };
}

/** Sends through app.inject(); fresh-token placeholders become real tokens now. */
export async function send(fx: Fixture, req: Req): Promise<Res> {
  const ready = await prepare(fx, req);
  const res = await fx.app.inject({ method: ready.method, url: ready.url, headers: ready.headers, ...(ready.payload !== undefined ? { payload: ready.payload } : {}) });
  stats.inject += 1;
  count(res.statusCode);
  let code = String(res.statusCode);
  if (res.statusCode >= 400 && req.method !== 'HEAD') {
    try {
      code = `${res.statusCode} ${(JSON.parse(res.body) as { code?: string }).code}`;
    } catch {
      // checkResponse reports it
    }
  } else if (res.statusCode < 400) code = `${res.statusCode} ${req.method} ${pathTemplate(req.url)}`;
  stats.byCode.set(code, (stats.byCode.get(code) ?? 0) + 1);
  await settled(fx.app);
  return { status: res.statusCode, headers: flatten(res.headers), body: res.body };
}

/**
 * Waits for work a request started after its response (mails sent later, e.g. a reset
 * link stored and mailed after the 202), so its writes are not blamed on the next request.
 */
export async function settled(app: FastifyInstance): Promise<void> {
  const recovery = (app.services as { recovery?: { idle?: () => Promise<void> } }).recovery;
  await recovery?.idle?.();
}

export function count(status: number): void {
  const key = `${Math.floor(status / 100)}xx`;
  stats.byClass.set(key, (stats.byClass.get(key) ?? 0) + 1);
}

const preview = (v: unknown, max = 600): string => {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
};

export function explain(req: Req | string, res: Res): string {
  const r = typeof req === 'string' ? preview(req) : `${req.method} ${preview(req.url, 300)} headers=${preview(req.headers)} body=${preview(req.payload ?? null, 300)}`;
  return `request: ${r}\nresponse: ${res.status} headers=${preview(res.headers)} body=${preview(res.body)}`;
}

type Kind = 'fiveXX' | 'shape' | 'leaks' | 'wrongAnswer' | 'dataChanged';

/**
 * The OAuth endpoints (issue #12) answer errors in the shape RFC 6749 §5.2 requires,
 * `{error, error_description}`, instead of Bastion's own (errors/http.ts, route config
 * `oauthErrors`). Only a POST reaches them: other methods get Bastion's 404/405.
 */
const OAUTH_ROUTE = /^POST \/oauth\/(token|introspect|revoke)\/?$/;
/** RFC 6749 §5.2, RFC 7009 §2.2.1, and §4.1.2.1's server_error / temporarily_unavailable */
const OAUTH_ERRORS = new Set(['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'unsupported_token_type', 'server_error', 'temporarily_unavailable']);

/** `METHOD /path` as routed (dot segments resolved, as the client library does). */
function requestLine(req: Req | string): string {
  const m = typeof req === 'string' ? /([A-Z]+) (\S+) HTTP\//.exec(req) : [null, req.method, req.url];
  if (!m) return '';
  try {
    return `${m[1]} ${new URL(m[2]!, 'http://fuzz').pathname}`;
  } catch {
    return '';
  }
}

function checkOAuthError(req: Req | string, res: Res, body: Record<string, unknown>): void {
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'error,error_description') fail('shape', `OAuth error body is not {error, error_description}: ${keys}`, req, res);
  const error = String(body['error']);
  if (!OAUTH_ERRORS.has(error) && !(error in ERRORS)) fail('shape', `unknown OAuth error ${error}`, req, res);
  if (!/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/.test(String(body['error_description']))) fail('shape', 'error_description outside RFC 6749 §5.2 characters', req, res);
  if (res.status === 401 && !(res.headers['www-authenticate'] ?? '').startsWith('Basic')) fail('shape', 'OAuth 401 without a Basic challenge', req, res);
}

export function fail(kind: Kind, message: string, req: Req | string, res: Res): never {
  stats[kind] += 1;
  assert.fail(`${message}\n${explain(req, res)}`);
}

/**
 * The invariants every response keeps: no 5xx; errors are JSON `{code, message[, details]}`
 * with a known code whose status matches; no stack trace or library text; no secret
 * anywhere; no file from outside the served directories.
 */
export function checkResponse(fx: Fixture, req: Req | string, res: Res, opts: { head?: boolean } = {}): void {
  if (res.status >= 500) fail('fiveXX', `server error ${res.status}`, req, res);
  const headerText = Object.entries(res.headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  for (const s of fx.secrets) {
    if (res.body.includes(s.value) || headerText.includes(s.value)) fail('leaks', `response carries a secret: ${s.name}`, req, res);
  }
  for (const marker of FILE_MARKERS) if (res.body.includes(marker)) fail('leaks', `response serves a private file (${marker})`, req, res);
  const type = res.headers['content-type'] ?? '';
  // Swagger UI's own JavaScript and CSS (2xx, not JSON) are library text by nature.
  const asset = res.status < 400 && /javascript|css|image|font|octet-stream/.test(type);
  if (!asset && LEAK.test(res.body)) fail('leaks', `stack trace or library text in the body: ${LEAK.exec(res.body)![0]}`, req, res);
  if (res.status < 400) return;

  if (!/^application\/json(;|$)/.test(type)) fail('shape', `error without application/json (content-type: ${type || 'none'})`, req, res);
  if (opts.head) return; // HEAD answers carry headers only
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    fail('shape', 'error body is not JSON', req, res);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail('shape', 'error body is not an object', req, res);
  const o = body as Record<string, unknown>;
  // on the wire, a request can fail below routing (a body that never arrives): then Bastion's shape
  const oneShape = typeof req === 'string' && 'code' in o;
  if (OAUTH_ROUTE.test(requestLine(req)) && !oneShape) return checkOAuthError(req, res, o);
  const extra = Object.keys(o).filter((k) => k !== 'code' && k !== 'message' && k !== 'details');
  if (extra.length > 0) fail('shape', `error body has other keys: ${extra.join(', ')}`, req, res);
  if (typeof o['code'] !== 'string' || typeof o['message'] !== 'string') fail('shape', 'error body lacks string code/message', req, res);
  const known = (ERRORS as Record<string, { status: number }>)[o['code']];
  if (!known) fail('shape', `unknown error code ${String(o['code'])}`, req, res);
  if (known.status !== res.status) fail('shape', `code ${String(o['code'])} is documented as ${known.status}, answered ${res.status}`, req, res);
  // client authentication (the revocation feed) challenges with Basic, every token failure with Bearer
  const scheme = o['code'] === 'invalid_client' ? 'Basic' : 'Bearer';
  if (res.status === 401 && !(res.headers['www-authenticate'] ?? '').startsWith(scheme)) {
    fail('shape', `401 without a ${scheme} WWW-Authenticate challenge`, req, res);
  }
  if (res.status === 405 && !res.headers['allow']) fail('shape', '405 without Allow', req, res);
}

// ---------------------------------------------------------------- database

export type Snapshot = Record<string, string[]>;

/** Bastion's own tables, on either dialect (the migration bookkeeping left out). */
async function tableNames(app: FastifyInstance): Promise<string[]> {
  const tables = await app.services.store.db.introspection.getTables();
  return tables
    .map((t) => t.name)
    .filter((name) => !name.startsWith('kysely_') && name !== 'bastion_migration_lock')
    .sort();
}

/** Every row of every table (except those written on purpose by rejected logins), sorted. */
export async function snapshot(app: FastifyInstance): Promise<Snapshot> {
  const out: Snapshot = {};
  for (const name of await tableNames(app)) {
    if (WRITTEN_ON_REJECTION.has(name)) continue;
    const rows = await app.services.store.db
      .selectFrom(name as keyof Database)
      .selectAll()
      .execute();
    out[name] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

export function diffSnapshots(before: Snapshot, after: Snapshot): string | null {
  const lines: string[] = [];
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = new Set(before[table] ?? []);
    const b = new Set(after[table] ?? []);
    for (const row of a) if (!b.has(row)) lines.push(`${table} - ${row}`);
    for (const row of b) if (!a.has(row)) lines.push(`${table} + ${row}`);
  }
  return lines.length === 0 ? null : lines.slice(0, 20).join('\n');
}

// ---------------------------------------------------------------- setup

interface OpenApi {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: JsonSchema }> }; security?: unknown[] }>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const b64json = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
export const decodePart = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;

/** Secret-looking columns, read from every table: hashes, TOTP secrets and private key material. */
async function storedSecrets(app: FastifyInstance): Promise<{ name: string; value: string }[]> {
  const out: { name: string; value: string }[] = [];
  for (const table of await tableNames(app)) {
    const rows = (await app.services.store.db
      .selectFrom(table as keyof Database)
      .selectAll()
      .execute()) as Record<string, unknown>[];
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (!/hash|private|secret/i.test(column) || typeof value !== 'string' || value.length < 16) continue;
        out.push({ name: `${table}.${column}`, value });
        if (/jwk/i.test(column)) {
          const d = (JSON.parse(value) as JWK).d;
          if (typeof d === 'string' && d.length >= 16) out.push({ name: `a signing key's private d (${table}.${column})`, value: d });
        }
      }
    }
  }
  return out;
}

export async function setup(): Promise<Fixture> {
  const outbox = tempDir('bastion-fuzz-outbox-');
  const t = await buildTestApp({
    DEMO: 'true',
    BODY_LIMIT: '65536',
    OUTBOX_DIR: join(outbox.dir, 'outbox'),
    // Keep the login path reachable under fuzzing (every inject comes from 127.0.0.1) while
    // still letting account lockouts happen and expire within the run.
    AUTH_RATE_LIMIT: '1000000',
    LOGIN_MAX_FAILURES: '25',
    LOGIN_IP_MAX_FAILURES: '100000',
    LOGIN_LOCKOUT: '1s',
    LOGIN_LOCKOUT_MAX: '2s',
  });
  const { app } = t;

  const post = async (url: string, payload: unknown) => {
    const res = await app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });
    assert.equal(res.statusCode, 200, `setup login ${url}: ${res.body}`);
    return res;
  };
  const kyle = (await post('/api/auth/login', { username: 'kyle', password: 'p1' })).json() as { access_token: string; refresh_token: string };
  const admin = (await post('/login', { email: 'admin@example.com', password: 'password' })).json() as {
    access_token: string;
    refresh_token: string;
  };
  const cookieLogin = await post('/authenticate', { username: 'kyle', password: 'p1' });
  const cookie = (name: string) => {
    const c = cookieLogin.cookies.find((x) => x.name === name);
    assert.ok(c, `setup: cookie ${name} missing`);
    return c.value;
  };
  const cookieJwt = cookie('jwt');
  const cookieRefresh = cookie('bastion_refresh');
  const csrf = cookie('csrf_token');

  // routes, from the OpenAPI document
  const doc = (await app.inject({ url: '/openapi.json' })).json() as OpenApi;
  const routes: Route[] = [];
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      const method = m.toUpperCase() as Method;
      if (!METHODS.includes(method)) continue;
      const bodySchema = op.requestBody?.content?.['application/json']?.schema;
      routes.push({
        method,
        template,
        params: [...template.matchAll(/\{(\w+)\}/g)].map((x) => x[1]!),
        ...(bodySchema ? { bodySchema } : {}),
        guarded: Array.isArray(op.security) && op.security.length > 0,
      });
    }
  }
  for (const template of EXTRA_ROUTES) {
    if (!routes.some((r) => r.template === template && r.method === 'GET')) routes.push({ method: 'GET', template, params: [], guarded: false });
  }
  const templates = new Map<string, Set<Method>>();
  for (const r of routes) templates.set(r.template, (templates.get(r.template) ?? new Set<Method>()).add(r.method));

  const db = app.services.store.db;
  const keyRow = await db.selectFrom('signing_keys').selectAll().executeTakeFirstOrThrow();
  const privateJwk = JSON.parse(keyRow.private_jwk) as JWK;
  const publicJwkText = keyRow.public_jwk;
  assert.ok(typeof privateJwk.d === 'string' && privateJwk.d.length >= 32, 'setup: signing key has no d');

  // token material
  const [h, p] = kyle.access_token.split('.') as [string, string, string];
  const header = decodePart(h) as JWTHeaderParameters;
  const claims = decodePart(p) as JWTPayload & { roles: string[]; sub: string };
  const kid = String(header.kid);
  const alg = String(header.alg);
  const { iss, aud } = claims;
  const serverKey = createPrivateKey({ key: privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  /** Signs exactly these header and payload texts with the server's own key (Ed25519). */
  const serverSigned = (hdr: unknown, payload: unknown): string => {
    const input = `${b64json(hdr)}.${b64json(payload)}`;
    return `${input}.${signBytes(null, Buffer.from(input), serverKey).toString('base64url')}`;
  };
  const now = Math.floor(Date.now() / 1000);
  const good = { ...claims, jti: randomUUID(), iat: now, exp: now + 600 };
  const escalated = { ...good, roles: ['admin'] };
  const typ = 'at+jwt';
  const hdr = { alg, kid, typ };
  const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const attackerJwk = await exportJWK(attacker.publicKey);
  const attackerSigned = (protectedHeader: JWTHeaderParameters, payload: JWTPayload = escalated) =>
    new SignJWT(payload).setProtectedHeader(protectedHeader).sign(attacker.privateKey);
  const hmac = (secret: Uint8Array) => new SignJWT(escalated).setProtectedHeader({ alg: 'HS256', kid, typ }).sign(secret);
  const without = (key: string) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));
  const unsigned = (algName: string) => `${b64json({ alg: algName, kid, typ })}.${b64json(escalated)}.`;
  const forged: Forged[] = [
    { name: 'alg none', token: unsigned('none'), expect: 'invalid_token' },
    { name: 'alg None', token: unsigned('None'), expect: 'invalid_token' },
    { name: 'alg NONE', token: unsigned('NONE'), expect: 'invalid_token' },
    { name: 'alg none with the real signature', token: `${b64json({ alg: 'none', kid, typ })}.${p}.${kyle.access_token.split('.')[2]}`, expect: 'invalid_token' },
    { name: 'HS256 keyed with the public key bytes', token: await hmac(Buffer.from(String(privateJwk.x), 'base64url')), expect: 'invalid_token' },
    { name: 'HS256 keyed with the public JWK text', token: await hmac(Buffer.from(publicJwkText)), expect: 'invalid_token' },
    { name: 'HS256 keyed with the JWKS document', token: await hmac(Buffer.from(JSON.stringify({ keys: [JSON.parse(publicJwkText)] }))), expect: 'invalid_token' },
    { name: 'attacker key, server kid', token: await attackerSigned({ alg: 'EdDSA', kid, typ }), expect: 'invalid_token' },
    { name: 'attacker key, own kid', token: await attackerSigned({ alg: 'EdDSA', kid: 'attacker', typ }), expect: 'invalid_token' },
    { name: 'attacker key, no kid', token: await attackerSigned({ alg: 'EdDSA', typ }), expect: 'invalid_token' },
    { name: 'attacker key, embedded jwk', token: await attackerSigned({ alg: 'EdDSA', typ, jwk: attackerJwk }), expect: 'invalid_token' },
    { name: 'attacker key, jku', token: await attackerSigned({ alg: 'EdDSA', typ, kid: 'attacker', jku: 'https://evil.example/jwks.json' }), expect: 'invalid_token' },
    { name: 'attacker key, x5u', token: await attackerSigned({ alg: 'EdDSA', typ, kid, x5u: 'https://evil.example/cert.pem' }), expect: 'invalid_token' },
    { name: 'attacker key, kid path traversal', token: await attackerSigned({ alg: 'EdDSA', typ, kid: '../../../../dev/null' }), expect: 'invalid_token' },
    { name: 'attacker key, kid SQL', token: await attackerSigned({ alg: 'EdDSA', typ, kid: "x' OR '1'='1" }), expect: 'invalid_token' },
    { name: 'attacker key, kid empty', token: await attackerSigned({ alg: 'EdDSA', typ, kid: '' }), expect: 'invalid_token' },
    { name: 'server key, expired', token: serverSigned(hdr, { ...good, iat: now - 7200, exp: now - 3600 }), expect: 'token_expired' },
    { name: 'server key, nbf in the future', token: serverSigned(hdr, { ...good, nbf: now + 3600 }), expect: 'invalid_token' },
    { name: 'server key, wrong issuer', token: serverSigned(hdr, { ...good, iss: 'evil' }), expect: 'invalid_token' },
    { name: 'server key, wrong audience', token: serverSigned(hdr, { ...good, aud: 'evil' }), expect: 'invalid_token' },
    { name: 'server key, audience list without ours', token: serverSigned(hdr, { ...good, aud: ['evil', 'other'] }), expect: 'invalid_token' },
    { name: 'server key, typ JWT (an ID token)', token: serverSigned({ alg, kid, typ: 'JWT' }, good), expect: 'invalid_token' },
    { name: 'server key, no typ', token: serverSigned({ alg, kid }, good), expect: 'invalid_token' },
    { name: 'server key, no kid', token: serverSigned({ alg, typ }, good), expect: 'invalid_token' },
    { name: 'server key, header alg HS256', token: serverSigned({ alg: 'HS256', kid, typ }, good), expect: 'invalid_token' },
    { name: 'server key, header alg ES256', token: serverSigned({ alg: 'ES256', kid, typ }, good), expect: 'invalid_token' },
    { name: 'server key, unknown crit', token: serverSigned({ ...hdr, crit: ['bastion'], bastion: 1 }, good), expect: 'invalid_token' },
    { name: 'server key, unencoded payload (b64 false)', token: serverSigned({ ...hdr, b64: false, crit: ['b64'] }, good), expect: 'invalid_token' },
    { name: 'server key, no jti', token: serverSigned(hdr, without('jti')), expect: 'invalid_token' },
    { name: 'server key, no sub', token: serverSigned(hdr, without('sub')), expect: 'invalid_token' },
    { name: 'server key, no exp', token: serverSigned(hdr, without('exp')), expect: 'invalid_token' },
    { name: 'server key, no iss', token: serverSigned(hdr, without('iss')), expect: 'invalid_token' },
    { name: 'server key, roles a string', token: serverSigned(hdr, { ...good, roles: 'admin' }), expect: 'invalid_token' },
    { name: 'server key, roles of numbers', token: serverSigned(hdr, { ...good, roles: [1] }), expect: 'invalid_token' },
    { name: 'server key, sub a number', token: serverSigned(hdr, { ...good, sub: 42 }), expect: 'invalid_token' },
    { name: 'server key, exp a string', token: serverSigned(hdr, { ...good, exp: String(now + 600) }), expect: 'invalid_token' },
    { name: 'server key, iat a string', token: serverSigned(hdr, { ...good, iat: 'now' }), expect: 'invalid_token' },
    { name: 'server key, sid an object', token: serverSigned(hdr, { ...good, sid: { $ne: null } }), expect: 'invalid_token' },
    { name: 'server key, payload not JSON', token: serverSigned(hdr, 'not json'), expect: 'invalid_token' },
    { name: 'server key, payload an array', token: serverSigned(hdr, [good]), expect: 'invalid_token' },
    { name: 'server key, header not JSON', token: serverSigned('not json', good), expect: 'invalid_token' },
  ];

  // The accounts minted tokens belong to: made through the API, the admin role granted by an
  // admin. When the fuzzer deletes or disables one (or takes the role away), a new one is made.
  type Owner = { sub: string; roles: string[]; validAfter?: number };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const account = async (username: string, role: string | undefined, grantToken: () => Promise<string>): Promise<Owner> => {
    const res = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username, password: `${username} long password` } });
    assert.equal(res.statusCode, 201, `fuzz account ${username}: ${res.body}`);
    const id = (res.json() as { id: string }).id;
    for (let attempt = 0; role; attempt++) {
      const grant = await app.inject({ method: 'POST', url: `/api/admin/users/${id}/roles`, headers: { authorization: `Bearer ${await grantToken()}` }, payload: { role } });
      if (grant.statusCode === 200) break;
      // a token minted in the second its owner's tokens were revoked is void: wait for the next second
      assert.ok(attempt < 3 && grant.statusCode === 401, `fuzz account role ${role}: ${grant.body}`);
      await sleep(600);
    }
    await settled(app);
    return { sub: id, roles: role ? [role] : [] };
  };
  const signFor = async (base: Owner): Promise<string> => {
    const key = app.services.keys.ring.active; // keys may be rotated by the fuzzer itself
    // A token issued before the user's revocation stamp (next whole second after a logout-all,
    // a role change…) is void; the server waits for the stamp, the fuzzer dates the token at it.
    const at = Math.max(Math.floor(Date.now() / 1000), Math.ceil((base.validAfter ?? 0) / 1000));
    return new SignJWT({ sub: base.sub, roles: base.roles, jti: randomUUID(), sid: randomUUID(), csrf: FUZZ_CSRF, auth_time: at })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ })
      .setIssuer(String(iss))
      .setAudience(aud as string)
      .setIssuedAt(at)
      .setExpirationTime(at + 600)
      .sign(key.signKey);
  };
  
  const alive = async (o: Owner): Promise<boolean> => {
    const row = await db.selectFrom('users').select(['id', 'disabled_at', 'tokens_valid_after']).where('id', '=', o.sub).executeTakeFirst();
    if (!row || row.disabled_at !== null) return false;
    o.validAfter = Number(row.tokens_valid_after);
    for (const role of o.roles) {
      if (!(await db.selectFrom('user_roles').select('role').where('user_id', '=', o.sub).where('role', '=', role).executeTakeFirst())) return false;
    }
    return true;
  };
  const owners: Record<keyof typeof FRESH, Owner> = {
    user: await account('fuzz_user', undefined, async () => admin.access_token),
    admin: await account('fuzz_admin', 'admin', async () => admin.access_token),
  };
  let generation = 0;
  const mint = async (who: keyof typeof FRESH): Promise<string> => {
    if (!(await alive(owners[who]))) {
      generation += 1;
      owners[who] = await account(`fuzz_${who}_${generation}`, who === 'admin' ? 'admin' : undefined, () => signFor(owners.admin));
    }
    return signFor(owners[who]);
  };

  const userIds = (await db.selectFrom('users').select('id').execute()).map((r) => r.id);
  const sessionIds = (await db.selectFrom('refresh_families').select('id').execute()).map((r) => r.id);

  const refreshSecret = (token: string) => ({ name: 'a refresh token secret issued at setup', value: token.split('.')[1]! });
  const fixedSecrets = [
    { name: 'an argon2id hash', value: '$argon2id$' },
    { name: "the signing key's private d", value: privateJwk.d! },
    refreshSecret(kyle.refresh_token),
    refreshSecret(admin.refresh_token),
    refreshSecret(cookieRefresh),
  ];
  const fx: Fixture = {
    t,
    app,
    routes,
    templates,
    schemas: doc.components?.schemas ?? {},
    userIds,
    sessionIds,
    realAccess: [kyle.access_token, admin.access_token, cookieJwt],
    realRefresh: [kyle.refresh_token, admin.refresh_token, cookieRefresh],
    csrf,
    kid,
    forged,
    secrets: [...fixedSecrets, ...(await storedSecrets(app))],
    fixedSecrets,
    mint,
    close: async () => {
      await t.close();
      outbox.remove();
    },
  };
  return fx;
}

/** Re-reads the stored hashes (new refresh tokens appear during fuzzing). */
export async function refreshSecrets(fx: Fixture): Promise<void> {
  fx.secrets = [...fx.fixedSecrets, ...(await storedSecrets(fx.app))];
}
