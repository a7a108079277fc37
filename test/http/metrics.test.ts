/**
 * Metrics an operator alerts on (issue #9 part 7): the names exist from the start and move
 * with login outcomes, access-token verifications, refreshes and reuse detections, and
 * revocation lag; METRICS_TOKEN and METRICS_PORT keep /metrics off the public port.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { buildApp } from '../../src/app.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, tempDir, testConfig, type TestApp } from '../helpers/app.ts';
import { DIALECT } from '../helpers/db.ts';

const PASSWORD = 'correct horse battery';
const METRICS_TOKEN = 'metrics-token-'.padEnd(48, 'x');

type App = TestApp['app'];

async function scrape(app: App, headers: Record<string, string> = {}): Promise<string> {
  const res = await app.inject({ url: '/metrics', headers });
  assert.equal(res.statusCode, 200, res.body);
  return res.body;
}

/** The value of one sample, e.g. sample(body, 'bastion_logins_total', 'outcome="success"'); NaN when absent. */
function sample(body: string, name: string, labels?: string): number {
  const escaped = labels?.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${name}${escaped === undefined ? '' : `\\{${escaped}\\}`} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

/** How much each sample moved while `action` ran. */
async function moved(app: App, samples: Array<[string, string]>, action: () => Promise<void>): Promise<number[]> {
  const before = await scrape(app);
  await action();
  const after = await scrape(app);
  return samples.map(([name, labels]) => sample(after, name, labels) - sample(before, name, labels));
}

describe('metrics an operator alerts on', () => {
  let t: TestApp;
  const clock = new ManualClock();
  before(async () => {
    t = await buildTestApp(
      { ACCESS_TTL: '60s', LOGIN_MAX_FAILURES: '3', LOGIN_IP_MAX_FAILURES: '100000', AUTH_RATE_LIMIT: '100000', REFRESH_REUSE_GRACE: '10s' },
      { clock },
    );
  });
  after(() => t.close());

  const post = (url: string, payload: object, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url, payload, headers });

  test('every name is there from the start, each outcome at a number (0 until it happens)', async () => {
    const body = await scrape(t.app);
    for (const outcome of ['success', 'invalid_credentials', 'locked', 'mfa_required', 'disabled']) {
      assert.ok(Number.isFinite(sample(body, 'bastion_logins_total', `outcome="${outcome}"`)), outcome);
    }
    for (const result of ['ok', 'expired', 'invalid', 'revoked']) {
      assert.ok(Number.isFinite(sample(body, 'bastion_token_verifications_total', `result="${result}"`)), result);
    }
    for (const result of ['rotated', 'resent', 'reused', 'invalid', 'conflict']) {
      assert.ok(Number.isFinite(sample(body, 'bastion_refresh_total', `result="${result}"`)), result);
    }
    assert.ok(Number.isFinite(sample(body, 'bastion_revocation_lag_seconds_count')));
    assert.ok(sample(body, 'bastion_nodejs_eventloop_lag_p99_seconds') >= 0, 'event-loop delay p99');
    assert.match(body, /^# TYPE bastion_db_pool_connections gauge$/m);
    if (DIALECT === 'postgres') {
      for (const state of ['in_use', 'idle', 'waiting']) assert.ok(sample(body, 'bastion_db_pool_connections', `state="${state}"`) >= 0, state);
    }
    // no account name ever becomes a label value
    assert.doesNotMatch(body, /username|unknown_user|wrong_password/);
  });

  test('logins: success, invalid credentials (wrong password and unknown account alike), lockout, MFA required, disabled', async () => {
    await signupAndLogin(t.app, 'alice', PASSWORD);
    const outcome = (o: string): [string, string] => ['bastion_logins_total', `outcome="${o}"`];

    assert.deepEqual(await moved(t.app, [outcome('success')], async () => {
      assert.equal((await post('/api/auth/login', { username: 'alice', password: PASSWORD })).statusCode, 200);
    }), [1]);
    assert.deepEqual(await moved(t.app, [outcome('invalid_credentials'), outcome('success')], async () => {
      assert.equal((await post('/api/auth/login', { username: 'alice', password: 'not the password' })).statusCode, 401);
      assert.equal((await post('/api/auth/login', { username: 'nobody-here', password: PASSWORD })).statusCode, 401);
    }), [2, 0]);

    // LOGIN_MAX_FAILURES=3: the third failure locks the account; the attempt after it is refused unchecked
    await signupAndLogin(t.app, 'carol', PASSWORD);
    assert.deepEqual(await moved(t.app, [outcome('invalid_credentials'), outcome('locked')], async () => {
      for (let i = 0; i < 3; i++) assert.equal((await post('/api/auth/login', { username: 'carol', password: 'wrong' })).statusCode, 401);
      assert.equal((await post('/api/auth/login', { username: 'carol', password: PASSWORD })).statusCode, 429);
    }), [3, 1]);

    // two-step login: mfa_required at the password step, success once the code is in
    const dave = await signupAndLogin(t.app, 'dave', PASSWORD);
    const enroll = await post('/api/auth/mfa/enroll', {}, bearer(dave.access_token));
    assert.equal(enroll.statusCode, 200, enroll.body);
    const totp = new TOTP({ secret: Secret.fromBase32(enroll.json().secret as string) });
    assert.equal((await post('/api/auth/mfa/confirm', { code: totp.generate({ timestamp: clock.now() }) }, bearer(dave.access_token))).statusCode, 200);
    clock.advance(30_000); // the confirming code is spent; the next step's code is fresh
    assert.deepEqual(await moved(t.app, [outcome('mfa_required'), outcome('success')], async () => {
      const first = await post('/api/auth/login', { username: 'dave', password: PASSWORD });
      assert.equal(first.json().code, 'mfa_required');
      const second = await post('/api/auth/login/mfa', { challenge_token: first.json().details.challenge_token, code: totp.generate({ timestamp: clock.now() }) });
      assert.equal(second.statusCode, 200, second.body);
    }), [1, 1]);

    // right password, disabled account: its own outcome (the answer already says so)
    await signupAndLogin(t.app, 'erin', PASSWORD);
    await t.app.services.users.setDisabled((await t.app.services.users.require('erin')).id, true);
    assert.deepEqual(await moved(t.app, [outcome('disabled'), outcome('invalid_credentials')], async () => {
      assert.equal((await post('/api/auth/login', { username: 'erin', password: PASSWORD })).json().code, 'account_disabled');
    }), [1, 0]);
  });

  test('token verifications: ok, invalid, revoked, expired', async () => {
    const pair = await signupAndLogin(t.app, 'frank', PASSWORD);
    const result = (r: string): [string, string] => ['bastion_token_verifications_total', `result="${r}"`];
    const secure = (token: string) => t.app.inject({ url: '/api/secure', headers: bearer(token) });

    assert.deepEqual(await moved(t.app, [result('ok'), result('invalid')], async () => {
      assert.equal((await secure(pair.access_token)).statusCode, 200);
      assert.equal((await secure('not.a.token')).statusCode, 401);
      assert.equal((await secure(`${pair.access_token.slice(0, -4)}AAAA`)).statusCode, 401);
    }), [1, 2]);

    const other = await signupAndLogin(t.app, 'grace', PASSWORD);
    assert.deepEqual(await moved(t.app, [result('ok'), result('revoked')], async () => {
      assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(other.access_token) })).statusCode, 204);
      assert.equal((await secure(other.access_token)).statusCode, 401);
    }), [1, 1]);

    const fresh = await signupAndLogin(t.app, 'heidi', PASSWORD);
    clock.advance(120_000); // past ACCESS_TTL=60s and the leeway
    assert.deepEqual(await moved(t.app, [result('expired'), result('ok')], async () => {
      assert.equal((await secure(pair.access_token)).json().code, 'token_expired'); // remembered as verified: the cache path
      assert.equal((await secure(fresh.access_token)).json().code, 'token_expired'); // never seen: the signature path
    }), [2, 0]);
  });

  test('refresh: a rotation, a retry within the grace (resent), a replay after it (reused), garbage (invalid)', async () => {
    const pair = await signupAndLogin(t.app, 'ivan', PASSWORD);
    const result = (r: string): [string, string] => ['bastion_refresh_total', `result="${r}"`];
    const refresh = (token: string) => post('/api/auth/refresh', { refresh_token: token });
    const names = ['rotated', 'resent', 'reused', 'invalid'].map(result);

    assert.deepEqual(await moved(t.app, names, async () => {
      assert.equal((await refresh(pair.refresh_token)).statusCode, 200);
    }), [1, 0, 0, 0]);
    assert.deepEqual(await moved(t.app, names, async () => {
      assert.equal((await refresh(pair.refresh_token)).statusCode, 200);
    }), [0, 1, 0, 0]);
    clock.advance(11_000); // past REFRESH_REUSE_GRACE
    assert.deepEqual(await moved(t.app, names, async () => {
      assert.equal((await refresh(pair.refresh_token)).json().code, 'refresh_token_reused');
      assert.equal((await refresh('garbage')).json().code, 'invalid_refresh_token');
    }), [0, 0, 1, 1]);
  });
});

describe('revocation lag between instances', () => {
  test('the instance that applies another one\'s revocation observes the lag', async () => {
    const { dir, remove } = tempDir();
    const a = await buildApp(testConfig({}, dir));
    const b = await buildApp(testConfig({ REVOCATION_POLL: '60s' }, dir));
    try {
      const pair = await signupAndLogin(a, 'judy', PASSWORD);
      const lagCount = async (app: App) => sample(await scrape(app), 'bastion_revocation_lag_seconds_count');
      const before = await lagCount(b);
      assert.equal((await a.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(pair.access_token) })).statusCode, 204);
      await b.services.revocations.sync();
      assert.ok((await lagCount(b)) > before, 'B observed no lag sample');
    } finally {
      await a.close();
      await b.close();
      remove();
    }
  });
});

describe('METRICS_TOKEN', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp({ METRICS_TOKEN });
  });
  after(() => t.close());

  test('/metrics needs Authorization: Bearer <METRICS_TOKEN>; 401 in the one shape otherwise', async () => {
    const none = await t.app.inject({ url: '/metrics' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().code, 'missing_token');
    assert.match(String(none.headers['www-authenticate']), /^Bearer realm=/);
    for (const authorization of [`Bearer ${METRICS_TOKEN}x`, `Bearer ${METRICS_TOKEN.slice(0, -1)}`, `Basic ${METRICS_TOKEN}`, METRICS_TOKEN]) {
      const wrong = await t.app.inject({ url: '/metrics', headers: { authorization } });
      assert.equal(wrong.statusCode, 401, authorization);
      assert.deepEqual(Object.keys(wrong.json()).sort(), ['code', 'message']);
      assert.equal(wrong.json().code, 'invalid_token');
    }
    const ok = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(ok.statusCode, 200);
    assert.match(ok.body, /^bastion_logins_total\{outcome="success"\} \d+$/m);
  });

  test('a short token stops start-up with one line naming METRICS_TOKEN, never echoing it', () => {
    assert.throws(
      () => loadConfig({ METRICS_TOKEN: 'too-short-secret' }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'METRICS_TOKEN' && !err.message.includes('too-short-secret') && !err.message.includes('\n'),
    );
    assert.throws(() => loadConfig({ METRICS_PORT: '8085' }), (err: unknown) => err instanceof ConfigError && err.variable === 'METRICS_PORT');
    assert.throws(() => loadConfig({ METRICS_PORT: 'nine' }), (err: unknown) => err instanceof ConfigError && err.variable === 'METRICS_PORT');
  });
});

describe('METRICS_PORT', () => {
  test('/metrics is 404 on the public port and served on 127.0.0.1:METRICS_PORT while the app listens', async () => {
    let logs = '';
    const logStream = new Writable({
      write(chunk, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    const t = await buildTestApp({ METRICS_PORT: '0', METRICS_TOKEN, LOG_LEVEL: 'info' }, { logStream });
    let metricsUrl: string | null = null;
    try {
      const onApp = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(onApp.statusCode, 404);
      assert.equal(onApp.json().code, 'not_found');

      const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
      for (let i = 0; i < 200 && metricsUrl === null; i++) {
        metricsUrl = /metrics listening at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(logs)?.[1] ?? null;
        if (metricsUrl === null) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(metricsUrl, `no "metrics listening" line in:\n${logs}`);
      assert.notEqual(new URL(metricsUrl).port, new URL(address).port);

      // the public port, over real HTTP, does not serve it either
      assert.equal((await fetch(`${address}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status, 404);

      const refused = await fetch(metricsUrl);
      assert.equal(refused.status, 401);
      assert.equal(((await refused.json()) as { code: string }).code, 'missing_token');
      const res = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      const body = await res.text();
      assert.match(body, /^bastion_token_verifications_total\{result="ok"\} \d+$/m);
      assert.match(body, /^bastion_http_requests_total\{method="GET",route="unmatched",status="404"\} \d+$/m);
      const elsewhere = await fetch(metricsUrl.replace(/\/metrics$/, '/api/secure'));
      assert.equal(elsewhere.status, 404);
      assert.equal(((await elsewhere.json()) as { code: string }).code, 'not_found');
    } finally {
      await t.close();
    }
    // closed with the app
    await assert.rejects(fetch(metricsUrl!));
  });
});
