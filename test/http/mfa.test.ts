/**
 * TOTP two-factor authentication (RFC 6238) through the HTTP API. Codes are made the way an
 * authenticator app makes them: with `otpauth`, from the secret the enroll endpoint returned,
 * at the injected clock's time, which the tests step instead of sleeping.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { Secret, TOTP, URI } from 'otpauth';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, type TestApp } from '../helpers/app.ts';

const STEP = 30_000;
const PASSWORD = 'correct horse battery';
const CHALLENGE_SHAPE = /^[\w-]{22}\.[\w-]{43}$/;
/** Far from any real-world throttle interplay except what a test sets up on purpose. */
const ENV = { AUTH_RATE_LIMIT: '100000', LOGIN_IP_MAX_FAILURES: '100000', LOGIN_MAX_FAILURES: '8', LOGIN_LOCKOUT: '30s' };

/** What an authenticator app shows at `ms`. */
const codeAt = (secret: string, ms: number): string => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: ms });

type Inject = Awaited<ReturnType<TestApp['app']['inject']>>;

function harness() {
  // 5 s into a step, so "now" and "one step later" are unambiguous
  const clock = new ManualClock(Math.floor(Date.now() / STEP) * STEP + 5_000);
  const ctx = { t: undefined as unknown as TestApp, clock };

  const post = (url: string, payload?: object, token?: string, headers: Record<string, string> = {}): Promise<Inject> =>
    ctx.t.app.inject({
      method: 'POST',
      url,
      ...(payload !== undefined ? { payload } : {}),
      headers: { ...(token ? bearer(token) : {}), ...headers },
    });

  const now = () => clock.now();
  const code = (secret: string, offsetSteps = 0) => codeAt(secret, now() + offsetSteps * STEP);
  /** A code valid at no step of the ±1 window: certainly wrong, never a lucky hit. */
  const wrongCode = (secret: string): string => {
    const valid = new Set([-1, 0, 1].map((d) => code(secret, d)));
    let c: string;
    do c = String(randomInt(1_000_000)).padStart(6, '0');
    while (valid.has(c));
    return c;
  };

  const passwordLogin = (username: string, url = '/api/auth/login') => post(url, { username, password: PASSWORD });

  /** A password login that must stop at the challenge; returns the challenge token. */
  async function challenge(username: string, url = '/api/auth/login'): Promise<string> {
    const res = await passwordLogin(username, url);
    assert.equal(res.statusCode, 401, res.body);
    assert.equal(res.json().code, 'mfa_required');
    return res.json().details.challenge_token as string;
  }

  /** Signs up, enrols and confirms; the confirming code's step is left as the current one. */
  async function enabledUser(username: string) {
    const pair = await signupAndLogin(ctx.t.app, username, PASSWORD);
    const enroll = await post('/api/auth/mfa/enroll', undefined, pair.access_token);
    assert.equal(enroll.statusCode, 200, enroll.body);
    const secret = enroll.json().secret as string;
    const confirmCode = code(secret);
    const confirm = await post('/api/auth/mfa/confirm', { code: confirmCode }, pair.access_token);
    assert.equal(confirm.statusCode, 200, confirm.body);
    const userId = decodeJwt(pair.access_token).sub!;
    return { secret, confirmCode, userId, access: pair.access_token, recoveryCodes: confirm.json().recovery_codes as string[] };
  }

  const auditCount = async (type: string, userId: string) => (await ctx.t.app.services.audit.list({ limit: 100, type, userId })).length;

  return { ctx, clock, post, code, wrongCode, passwordLogin, challenge, enabledUser, auditCount };
}

describe('TOTP two-factor authentication', () => {
  const h = harness();
  const { clock, post, code, wrongCode, passwordLogin, challenge, enabledUser, auditCount } = h;
  const db = () => h.ctx.t.app.services.store.db;
  before(async () => {
    h.ctx.t = await buildTestApp(ENV, { clock });
  });
  after(() => h.ctx.t.close());

  test('enroll gives a secret, URI and QR; confirm refuses a wrong code, then turns TOTP on with 10 recovery codes', async () => {
    const pair = await signupAndLogin(h.ctx.t.app, 'alice', PASSWORD);
    const userId = decodeJwt(pair.access_token).sub!;
    const enroll = await post('/api/auth/mfa/enroll', undefined, pair.access_token);
    assert.equal(enroll.statusCode, 200, enroll.body);
    assert.equal(enroll.headers['cache-control'], 'no-store');
    const { secret, otpauth_uri, qr_svg } = enroll.json();
    assert.match(secret, /^[A-Z2-7]{32,}$/, 'base32 of at least 160 bits');
    const parsed = URI.parse(otpauth_uri);
    assert.ok(parsed instanceof TOTP);
    assert.equal(parsed.issuer, 'Bastion');
    assert.equal(parsed.label, 'alice');
    assert.equal(parsed.secret.base32, secret);
    assert.match(qr_svg, /^<svg[\s>]/);

    // stored but not active: the password alone still logs in
    const row = await db().selectFrom('users').select(['totp_secret', 'totp_enabled_at']).where('id', '=', userId).executeTakeFirstOrThrow();
    assert.equal(row.totp_secret, secret);
    assert.equal(row.totp_enabled_at, null);
    assert.equal((await passwordLogin('alice')).statusCode, 200);

    const wrong = await post('/api/auth/mfa/confirm', { code: wrongCode(secret) }, pair.access_token);
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_mfa_code');

    const confirm = await post('/api/auth/mfa/confirm', { code: code(secret) }, pair.access_token);
    assert.equal(confirm.statusCode, 200, confirm.body);
    const codes = confirm.json().recovery_codes as string[];
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const c of codes) assert.match(c, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
    const stored = await db().selectFrom('mfa_recovery_codes').select('code_hash').where('user_id', '=', userId).execute();
    assert.equal(stored.length, 10);
    for (const { code_hash } of stored) {
      assert.match(code_hash, /^[0-9a-f]{64}$/, 'only SHA-256 hashes are stored');
      assert.ok(!codes.some((c) => code_hash.includes(c.replaceAll('-', ''))));
    }
    assert.equal(await auditCount('mfa_enabled', userId), 1);
    const me = await h.ctx.t.app.inject({ url: '/api/auth/me', headers: { authorization: `Bearer ${pair.access_token}` } });
    assert.equal(me.json().mfa_enabled, true, '/me says two-factor is on');

    const again = await post('/api/auth/mfa/enroll', undefined, pair.access_token);
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'mfa_already_enabled');
  });

  test('confirm before enroll is refused', async () => {
    const pair = await signupAndLogin(h.ctx.t.app, 'amy', PASSWORD);
    const res = await post('/api/auth/mfa/confirm', { code: '123456' }, pair.access_token);
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().code, 'mfa_not_enrolled');
  });

  test('every login route stops at mfa_required; the second step returns tokens that work, with auth_time of the second step', async () => {
    const { secret, userId } = await enabledUser('bella');
    clock.advance(STEP);
    const okBefore = await auditCount('login_ok', userId);
    for (const url of ['/api/auth/login', '/api/login', '/login', '/auth', '/authenticate']) {
      const res = await passwordLogin('bella', url);
      assert.equal(res.statusCode, 401, `${url}: ${res.body}`);
      const body = res.json();
      assert.equal(body.code, 'mfa_required', url);
      assert.match(body.details.challenge_token, CHALLENGE_SHAPE, url);
      assert.equal(body.details.expires_in, 300, url);
      assert.equal(body.access_token, undefined, url);
      assert.equal(res.headers['set-cookie'], undefined, `${url} sets no cookie before the second step`);
    }
    assert.equal(await auditCount('login_ok', userId), okBefore, 'login_ok waits for the second step');

    const token = await challenge('bella');
    clock.advance(40_000);
    const done = await post('/api/auth/login/mfa', { challenge_token: token, code: code(secret) });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(done.headers['cache-control'], 'no-store');
    const pair = done.json();
    assert.deepEqual(Object.keys(pair).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    const secure = await h.ctx.t.app.inject({ url: '/api/secure', headers: bearer(pair.access_token) });
    assert.equal(secure.statusCode, 200);
    assert.equal(secure.json().user_id, userId);
    assert.equal(decodeJwt(pair.access_token)['auth_time'], Math.floor(clock.now() / 1000));
    assert.equal(await auditCount('login_ok', userId), okBefore + 1);

    // the challenge is single use, even with a new valid code
    clock.advance(STEP);
    const reuse = await post('/api/auth/login/mfa', { challenge_token: token, code: code(secret) });
    assert.equal(reuse.statusCode, 400);
    assert.equal(reuse.json().code, 'invalid_one_time_token');
  });

  test('a code is never accepted twice, not even with a new challenge (RFC 6238 §5.2)', async () => {
    const { secret, confirmCode } = await enabledUser('carl');
    // the code that confirmed enrolment is spent, and so is every earlier step
    const first = await challenge('carl');
    for (const c of [confirmCode, code(secret, -1)]) {
      const res = await post('/api/auth/login/mfa', { challenge_token: first, code: c });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'invalid_mfa_code');
    }
    clock.advance(STEP);
    const fresh = code(secret);
    assert.equal((await post('/api/auth/login/mfa', { challenge_token: first, code: fresh })).statusCode, 200);

    const second = await challenge('carl');
    const replay = await post('/api/auth/login/mfa', { challenge_token: second, code: fresh });
    assert.equal(replay.statusCode, 401);
    assert.equal(replay.json().code, 'invalid_mfa_code');
    clock.advance(STEP);
    assert.equal((await post('/api/auth/login/mfa', { challenge_token: second, code: code(secret) })).statusCode, 200);
  });

  test('only codes within one step of now are accepted', async () => {
    const { secret } = await enabledUser('dora');
    clock.advance(10 * STEP); // the last accepted step is far behind
    const token = await challenge('dora');
    for (const offset of [-3, -2, 2]) {
      const res = await post('/api/auth/login/mfa', { challenge_token: token, code: code(secret, offset) });
      assert.equal(res.statusCode, 401, `a code from ${offset} steps away`);
      assert.equal(res.json().code, 'invalid_mfa_code');
    }
    // the same challenge still takes a code from one step ago (clock drift, RFC 6238 §6)
    assert.equal((await post('/api/auth/login/mfa', { challenge_token: token, code: code(secret, -1) })).statusCode, 200);
  });

  test('five wrong codes burn a challenge; wrong codes also add up across challenges (throttle)', async () => {
    const { secret, userId } = await enabledUser('eddie');
    clock.advance(STEP);
    const first = await challenge('eddie');
    for (let i = 0; i < 5; i++) {
      const res = await post('/api/auth/login/mfa', { challenge_token: first, code: wrongCode(secret) });
      assert.equal(res.statusCode, 401, `wrong code ${i + 1}`);
      assert.equal(res.json().code, 'invalid_mfa_code');
    }
    const burned = await post('/api/auth/login/mfa', { challenge_token: first, code: code(secret) });
    assert.equal(burned.statusCode, 400, 'even the right code cannot revive a burned challenge');
    assert.equal(burned.json().code, 'invalid_one_time_token');
    assert.equal(await auditCount('mfa_failed', userId), 5);

    // A new password login does not reset the count: LOGIN_MAX_FAILURES=8 wrong codes lock the second step.
    const second = await challenge('eddie');
    for (let i = 0; i < 3; i++) {
      assert.equal((await post('/api/auth/login/mfa', { challenge_token: second, code: wrongCode(secret) })).statusCode, 401);
    }
    const locked = await post('/api/auth/login/mfa', { challenge_token: second, code: code(secret) });
    assert.equal(locked.statusCode, 429, locked.body);
    assert.equal(locked.json().code, 'too_many_attempts');
    assert.ok(Number(locked.headers['retry-after']) > 0);
    clock.advance(31_000); // LOGIN_LOCKOUT=30s
    assert.equal((await post('/api/auth/login/mfa', { challenge_token: second, code: code(secret) })).statusCode, 200);
  });

  test('a recovery code works once, in place of a code', async () => {
    const { recoveryCodes, userId } = await enabledUser('fay');
    const [firstCode, secondCode] = recoveryCodes as [string, string];
    const ok = await post('/api/auth/login/mfa', { challenge_token: await challenge('fay'), recovery_code: firstCode });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal((await h.ctx.t.app.inject({ url: '/api/secure', headers: bearer(ok.json().access_token) })).statusCode, 200);
    assert.equal(await auditCount('mfa_recovery_code_used', userId), 1);

    const again = await post('/api/auth/login/mfa', { challenge_token: await challenge('fay'), recovery_code: firstCode });
    assert.equal(again.statusCode, 401);
    assert.equal(again.json().code, 'invalid_mfa_code');

    // typed back loosely (case, no dashes) and in the code field, it still counts
    const typed = secondCode.toUpperCase().replaceAll('-', ' ');
    const loose = await post('/api/auth/login/mfa', { challenge_token: await challenge('fay'), code: typed });
    assert.equal(loose.statusCode, 200, loose.body);
    assert.equal(await auditCount('mfa_recovery_code_used', userId), 2);

    const both = await post('/api/auth/login/mfa', { challenge_token: await challenge('fay'), code: '123456', recovery_code: recoveryCodes[2]! });
    assert.equal(both.statusCode, 400);
    assert.equal(both.json().code, 'validation_failed');
  });

  test('cookie mode: /authenticate then /authenticate/mfa sets the session cookies', async () => {
    const { secret, userId } = await enabledUser('gus');
    clock.advance(STEP);
    const token = await challenge('gus', '/authenticate');
    const res = await post('/authenticate/mfa', { challenge_token: token, code: code(secret) });
    assert.equal(res.statusCode, 200, res.body);
    const cookies = Object.fromEntries(res.cookies.map((c) => [c.name, c]));
    assert.ok(cookies['jwt']?.httpOnly, 'the access token is in an HttpOnly cookie');
    assert.ok(cookies['bastion_refresh']?.httpOnly);
    assert.equal(res.json().csrf_token, cookies['csrf_token']?.value);
    assert.equal(res.json().message, 'Authenticated');
    const secure = await h.ctx.t.app.inject({ url: '/api/secure', cookies: { jwt: cookies['jwt']!.value } });
    assert.equal(secure.statusCode, 200);
    assert.equal(secure.json().user_id, userId);
  });

  test('a challenge expires after 5 minutes; a malformed one is refused', async () => {
    const { secret } = await enabledUser('hedy');
    const token = await challenge('hedy');
    clock.advance(5 * 60_000 + 1000);
    const late = await post('/api/auth/login/mfa', { challenge_token: token, code: code(secret) });
    assert.equal(late.statusCode, 400);
    assert.equal(late.json().code, 'invalid_one_time_token');
    const bogus = await post('/api/auth/login/mfa', { challenge_token: `${token.slice(0, 23)}${'A'.repeat(43)}`, code: code(secret) });
    assert.equal(bogus.statusCode, 400);
    assert.equal(bogus.json().code, 'invalid_one_time_token');
  });

  test('disable needs a fresh login and a valid code; afterwards login is one step again', async () => {
    const { secret, access, userId } = await enabledUser('ivan');
    clock.advance(10 * 60_000 + 1000); // past FRESH_LOGIN_WINDOW (10m), access token (15m) still valid
    const stale = await post('/api/auth/mfa/disable', { code: code(secret) }, access);
    assert.equal(stale.statusCode, 401);
    assert.equal(stale.json().code, 'fresh_login_required');

    const login = await post('/api/auth/login/mfa', { challenge_token: await challenge('ivan'), code: code(secret) });
    assert.equal(login.statusCode, 200, login.body);
    const fresh = login.json().access_token as string;
    for (const c of [wrongCode(secret), code(secret)]) {
      // a wrong code, and the code the login just spent
      const res = await post('/api/auth/mfa/disable', { code: c }, fresh);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'invalid_mfa_code');
    }
    clock.advance(STEP);
    const off = await post('/api/auth/mfa/disable', { code: code(secret) }, fresh);
    assert.equal(off.statusCode, 204, off.body);
    assert.equal(await auditCount('mfa_disabled', userId), 1);
    const row = await db().selectFrom('users').select(['totp_secret', 'totp_enabled_at']).where('id', '=', userId).executeTakeFirstOrThrow();
    assert.deepEqual(row, { totp_secret: null, totp_enabled_at: null });
    assert.equal((await db().selectFrom('mfa_recovery_codes').select('id').where('user_id', '=', userId).execute()).length, 0);

    const oneStep = await passwordLogin('ivan');
    assert.equal(oneStep.statusCode, 200, oneStep.body);
    assert.ok(oneStep.json().access_token);
    const twice = await post('/api/auth/mfa/disable', { code: code(secret) }, fresh);
    assert.equal(twice.statusCode, 409);
    assert.equal(twice.json().code, 'mfa_not_enabled');
  });

  test('disable also takes a recovery code', async () => {
    const { recoveryCodes, access, userId } = await enabledUser('jane');
    const off = await post('/api/auth/mfa/disable', { recovery_code: recoveryCodes[0]! }, access);
    assert.equal(off.statusCode, 204, off.body);
    assert.equal(await auditCount('mfa_disabled', userId), 1);
    assert.equal(await auditCount('mfa_recovery_code_used', userId), 1);
  });
});

describe('TOTP secrets stay out of the logs', () => {
  test('enroll secret, recovery codes and challenge tokens never reach a log line at trace level', async () => {
    let logs = '';
    const stream = new Writable({
      write(chunk, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    const h = harness();
    h.ctx.t = await buildTestApp({ ...ENV, LOG_LEVEL: 'trace' }, { clock: h.clock, logStream: stream });
    try {
      const { secret, recoveryCodes } = await h.enabledUser('logan');
      const token = await h.challenge('logan');
      await h.post('/api/auth/login/mfa', { challenge_token: token, code: h.wrongCode(secret) });
      const ok = await h.post('/api/auth/login/mfa', { challenge_token: token, recovery_code: recoveryCodes[0]! });
      assert.equal(ok.statusCode, 200);

      assert.ok(logs.length > 1000, 'logs were captured');
      assert.ok(logs.includes('/api/auth/mfa/enroll'), 'the enroll request was logged');
      const secrets = [secret, secret.toLowerCase(), token, token.split('.')[1]!, ok.json().access_token as string];
      for (const c of recoveryCodes) secrets.push(c, c.replaceAll('-', ''));
      for (const s of secrets) assert.ok(!logs.includes(s), `a secret leaked into the logs: ${s.slice(0, 6)}…`);
    } finally {
      await h.ctx.t.close();
    }
  });
});
