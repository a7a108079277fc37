/**
 * Issue #9 part 6: request ids and log formats, through app.inject with the logs captured
 * (buildApp's logStream). Every response carries X-Request-Id; an incoming one is taken
 * only from a proxy TRUST_PROXY names and only when valid; every log line of a request
 * carries its id as req_id; LOG_FORMAT=pretty gives short readable lines, still redacted.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { buildTestApp, type TestApp } from '../helpers/app.ts';
import { trustsPeer } from '../../src/http/logging.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Captured {
  readonly t: TestApp;
  /** everything logged since the last take(), then forgotten */
  take(): string;
}

async function appWithLogs(env: Record<string, string>): Promise<Captured> {
  let buffer = '';
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      buffer += chunk.toString();
      cb();
    },
  });
  const t = await buildTestApp({ LOG_LEVEL: 'info', ...env }, { logStream });
  return {
    t,
    take: () => {
      const out = buffer;
      buffer = '';
      return out;
    },
  };
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('X-Request-Id without TRUST_PROXY', () => {
  test('every response carries a fresh UUID, errors and 404s included', async () => {
    const { t } = await appWithLogs({});
    try {
      const responses = [
        await t.app.inject({ url: '/healthz' }),
        await t.app.inject({ url: '/api/secure' }), // 401
        await t.app.inject({ url: '/nope' }), // 404
        await t.app.inject({ method: 'PUT', url: '/api/auth/login' }), // 405
        await t.app.inject({ url: '/%zz' }), // 400 before routing
        await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'x' }), // 415
      ];
      assert.deepEqual(
        responses.map((r) => r.statusCode),
        [200, 401, 404, 405, 400, 415],
      );
      const ids = responses.map((r) => String(r.headers['x-request-id']));
      for (const id of ids) assert.match(id, UUID);
      assert.equal(new Set(ids).size, ids.length, 'each request gets its own id');
    } finally {
      await t.close();
    }
  });

  test("a client's own X-Request-Id is not used, nor logged as the request id", async () => {
    const { t, take } = await appWithLogs({});
    try {
      take();
      const res = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'client-chosen-id' } });
      const id = String(res.headers['x-request-id']);
      assert.match(id, UUID);
      const lines = jsonLines(take());
      assert.ok(lines.length > 0);
      for (const line of lines) assert.equal(line['req_id'], id);
    } finally {
      await t.close();
    }
  });
});

describe('X-Request-Id from a trusted proxy', () => {
  test('a valid id is used, echoed, and on every log line of the request', async () => {
    const { t, take } = await appWithLogs({ TRUST_PROXY: 'true' });
    try {
      take();
      const id = 'edge-7f3a9c:01HZX';
      // a refused login logs more than the two request lines
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: { 'x-request-id': id },
        payload: { username: 'nobody', password: 'not the password' },
      });
      assert.equal(res.statusCode, 401);
      assert.equal(res.headers['x-request-id'], id);
      const lines = jsonLines(take());
      assert.ok(lines.length >= 3, JSON.stringify(lines));
      for (const line of lines) assert.equal(line['req_id'], id, JSON.stringify(line));
      assert.ok(lines.some((l) => l['msg'] === 'incoming request'));
      assert.ok(lines.some((l) => l['msg'] === 'request completed'));

      const missing = await t.app.inject({ url: '/nope', headers: { 'x-request-id': 'abc' } });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.headers['x-request-id'], 'abc');
    } finally {
      await t.close();
    }
  });

  test('an invalid id is replaced by a new one', async () => {
    const { t, take } = await appWithLogs({ TRUST_PROXY: 'true' });
    try {
      for (const bad of ['two words', 'x'.repeat(129), 'tab\there', 'caf\u00e9', '']) {
        take();
        const res = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': bad } });
        const id = String(res.headers['x-request-id']);
        assert.match(id, UUID, `replaced: ${JSON.stringify(bad)}`);
        for (const line of jsonLines(take())) assert.equal(line['req_id'], id);
      }
      // 128 printable characters is still fine
      const longest = 'y'.repeat(128);
      assert.equal((await t.app.inject({ url: '/healthz', headers: { 'x-request-id': longest } })).headers['x-request-id'], longest);
    } finally {
      await t.close();
    }
  });

  test('TRUST_PROXY as a list trusts only the proxies it names', async () => {
    for (const [trust, used] of [
      ['127.0.0.1', true],
      ['127.0.0.0/8', true],
      ['10.0.0.1,10.0.0.2', false],
      ['1', true],
    ] as const) {
      const { t } = await appWithLogs({ TRUST_PROXY: trust });
      try {
        const res = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'from-proxy' } });
        assert.equal(res.headers['x-request-id'] === 'from-proxy', used, `TRUST_PROXY=${trust}`);
      } finally {
        await t.close();
      }
    }
  });

  test('trustsPeer: IPv4-mapped IPv6 peers, subnets, hop counts', () => {
    const list = trustsPeer(['10.1.0.0/16', '::1']);
    assert.equal(list('10.1.2.3'), true);
    assert.equal(list('::ffff:10.1.2.3'), true);
    assert.equal(list('10.2.0.1'), false);
    assert.equal(list('::1'), true);
    assert.equal(list(undefined), false);
    assert.equal(trustsPeer(false)('127.0.0.1'), false);
    assert.equal(trustsPeer(true)('203.0.113.9'), true);
    assert.equal(trustsPeer(2)('203.0.113.9'), true);
  });
});

describe('LOG_FORMAT', () => {
  test('json (and auto when logs do not go to a terminal): one JSON object per line', async () => {
    for (const format of ['json', 'auto']) {
      const { t, take } = await appWithLogs({ LOG_FORMAT: format });
      try {
        await t.app.inject({ url: '/healthz' });
        const lines = jsonLines(take()); // throws on any non-JSON line
        assert.ok(lines.some((l) => l['msg'] === 'request completed'), format);
      } finally {
        await t.close();
      }
    }
  });

  test('pretty: one short readable line per request, with its id; secrets still redacted', async () => {
    const { t, take } = await appWithLogs({ LOG_FORMAT: 'pretty', TRUST_PROXY: 'true' });
    try {
      take();
      const password = 'pretty secret passphrase';
      // a query string may carry secrets (an OIDC callback's code and state): the path only
      await t.app.inject({ url: '/nope?code=query.secret.code&state=s', headers: { 'x-request-id': 'pretty-1' } });
      await t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: { 'x-request-id': 'pretty-2', authorization: 'Bearer should.not.appear' },
        payload: { username: 'nobody', password },
      });
      t.app.log.info({ body: { password }, req: { headers: { authorization: 'Bearer probe.token.here' } } }, 'probe');
      const text = take();
      const lines = text.split('\n').filter((l) => l.trim() !== '');
      for (const line of lines) assert.throws(() => JSON.parse(line), `not JSON: ${line}`);
      const requestLines = lines.filter((l) => / (GET|POST) \//.test(l));
      assert.equal(requestLines.length, 2, text);
      assert.match(requestLines[0]!, /INFO.*\[pretty-1\] GET \/nope 404 [\d.]+ms$/);
      assert.match(requestLines[1]!, /INFO.*\[pretty-2\] POST \/api\/auth\/login 401 [\d.]+ms$/);
      assert.ok(!/incoming request|request completed/.test(text), 'no two-line request logging in pretty mode');
      // other lines of a request carry its id too
      assert.ok(lines.some((l) => /\[pretty-2\] request refused/.test(l)), text);
      for (const secret of [password, 'should.not.appear', 'probe.token.here', 'query.secret.code']) assert.ok(!text.includes(secret), `leaked: ${secret}`);
      assert.match(text, /probe.*\[redacted\]/);
    } finally {
      await t.close();
    }
  });
});
