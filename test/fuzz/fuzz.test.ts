/**
 * Property-based fuzzing of every route (issue #5 part 10). Random and malformed paths,
 * methods, headers, tokens and bodies go through app.inject(); malformed HTTP goes over a
 * real socket. Every response must keep the error contract (harness.checkResponse) and
 * leak nothing; rejected requests must leave the database as it was.
 *
 * Seeds are random on purpose: a failure prints `seed` and `path` (pass them to fc.assert
 * to replay) and the shrunk request. The last line printed is the request count summary.
 *
 * The regression tests at the end replay server bugs the fuzzer once found.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { badTokenCase, request, type TokenCase } from './arbitraries.ts';
import {
  checkResponse,
  diffSnapshots,
  fail,
  FRESH,
  prepare,
  METHODS,
  refreshSecrets,
  send,
  setup,
  snapshot,
  stats,
  summary,
  type Fixture,
  type Method,
  type Req,
  type Res,
  type Route,
} from './harness.ts';
import { exchange, rawCase } from './raw.ts';
import { ERRORS } from '../../src/errors/codes.ts';
import { DIALECT } from '../helpers/db.ts';

/**
 * Random runs per property: all of them on SQLite, a quarter on PostgreSQL. What differs
 * between the two is storage (e.g. text that PostgreSQL cannot hold), and a quarter of the
 * runs still reaches every route many times; npm test's time is bounded by the slower pass
 * (the fuzzer was its longest file, 150 s at a half).
 */
const runs = (n: number) => (DIALECT === 'postgres' ? Math.ceil(n / 4) : n);

let fx: Fixture;



/** Fills `{param}` with values every route accepts: a fresh UUID for ids, a plain word otherwise. */
const fill = (template: string): string => template.replace(/\{(\w+)\}/g, (_m, name: string) => (/id$/i.test(name) ? randomUUID() : 'editor'));

const isHead = (req: Req) => req.method === 'HEAD';

/**
 * A 405 must be honest: its Allow never lists the method just refused, and each method it
 * does list is not refused with 405 in turn on the same URL.
 */
async function check405(req: Req, res: Res): Promise<void> {
  if (res.status !== 405) return;
  const allow = (res.headers['allow'] ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m): m is Method => (METHODS as readonly string[]).includes(m) && m !== 'OPTIONS');
  if (allow.includes(req.method)) fail('wrongAnswer', `405 lists the refused method ${req.method} in Allow`, req, res);
  for (const method of allow) {
    const again: Req = { method, url: req.url, headers: {} };
    const res2 = await send(fx, again);
    checkResponse(fx, again, res2, { head: method === 'HEAD' });
    if (res2.status === 405) fail('wrongAnswer', `405 for ${req.method} says Allow: ${method}, but ${method} answers 405 too`, again, res2);
  }
}

/**
 * Sends `req` and checks the answer; `beforeFollowUps` runs between the answer and the
 * requests a 405 check sends after it (those use the allowed methods, which may store data).
 */
async function exercise(req: Req, beforeFollowUps?: (res: Res) => Promise<void>): Promise<Res> {
  const res = await send(fx, req);
  checkResponse(fx, req, res, { head: isHead(req) });
  await beforeFollowUps?.(res);
  await check405(req, res);
  return res;
}

/** The error contract, asserted without touching the fuzz counters (for the BUG tests). */
function assertOneShape(res: Res, status?: number): void {
  const shown = `${res.status} ${JSON.stringify(res.headers)} ${JSON.stringify(res.body)}`;
  if (status !== undefined) assert.equal(res.status, status, shown);
  assert.ok(res.status >= 400 && res.status < 500, shown);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, `no JSON content type: ${shown}`);
  const body = JSON.parse(res.body || 'null') as Record<string, unknown> | null;
  assert.ok(body && typeof body['code'] === 'string' && typeof body['message'] === 'string', `not {code, message}: ${shown}`);
  const known = (ERRORS as Record<string, { status: number }>)[body['code'] as string];
  assert.equal(known?.status, res.status, `code ${String(body['code'])} is not documented for ${res.status}`);
}

let port = 0;
async function listening(): Promise<number> {
  if (port === 0) {
    await fx.app.listen({ host: '127.0.0.1', port: 0 });
    port = (fx.app.server.address() as AddressInfo).port;
  }
  return port;
}

describe('fuzz: every route with random and malformed input', () => {
  before(async () => {
    fx = await setup();
  });
  after(async () => {
    console.log(summary());
    await fx?.close();
  });

  test('the checks themselves catch what they look for (no vacuous property)', async () => {
    await refreshSecrets(fx);
    const saved = { ...stats, byClass: new Map(stats.byClass), byCode: new Map(stats.byCode) };
    const json = { 'content-type': 'application/json; charset=utf-8' };
    const ok = { status: 400, headers: json, body: '{"code":"bad_request","message":"Bad request"}' };
    assert.doesNotThrow(() => checkResponse(fx, 'self-check', ok));
    const bad: [string, Res][] = [
      ['5xx', { status: 500, headers: json, body: '{"code":"internal","message":"Unexpected failure"}' }],
      ['html error', { status: 404, headers: { 'content-type': 'text/html' }, body: '<h1>Not found</h1>' }],
      ['extra key', { status: 400, headers: json, body: '{"code":"bad_request","message":"x","stack":"y"}' }],
      ['unknown code', { status: 400, headers: json, body: '{"code":"oops","message":"x"}' }],
      ['status mismatch', { status: 400, headers: json, body: '{"code":"not_found","message":"x"}' }],
      ['stack trace', { status: 400, headers: json, body: '{"code":"bad_request","message":"at parse (/app/x.js:1:2)"}' }],
      ['library text', { status: 400, headers: json, body: '{"code":"bad_request","message":"FST_ERR_CTP_INVALID_MEDIA_TYPE"}' }],
      ['401 without challenge', { status: 401, headers: json, body: '{"code":"missing_token","message":"x"}' }],
      ['private file', { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: 'SQLite format 3\u0000' }],
    ];
    for (const s of fx.secrets) bad.push([`secret ${s.name}`, { status: 200, headers: json, body: JSON.stringify({ x: `..${s.value}..` }) }]);
    bad.push(['secret in a header', { status: 200, headers: { ...json, 'x-debug': fx.secrets[1]!.value }, body: '{}' }]);
    for (const [name, res] of bad) assert.throws(() => checkResponse(fx, 'self-check', res), /./, `the check misses: ${name}`);
    // the OAuth endpoints: RFC 6749 §5.2's shape, and Basic on 401 (issue #12)
    const oauth: Req = { method: 'POST', url: '/oauth/token', headers: {} };
    assert.doesNotThrow(() => checkResponse(fx, oauth, { status: 400, headers: json, body: '{"error":"invalid_request","error_description":"x"}' }));
    assert.throws(() => checkResponse(fx, oauth, ok), /./, 'the check misses: Bastion’s shape on an OAuth endpoint');
    const noBasic = { status: 401, headers: json, body: '{"error":"invalid_client","error_description":"x"}' };
    assert.throws(() => checkResponse(fx, oauth, noBasic), /./, 'the check misses: an OAuth 401 without a Basic challenge');
    assert.ok(fx.secrets.some((s) => s.name.includes('secret_hash')), 'stored refresh-token hashes are among the secrets');
    const snap = await snapshot(fx.app);
    assert.ok((snap['users'] ?? []).length >= 6 && (snap['refresh_tokens'] ?? []).length >= 3, 'the snapshot reads the tables');
    assert.equal(diffSnapshots(snap, snap), null);
    assert.match(diffSnapshots(snap, { ...snap, users: [...snap['users']!.slice(1)] }) ?? '', /^users - /);
    Object.assign(stats, saved);
  });

  test('no forged, mutated or expired token is accepted, whatever carries it', async () => {
    await refreshSecrets(fx);
    const required = (r: Route): string[] => {
      const s = r.bodySchema?.$ref ? fx.schemas[r.bodySchema.$ref.split('/').pop()!] : r.bodySchema;
      return s?.required ?? [];
    };
    const guarded = fx.routes.filter((r) => r.guarded && required(r).length === 0);
    assert.ok(guarded.length >= 5, `expected guarded routes in /openapi.json, found ${guarded.length}`);
    const hasVerify = fx.routes.some((r) => r.method === 'POST' && r.template === '/api/auth/verify');
    const transports = ['Bearer', 'JWT', 'bare', 'cookie', ...(hasVerify ? (['verify'] as const) : [])] as const;
    type Transport = (typeof transports)[number];

    const attempt = async (c: TokenCase, route: Route, transport: Transport) => {
      if (transport === 'verify') {
        const req: Req = { method: 'POST', url: '/api/auth/verify', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ token: c.token }) };
        const res = await exercise(req);
        if (c.expect === null) return;
        const out = res.status === 200 ? (JSON.parse(res.body) as { valid: boolean; code?: string }) : null;
        if (!out || out.valid !== false || !c.expect.includes(String(out.code))) fail('wrongAnswer', `${c.label}: /api/auth/verify should say valid:false, ${c.expect.join('|')}`, req, res);
        return;
      }
      const cookieSafe = /^[\w.-]+$/.test(c.token);
      const headers: Record<string, string> =
        transport === 'cookie' && cookieSafe
          ? { cookie: `jwt=${c.token}` }
          : { authorization: transport === 'bare' ? c.token : `${transport === 'JWT' ? 'JWT' : 'Bearer'} ${c.token}` };
      // a body-less request to a route with a body schema fails validation before the guard runs
      const req: Req = route.bodySchema
        ? { method: route.method, url: fill(route.template), headers: { ...headers, 'content-type': 'application/json' }, payload: '{}' }
        : { method: route.method, url: fill(route.template), headers };
      const res = await exercise(req);
      if (c.expect === null) return;
      let code = '';
      try {
        code = (JSON.parse(res.body) as { code: string }).code;
      } catch {
        // HEAD or non-JSON: the status check below reports it
      }
      if (res.status !== 401 || !c.expect.includes(code)) fail('wrongAnswer', `${c.label}: expected 401 ${c.expect.join('|')}`, req, res);
      if (!(res.headers['www-authenticate'] ?? '').includes('error="invalid_token"')) fail('wrongAnswer', `${c.label}: no invalid_token challenge`, req, res);
    };

    // every forged token by every transport, once
    const secure = guarded.find((r) => r.method === 'GET') ?? guarded[0]!;
    for (const f of fx.forged) for (const tr of transports) await attempt({ label: `forged: ${f.name}`, token: f.token, expect: [f.expect] }, secure, tr);

    await fc.assert(
      fc.asyncProperty(badTokenCase(fx), fc.constantFrom(...guarded), fc.constantFrom(...transports), async (c, route, tr) => attempt(c, route, tr)),
      { numRuns: runs(500), includeErrorInReport: true },
    );
  });

  test('random requests to every route: no 5xx, one error shape, no stack trace, no secret', async () => {
    await refreshSecrets(fx);
    await fc.assert(
      fc.asyncProperty(fc.array(request(fx, { realRefresh: true, valid: true }), { minLength: 1, maxLength: 5 }), async (reqs) => {
        for (const req of reqs) await exercise(req);
      }),
      { numRuns: runs(500), includeErrorInReport: true },
    );
  });

  test('rejected requests leave every stored row as it was', async () => {
    await refreshSecrets(fx);
    await fc.assert(
      fc.asyncProperty(fc.array(request(fx, { realRefresh: false, valid: true }), { minLength: 1, maxLength: 4 }), async (reqs) => {
        for (const generated of reqs) {
          const req = await prepare(fx, generated); // minting a token may create a fuzz account: before the snapshot
          const before = await snapshot(fx.app);
          await exercise(req, async (res) => {
            if (res.status < 400) return; // an accepted request may change data
            const diff = diffSnapshots(before, await snapshot(fx.app));
            if (diff) fail('dataChanged', `a ${res.status} changed stored data:\n${diff}`, req, res);
            stats.rejectedUnchanged += 1;
          });
        }
      }),
      { numRuns: runs(400), includeErrorInReport: true },
    );
  });

  test('every documented path × every method × auth variants: honest 404/405, invariants always', async () => {
    await refreshSecrets(fx);
    // Routing (404/405, Allow) is the same on both databases; what PostgreSQL adds is the handlers'
    // queries, which the admin's token reaches: the PostgreSQL pass keeps two of the five variants.
    const every = [undefined, 'Bearer garbage', `Bearer ${FRESH.user}`, `Bearer ${FRESH.admin}`, `JWT ${FRESH.admin}`];
    const auths = DIALECT === 'postgres' ? [undefined, `Bearer ${FRESH.admin}`] : every;
    for (const [template, documented] of fx.templates) {
      const allowed = new Set<Method>(documented);
      if (allowed.has('GET')) allowed.add('HEAD');
      for (const method of METHODS) {
        for (const authorization of auths) {
          const req: Req = { method, url: fill(template), headers: authorization ? { authorization } : {} };
          const res = await exercise(req);
          if (method === 'OPTIONS') {
            if (res.status >= 400) fail('wrongAnswer', 'OPTIONS on a known path is refused', req, res);
          } else if (!allowed.has(method)) {
            if (res.status !== 405) fail('wrongAnswer', `undocumented method answers ${res.status}, not 405`, req, res);
            const allow = new Set((res.headers['allow'] ?? '').split(',').map((m) => m.trim()));
            const expected = new Set([...allowed].filter((m) => m !== method));
            if (allow.size !== expected.size || [...expected].some((m) => !allow.has(m))) {
              fail('wrongAnswer', `Allow should be ${[...expected].join(', ')}`, req, res);
            }
          } else if (res.status === 405 || (res.status === 404 && !isHead(req) && (JSON.parse(res.body) as { code: string }).code === 'not_found')) {
            fail('wrongAnswer', 'a documented method on a documented path answers as if there were no route', req, res);
          }
        }
      }
    }
  });

  test('malformed HTTP over a real socket: 4xx in the one shape (or a close), and the server keeps serving', async () => {
    await refreshSecrets(fx);
    const p = await listening();
    const paths = [...fx.templates.keys()].map(fill);
    const posts = fx.routes.filter((r) => r.method === 'POST' && r.params.length === 0).map((r) => r.template);
    await fc.assert(
      fc.asyncProperty(rawCase(paths, posts), async (c) => {
        const ex = await exchange(p, c.bytes);
        const what = `${c.label}: ${JSON.stringify(c.bytes.slice(0, 400))}`;
        for (const res of ex.responses) {
          checkResponse(fx, what, res);
          if (c.strict && res.status < 400) fail('wrongAnswer', 'a broken request was accepted', what, res);
        }
        const health = await exchange(p, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
        assert.equal(health.responses[0]?.status, 200, `the server stopped serving after: ${c.label} ${JSON.stringify(c.bytes.slice(0, 200))}`);
      }),
      { numRuns: runs(200), includeErrorInReport: true },
    );
  });

  // ------------------------------------------------------------ server bugs found by the fuzzer

  test('regression: GET of a missing Swagger UI asset answers 404, not 405', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await fx.app.inject({ method, url: '/docs/static/no-such-asset.js' });
      assert.equal(res.statusCode, 404, `${method} /docs/static/no-such-asset.js answered ${res.statusCode} Allow: ${String(res.headers['allow'])} ${res.body}`);
    }
  });

  test('regression: an HTTP/1.1 request without Host gets 400 in the JSON error shape', async () => {
    const ex = await exchange(await listening(), 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.equal(ex.responses.length, 1, 'expected one answer');
    assertOneShape(ex.responses[0]!, 400);
  });

  test('regression: an Expect header other than 100-continue gets 417 in the JSON error shape', async () => {
    const ex = await exchange(
      await listening(),
      'POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: fuzz\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    assert.equal(ex.responses.length, 1, 'expected one answer');
    assertOneShape(ex.responses[0]!);
  });
});
