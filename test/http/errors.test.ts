import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { bearer, buildTestApp, signupAndLogin, tempDir, testConfig, type TestApp } from '../helpers/app.ts';

/** Every error leaves in one flat shape with a known code: no stack, no library text. */
function assertError(res: { statusCode: number; body: string; headers: Record<string, unknown> }, status: number, code: string) {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.body);
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  assert.deepEqual(Object.keys(body).filter((k) => !['code', 'message', 'details'].includes(k)), []);
  assert.ok(!/at .+\(.+:\d+:\d+\)|node_modules|SyntaxError|Unexpected token/.test(res.body), res.body);
}

describe('errors', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp({ BODY_LIMIT: '2048' });
  });
  after(() => t.close());

  test('unknown route 404, wrong method 405 with Allow', async () => {
    assertError(await t.app.inject({ url: '/nope' }), 404, 'not_found');
    const res = await t.app.inject({ method: 'DELETE', url: '/api/unsecure' });
    assertError(res, 405, 'method_not_allowed');
    assert.equal(res.headers['allow'], 'GET, HEAD');
    assertError(await t.app.inject({ method: 'GET', url: '/api/auth/login' }), 405, 'method_not_allowed');
    assertError(await t.app.inject({ method: 'PUT', url: '/mountain/everest' }), 405, 'method_not_allowed');
  });

  test('malformed JSON, wrong content type, oversized body', async () => {
    const post = (payload: string, type = 'application/json') =>
      t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': type }, payload });
    assertError(await post('{"username": "a", '), 400, 'invalid_json');
    assertError(await post('not json at all'), 400, 'invalid_json');
    assertError(await post('username=a&password=b', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
    assertError(await post('hello', 'text/plain'), 415, 'unsupported_media_type');
    assertError(await post(JSON.stringify({ username: 'a', password: 'x'.repeat(5000) })), 413, 'payload_too_large');
    assertError(await post('[]'), 400, 'validation_failed');
    assertError(await post('"string"'), 400, 'validation_failed');
    assertError(await post('{"username": 5, "password": "x"}'), 400, 'validation_failed');
    assertError(await post('{"__proto__": {"admin": true}, "username": "a", "password": "b"}'), 400, 'invalid_json');
  });

  test('validation errors name the field in details', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username: 'ok_name', password: 'long enough', extra: 1 } });
    assertError(res, 400, 'validation_failed');
    assert.deepEqual(res.json().details, [{ path: 'body/extra', message: 'is not allowed' }]);
  });

  test('tokens with bad shape or signature: 401 invalid_token, never 500', async () => {
    for (const authorization of ['Bearer', 'Bearer ', 'Bearer a.b.c', 'JWT ' + 'x'.repeat(3000), 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'Digest x']) {
      const res = await t.app.inject({ url: '/api/secure', headers: { authorization } });
      assertError(res, 401, 'invalid_token');
    }
    assertError(await t.app.inject({ url: '/api/secure', headers: { cookie: 'jwt=garbage' } }), 401, 'invalid_token');
  });

  test('/metrics: Prometheus text with requests by route pattern, never the raw URL', async () => {
    await t.app.inject({ url: '/mountain/secret-looking-name' });
    await t.app.inject({ url: '/api/unsecure' });
    const res = await t.app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.match(res.body, /bastion_http_requests_total\{method="GET",route="\/api\/unsecure",status="200"\} 1/);
    assert.match(res.body, /route="\/mountain\/:name",status="401"/);
    assert.ok(!res.body.includes('secret-looking-name'));
    assert.match(res.body, /bastion_process_resident_memory_bytes/);
  });

  test('/readyz and /healthz', async () => {
    assert.deepEqual((await t.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
    assert.deepEqual((await t.app.inject({ url: '/readyz' })).json(), { status: 'ready' });
  });
});

describe('route schemas (compiled on first use)', () => {
  test('built eagerly, every route schema of Bastion compiles', async () => {
    const t = await buildTestApp({}, { eagerSchemas: true });
    try {
      assertError(await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'a' } }), 400, 'validation_failed');
    } finally {
      await t.close();
    }
  });

  test('a schema that cannot compile stops an eager build; lazily, validation and responses still follow the schemas', async () => {
    const routes = async (app: FastifyInstance) => {
      app.post('/bad', { schema: { body: { type: 'object', properties: { a: { type: 'no-such-type' } } } } }, async () => ({}));
    };
    const { dir, remove } = tempDir();
    await assert.rejects(buildApp(testConfig({}, dir), { eagerSchemas: true, routes }), /no-such-type|schema/i);
    remove();

    const headed = async (app: FastifyInstance) => {
      app.get(
        '/versioned',
        {
          schema: {
            headers: { type: 'object', properties: { 'X-Api-Version': { type: 'string', enum: ['v1'] } }, required: ['X-Api-Version'] },
            response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } },
          },
        },
        async () => ({ ok: true, secret: 'not in the schema, so never sent' }),
      );
    };
    const t = await buildTestApp({}, { routes: headed });
    try {
      // header names arrive in lower case: the schema's mixed-case names must still apply
      assertError(await t.app.inject({ url: '/versioned' }), 400, 'validation_failed');
      assertError(await t.app.inject({ url: '/versioned', headers: { 'x-api-version': 'v2' } }), 400, 'validation_failed');
      const ok = await t.app.inject({ url: '/versioned', headers: { 'X-Api-Version': 'v1' } });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { ok: true });
    } finally {
      await t.close();
    }
  });
});

describe('logs never carry secrets', () => {
  test('passwords, tokens and cookies are absent from logs at trace level', async () => {
    let logs = '';
    const stream = new Writable({
      write(chunk, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    const t = await buildTestApp({ LOG_LEVEL: 'trace' }, { logStream: stream });
    try {
      const password = 'very secret passphrase';
      const pair = await signupAndLogin(t.app, 'logger', password);
      await t.app.inject({ url: '/api/secure', headers: bearer(pair.access_token) });
      await t.app.inject({ url: '/api/secure', headers: { authorization: `Bearer ${pair.access_token}x` } });
      const refreshed = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: pair.refresh_token } });
      const cookie = await t.app.inject({ method: 'POST', url: '/authenticate', payload: { username: 'logger', password } });
      await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'logger', password: 'wrong guess here' } });
      t.app.log.info({ req: { headers: { authorization: `Bearer ${pair.access_token}`, cookie: 'jwt=abc' } }, body: { password } }, 'probe');

      assert.ok(logs.length > 1000, 'logs were captured');
      const secrets = [
        password,
        'wrong guess here',
        pair.access_token,
        pair.access_token.split('.')[2]!,
        pair.refresh_token,
        refreshed.json().refresh_token,
        cookie.json().csrf_token,
      ];
      for (const secret of secrets) assert.ok(!logs.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 12)}…`);
      assert.ok(logs.includes('[redacted]'), 'the probe line was redacted');
    } finally {
      await t.close();
    }
  });
});
