/**
 * Passkeys (WebAuthn) through the HTTP API, with a software authenticator
 * (test/helpers/webauthn.ts) that makes real ES256 keys, attestations and assertions, so
 * the server's real verification (@simplewebauthn/server) runs on every answer. The clock
 * is injected: challenges expire by moving it, not by sleeping.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, testConfig, type TestApp } from '../helpers/app.ts';
import { FLAGS, SoftAuthenticator } from '../helpers/webauthn.ts';

const PASSWORD = 'correct horse battery';
/** PUBLIC_URL defaults to http://127.0.0.1:8085, which passkeys use by name (config/load.ts). */
const ORIGIN = 'http://localhost:8085';
const RP_ID = 'localhost';
const ENV = { AUTH_RATE_LIMIT: '100000', LOGIN_IP_MAX_FAILURES: '100000' };
const FIVE_MINUTES = 5 * 60_000;

type Inject = Awaited<ReturnType<TestApp['app']['inject']>>;
type Json = Record<string, any>;
/** WebAuthn options as the server sends them (JSON) */
type Options = { challenge: string; rpId: string } & Json;

/** Every error is the one shape: a code, a message, nothing else but details. */
function assertError(res: Inject, status: number, code: string): void {
  assert.equal(res.statusCode, status, `${code}: ${res.body}`);
  const body = res.json();
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  assert.deepEqual(
    Object.keys(body).filter((k) => !['code', 'message', 'details'].includes(k)),
    [],
  );
}

const cookiesOf = (setCookie: string | string[] | undefined): Record<string, string> =>
  Object.fromEntries(
    ([] as string[]).concat(setCookie ?? []).map((c) => {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      return [pair!.slice(0, i), pair!.slice(i + 1)];
    }),
  );

describe('passkeys', () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
  let t: TestApp;
  before(async () => {
    t = await buildTestApp(ENV, { clock });
  });
  after(() => t.close());

  const post = (url: string, payload?: object, token?: string, app = t.app): Promise<Inject> =>
    app.inject({ method: 'POST', url, ...(payload !== undefined ? { payload } : {}), headers: token ? bearer(token) : {} });
  const auditOf = (type: string, userId: string) => t.app.services.audit.list({ limit: 100, type, userId });

  /** Signs up and logs in (a fresh login); returns the access token and the user id. */
  async function user(username: string): Promise<{ access: string; userId: string }> {
    const pair = await signupAndLogin(t.app, username, PASSWORD);
    return { access: pair.access_token, userId: decodeJwt(pair.access_token).sub! };
  }

  /** The whole registration ceremony; returns the new passkey as the API lists it. */
  async function register(access: string, authenticator: SoftAuthenticator, name: string, app = t.app, finishOn = app): Promise<Json> {
    const options = await post('/api/auth/passkeys/registration/options', undefined, access, app);
    assert.equal(options.statusCode, 200, options.body);
    const done = await post('/api/auth/passkeys', { name, credential: authenticator.create(options.json()) }, access, finishOn);
    assert.equal(done.statusCode, 201, done.body);
    return done.json();
  }

  async function loginOptions(app = t.app): Promise<Options> {
    const res = await post('/api/auth/login/passkey/options', undefined, undefined, app);
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

  test('registering needs a fresh login; the options ask for a discoverable, user-verified passkey on this RP', async () => {
    const { access } = await user('alice');
    clock.advance(11 * 60_000); // past FRESH_LOGIN_WINDOW (10m), within ACCESS_TTL (15m)
    assertError(await post('/api/auth/passkeys/registration/options', undefined, access), 401, 'fresh_login_required');
    assertError(await post('/api/auth/passkeys/registration/options'), 401, 'missing_token');

    const fresh = await signupAndLogin(t.app, 'alice2', PASSWORD);
    const res = await post('/api/auth/passkeys/registration/options', undefined, fresh.access_token);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
    const options = res.json();
    assert.equal(options.rp.id, RP_ID);
    assert.equal(options.user.name, 'alice2');
    assert.equal(Buffer.from(options.user.id, 'base64url').toString(), decodeJwt(fresh.access_token).sub, 'the user handle is the opaque user id');
    assert.equal(options.authenticatorSelection.residentKey, 'required');
    assert.equal(options.authenticatorSelection.userVerification, 'required');
    assert.equal(options.attestation, 'none');
    assert.ok(Buffer.from(options.challenge, 'base64url').length >= 32, 'at least 256 random bits');
  });

  test('register several named passkeys, list, rename and delete them', async () => {
    const { access, userId } = await user('bob');
    const phone = new SoftAuthenticator(ORIGIN, FLAGS.UP | FLAGS.UV | FLAGS.BE | FLAGS.BS);
    const laptop = new SoftAuthenticator(ORIGIN);
    const first = await register(access, phone, '  Phone  ');
    assert.equal(first.name, 'Phone', 'the name is trimmed');
    assert.equal(first.backup_eligible, true);
    assert.equal(first.backed_up, true);
    assert.deepEqual(first.transports, ['internal']);
    assert.equal(first.last_used_at, null);

    clock.advance(1000); // listed oldest first
    // the next registration excludes the passkey already there
    const options = (await post('/api/auth/passkeys/registration/options', undefined, access)).json();
    assert.deepEqual(
      options.excludeCredentials.map((c: Json) => c.id),
      [first.id],
    );
    const second = await post('/api/auth/passkeys', { name: 'Laptop', credential: laptop.create(options) }, access);
    assert.equal(second.statusCode, 201, second.body);
    assert.equal(second.json().backup_eligible, false);

    const list = await t.app.inject({ url: '/api/auth/passkeys', headers: bearer(access) });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      list.json().map((p: Json) => p.name),
      ['Phone', 'Laptop'],
    );

    const renamed = await t.app.inject({ method: 'PATCH', url: `/api/auth/passkeys/${first.id}`, payload: { name: 'Old phone' }, headers: bearer(access) });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().name, 'Old phone');
    assertError(await t.app.inject({ method: 'PATCH', url: `/api/auth/passkeys/${first.id}`, payload: { name: '   ' }, headers: bearer(access) }), 400, 'validation_failed');

    // someone else's passkey is not found, whatever they try
    const { access: other } = await user('mallory');
    assertError(await t.app.inject({ method: 'PATCH', url: `/api/auth/passkeys/${first.id}`, payload: { name: 'mine' }, headers: bearer(other) }), 404, 'passkey_not_found');
    assertError(await t.app.inject({ method: 'DELETE', url: `/api/auth/passkeys/${first.id}`, headers: bearer(other) }), 404, 'passkey_not_found');
    assert.deepEqual((await t.app.inject({ url: '/api/auth/passkeys', headers: bearer(other) })).json(), []);

    const deleted = await t.app.inject({ method: 'DELETE', url: `/api/auth/passkeys/${first.id}`, headers: bearer(access) });
    assert.equal(deleted.statusCode, 204);
    assert.deepEqual(
      (await t.app.inject({ url: '/api/auth/passkeys', headers: bearer(access) })).json().map((p: Json) => p.name),
      ['Laptop'],
    );
    assertError(await t.app.inject({ method: 'DELETE', url: `/api/auth/passkeys/${first.id}`, headers: bearer(access) }), 404, 'passkey_not_found');
    // a deleted passkey no longer logs in
    assertError(await post('/api/auth/login/passkey', { credential: phone.get(await loginOptions()) }), 401, 'invalid_passkey');

    assert.equal((await auditOf('passkey_registered', userId)).length, 2);
    assert.equal((await auditOf('passkey_renamed', userId)).length, 1);
    assert.equal((await auditOf('passkey_deleted', userId)).length, 1);
  });

  test('log in with a passkey without a username: token mode and cookie mode, auth_time now, audited', async () => {
    const { access, userId } = await user('carol');
    const key = new SoftAuthenticator(ORIGIN);
    const passkey = await register(access, key, 'Key');
    clock.advance(60_000);

    const options = await loginOptions();
    assert.deepEqual(options.allowCredentials ?? [], [], 'no allowCredentials: the authenticator picks a discoverable passkey');
    assert.equal(options.rpId, RP_ID);
    assert.equal(options.userVerification, 'required');
    const res = await post('/api/auth/login/passkey', { credential: key.get(options) });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
    const pair = res.json();
    assert.deepEqual(Object.keys(pair).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    const claims = decodeJwt(pair.access_token);
    assert.equal(claims.sub, userId);
    assert.equal(claims['auth_time'], Math.floor(clock.now() / 1000));
    const me = await t.app.inject({ url: '/api/auth/me', headers: bearer(pair.access_token) });
    assert.equal(me.json().username, 'carol');
    // the refresh token works as any other
    const refreshed = await post('/api/auth/refresh', { refresh_token: pair.refresh_token });
    assert.equal(refreshed.statusCode, 200, refreshed.body);

    // cookie mode, as the web app logs in
    const cookie = await post('/authenticate/passkey', { credential: key.get(await loginOptions()) });
    assert.equal(cookie.statusCode, 200, cookie.body);
    const jar = cookiesOf(cookie.headers['set-cookie']);
    assert.ok(jar['jwt'] && jar['bastion_refresh'] && jar['csrf_token'], `session cookies: ${Object.keys(jar).join(', ')}`);
    assert.equal(cookie.json().csrf_token, jar['csrf_token']);
    assert.equal(cookie.json().access_token, undefined, 'no token in the body in cookie mode');
    const viaCookie = await t.app.inject({ url: '/api/auth/me', cookies: { jwt: jar['jwt']! } });
    assert.equal(viaCookie.json().username, 'carol');

    const ok = await auditOf('login_ok', userId);
    assert.equal(ok.filter((e) => e.details?.['method'] === 'passkey').length, 2);
    const listed = (await t.app.inject({ url: '/api/auth/passkeys', headers: bearer(access) })).json()[0];
    assert.equal(listed.id, passkey.id);
    assert.equal(listed.last_used_at, new Date(clock.now()).toISOString());
  });

  test('a challenge is single use: the same answer again is refused', async () => {
    const { access } = await user('dave');
    const key = new SoftAuthenticator(ORIGIN);
    await register(access, key, 'Key');
    const credential = key.get(await loginOptions());
    assert.equal((await post('/api/auth/login/passkey', { credential })).statusCode, 200);
    assertError(await post('/api/auth/login/passkey', { credential }), 400, 'passkey_challenge_invalid');
    assertError(await post('/authenticate/passkey', { credential }), 400, 'passkey_challenge_invalid');

    // a failed answer spends its challenge too
    const options = await loginOptions();
    assertError(await post('/api/auth/login/passkey', { credential: key.get(options, { origin: 'https://evil.example' }) }), 401, 'invalid_passkey');
    assertError(await post('/api/auth/login/passkey', { credential: key.get(options) }), 400, 'passkey_challenge_invalid');

    // registration challenges are single use as well
    const reg = (await post('/api/auth/passkeys/registration/options', undefined, access)).json();
    const other = new SoftAuthenticator(ORIGIN);
    const created = other.create(reg);
    assert.equal((await post('/api/auth/passkeys', { name: 'One', credential: created }, access)).statusCode, 201);
    assertError(await post('/api/auth/passkeys', { name: 'Two', credential: other.create(reg) }, access), 400, 'passkey_challenge_invalid');
  });

  test('an expired challenge is refused', async () => {
    const { access } = await user('erin');
    const key = new SoftAuthenticator(ORIGIN);
    await register(access, key, 'Key');
    const options = await loginOptions();
    clock.advance(FIVE_MINUTES + 1);
    assertError(await post('/api/auth/login/passkey', { credential: key.get(options) }), 400, 'passkey_challenge_invalid');

    const fresh = (await signupAndLogin(t.app, 'erin2', PASSWORD)).access_token;
    const reg = (await post('/api/auth/passkeys/registration/options', undefined, fresh)).json();
    clock.advance(FIVE_MINUTES + 1);
    // (5 minutes on, the login is still fresh: FRESH_LOGIN_WINDOW is 10m)
    assertError(await post('/api/auth/passkeys', { name: 'Late', credential: new SoftAuthenticator(ORIGIN).create(reg) }, fresh), 400, 'passkey_challenge_invalid');
  });

  test('a ceremony started on one instance finishes on another (same database)', async () => {
    const second = await buildApp(testConfig(ENV, t.dir), { clock });
    try {
      const { access } = await user('frank');
      const key = new SoftAuthenticator(ORIGIN);
      await register(access, key, 'Key', t.app, second);
      const options = await loginOptions(second);
      const res = await post('/api/auth/login/passkey', { credential: key.get(options) }, undefined, t.app);
      assert.equal(res.statusCode, 200, res.body);
      // and the spent challenge is spent for both
      assertError(await post('/api/auth/login/passkey', { credential: key.get(options) }, undefined, second), 400, 'passkey_challenge_invalid');
    } finally {
      await second.close();
    }
  });

  test('a signature counter that does not move forward is refused and audited (cloned authenticator)', async () => {
    const { access, userId } = await user('grace');
    const key = new SoftAuthenticator(ORIGIN);
    const passkey = await register(access, key, 'Security key');
    assert.equal((await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(), { counter: 5 }) })).statusCode, 200);

    // a clone that has signed less often than the original
    assertError(await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(), { counter: 3 }) }), 401, 'invalid_passkey');
    // the same count again is no better
    assertError(await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(), { counter: 5 }) }), 401, 'invalid_passkey');
    const alarms = await auditOf('passkey_counter_regression', userId);
    assert.equal(alarms.length, 2);
    assert.deepEqual(alarms.map((a) => a.details?.['presented_counter']).sort(), [3, 5]);
    assert.equal(alarms[0]!.details?.['stored_counter'], 5);
    assert.equal(alarms[0]!.details?.['passkey'], passkey.id);
    const failed = await auditOf('login_failed', userId);
    assert.ok(failed.some((e) => e.details?.['reason'] === 'counter_regression'));
    // the genuine authenticator, further along, still works
    assert.equal((await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(), { counter: 6 }) })).statusCode, 200);
  });

  test('a disabled user cannot log in with a passkey', async () => {
    const { access, userId } = await user('heidi');
    const key = new SoftAuthenticator(ORIGIN);
    await register(access, key, 'Key');
    await t.app.services.users.setDisabled(userId, true);
    assertError(await post('/api/auth/login/passkey', { credential: key.get(await loginOptions()) }), 403, 'account_disabled');
    assertError(await post('/authenticate/passkey', { credential: key.get(await loginOptions()) }), 403, 'account_disabled');
    await t.app.services.users.setDisabled(userId, false);
    assert.equal((await post('/api/auth/login/passkey', { credential: key.get(await loginOptions()) })).statusCode, 200);
  });

  test('an answer made for another origin or RP id (a phishing site) is refused', async () => {
    const { access, userId } = await user('ivan');
    const key = new SoftAuthenticator(ORIGIN);
    await register(access, key, 'Key');
    for (const override of [{ origin: 'http://localhost:9999' }, { origin: 'https://bastion.example.evil' }, { rpId: 'evil.example' }, { type: 'webauthn.create' }, { flags: FLAGS.UP }]) {
      assertError(await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(), override) }), 401, 'invalid_passkey');
    }
    // each refused for the check it failed, as the audit log says
    const reasons = (await auditOf('login_failed', userId)).map((e) => String(e.details?.['reason']));
    for (const check of [/origin "http:\/\/localhost:9999"/, /origin "https:\/\/bastion\.example\.evil"/, /RP ID/, /type/, /verification required/]) {
      assert.ok(reasons.some((r) => check.test(r)), `${check} in ${reasons.join(' | ')}`);
    }
    // a wrong user handle: the credential belongs to someone else
    assertError(await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(), { userHandle: Buffer.from('someone-else').toString('base64url') }) }), 401, 'invalid_passkey');
    assertError(await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(), { userHandle: null }) }), 401, 'invalid_passkey');

    // registration: the same checks, and user verification is required
    const fresh = (await signupAndLogin(t.app, 'ivan2', PASSWORD)).access_token;
    for (const override of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { flags: FLAGS.UP }]) {
      const reg = (await post('/api/auth/passkeys/registration/options', undefined, fresh)).json();
      assertError(await post('/api/auth/passkeys', { name: 'Evil', credential: new SoftAuthenticator(ORIGIN).create(reg, override) }, fresh), 400, 'passkey_registration_failed');
    }
    assert.deepEqual((await t.app.inject({ url: '/api/auth/passkeys', headers: bearer(fresh) })).json(), []);
  });

  test('with TOTP on, a passkey answers the second step after the password', async () => {
    const { access, userId } = await user('judy');
    const enroll = await post('/api/auth/mfa/enroll', undefined, access);
    const secret = enroll.json().secret as string;
    const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: clock.now() });
    assert.equal((await post('/api/auth/mfa/confirm', { code }, access)).statusCode, 200);
    const key = new SoftAuthenticator(ORIGIN);
    const passkey = await register(access, key, 'Key');
    const stranger = new SoftAuthenticator(ORIGIN);
    await register((await user('judy-other')).access, stranger, 'Other');

    const challenge = async (url = '/api/auth/login') => {
      const res = await post(url, { username: 'judy', password: PASSWORD });
      assertError(res, 401, 'mfa_required');
      assert.equal(res.json().details.passkey, true, 'the answer says a passkey may be used');
      return res.json().details.challenge_token as string;
    };

    for (const [url, mfaUrl] of [
      ['/api/auth/login', '/api/auth/login/mfa'],
      ['/authenticate', '/authenticate/mfa'],
    ] as const) {
      const token = await challenge(url);
      const options = await post('/api/auth/login/mfa/passkey/options', { challenge_token: token });
      assert.equal(options.statusCode, 200, options.body);
      assert.deepEqual(
        options.json().allowCredentials.map((c: Json) => c.id),
        [passkey.id],
        'only this user’s passkeys',
      );
      assert.equal(options.json().userVerification, 'discouraged', 'the password was the other factor');
      // another user's passkey does not answer for judy
      const wrong = await post(mfaUrl, { challenge_token: token, passkey: stranger.get(options.json(), { credentialId: stranger.credentials[0]!.id.toString('base64url') }) });
      assertError(wrong, 401, 'invalid_passkey');
      // the failed try spent that passkey challenge; a new one, answered by judy's passkey
      const again = (await post('/api/auth/login/mfa/passkey/options', { challenge_token: token })).json();
      clock.advance(1000);
      const done = await post(mfaUrl, { challenge_token: token, passkey: key.get(again) });
      assert.equal(done.statusCode, 200, done.body);
      if (mfaUrl === '/authenticate/mfa') assert.ok(cookiesOf(done.headers['set-cookie'])['jwt']);
      else assert.equal(decodeJwt(done.json().access_token)['auth_time'], Math.floor(clock.now() / 1000));
      // the MFA challenge is spent
      assertError(await post('/api/auth/login/mfa/passkey/options', { challenge_token: token }), 400, 'invalid_one_time_token');
    }
    const failures = await auditOf('mfa_failed', userId);
    assert.ok(failures.every((e) => e.details?.['method'] === 'passkey') && failures.length === 2);
    const ok = (await auditOf('login_ok', userId)).filter((e) => e.details?.['mfa'] === 'passkey');
    assert.equal(ok.length, 2);

    // code and passkey together are refused: exactly one proof
    const token = await challenge();
    const both = await post('/api/auth/login/mfa', { challenge_token: token, code: '123456', passkey: key.get(await loginOptions()) });
    assertError(both, 400, 'validation_failed');
    assertError(await post('/api/auth/login/mfa/passkey/options', { challenge_token: 'not-a-challenge' }), 400, 'invalid_one_time_token');

    // A user-verified passkey login is itself multi-factor (NIST SP 800-63B): no code asked.
    const direct = await post('/api/auth/login/passkey', { credential: key.get(await loginOptions()) });
    assert.equal(direct.statusCode, 200, direct.body);
    const last = (await auditOf('login_ok', userId))[0]!;
    assert.equal(last.details?.['method'], 'passkey');
    assert.equal(last.details?.['user_verified'], true);
  });

  test('a passkey session is revocable: after logout its token and refresh token are refused', async () => {
    const { access } = await user('ken');
    const key = new SoftAuthenticator(ORIGIN);
    await register(access, key, 'Key');
    const pair = (await post('/api/auth/login/passkey', { credential: key.get(await loginOptions()) })).json();
    assert.equal((await t.app.inject({ url: '/api/auth/me', headers: bearer(pair.access_token) })).statusCode, 200);
    const sessions = (await t.app.inject({ url: '/api/auth/sessions', headers: bearer(access) })).json();
    assert.equal(sessions.length, 2, 'the passkey login is a session like the password login');
    assert.equal((await post('/api/auth/logout', undefined, pair.access_token)).statusCode, 204);
    assertError(await t.app.inject({ url: '/api/auth/me', headers: bearer(pair.access_token) }), 401, 'token_revoked');
    assertError(await post('/api/auth/refresh', { refresh_token: pair.refresh_token }), 401, 'invalid_refresh_token');
  });

  test('malformed bodies answer 4xx in the one shape, never 500', async () => {
    const { access } = await user('leo');
    const key = new SoftAuthenticator(ORIGIN);
    await register(access, key, 'Key');
    const good = key.get(await loginOptions());
    const notJson = await t.app.inject({ method: 'POST', url: '/api/auth/login/passkey', payload: '{"credential":', headers: { 'content-type': 'application/json' } });
    assertError(notJson, 400, 'invalid_json');
    const cases: [object, number, string][] = [
      [{}, 400, 'validation_failed'],
      [{ credential: {} }, 400, 'validation_failed'],
      [{ credential: { ...good, type: 'password' } }, 400, 'validation_failed'],
      [{ credential: { ...good, id: 'not base64url!' } }, 400, 'validation_failed'],
      [{ credential: good, extra: 1 }, 400, 'validation_failed'],
      [{ credential: { ...good, response: { ...good.response, clientDataJSON: Buffer.from('not json').toString('base64url') } } }, 400, 'passkey_challenge_invalid'],
      [{ credential: { ...good, response: { ...good.response, clientDataJSON: Buffer.from('{"challenge":1}').toString('base64url') } } }, 400, 'passkey_challenge_invalid'],
      [{ credential: { ...good, response: { ...good.response, authenticatorData: 'AAAA' } } }, 401, 'invalid_passkey'],
      [{ credential: { ...good, response: { ...good.response, signature: 'AAAA' } } }, 400, 'passkey_challenge_invalid'],
    ];
    for (const [payload, status, code] of cases) assertError(await post('/api/auth/login/passkey', payload), status, code);

    // a garbage attestation, on a live challenge
    const reg = (await post('/api/auth/passkeys/registration/options', undefined, access)).json();
    const created = new SoftAuthenticator(ORIGIN).create(reg);
    const garbage = { ...created, response: { ...created.response, attestationObject: Buffer.from('junk').toString('base64url') } };
    assertError(await post('/api/auth/passkeys', { name: 'Junk', credential: garbage }, access), 400, 'passkey_registration_failed');
    assertError(await post('/api/auth/passkeys', { credential: created }, access), 400, 'validation_failed');
    assertError(await post('/api/auth/passkeys', { name: 'x'.repeat(65), credential: created }, access), 400, 'validation_failed');
    assertError(await t.app.inject({ method: 'PATCH', url: '/api/auth/passkeys/abc', payload: { name: 'a', more: 1 }, headers: bearer(access) }), 400, 'validation_failed');
  });

  test('failed passkey logins count against the client IP and lock it out', async () => {
    const strict = await buildTestApp({ AUTH_RATE_LIMIT: '100000', LOGIN_IP_MAX_FAILURES: '3' }, { clock });
    try {
      const pair = await signupAndLogin(strict.app, 'mia', PASSWORD);
      const key = new SoftAuthenticator(ORIGIN);
      await register(pair.access_token, key, 'Key', strict.app);
      for (let i = 0; i < 3; i++) {
        const options = await loginOptions(strict.app);
        assertError(await post('/api/auth/login/passkey', { credential: key.get(options, { origin: 'https://evil.example' }) }, undefined, strict.app), 401, 'invalid_passkey');
      }
      const locked = await post('/api/auth/login/passkey', { credential: key.get(await loginOptions(strict.app)) }, undefined, strict.app);
      assertError(locked, 429, 'too_many_attempts');
      assert.ok(Number(locked.headers['retry-after']) > 0);
    } finally {
      await strict.close();
    }
  });
});

describe('passkeys need a host name', () => {
  test('PUBLIC_URL on an IP address: start-up works, passkey routes answer 409 passkeys_unavailable', async () => {
    const t = await buildTestApp({ PUBLIC_URL: 'http://10.0.0.5:8085' });
    try {
      const res = await t.app.inject({ method: 'POST', url: '/api/auth/login/passkey/options' });
      assertError(res, 409, 'passkeys_unavailable');
      assert.match(res.json().message, /host name/);
      assert.equal((await t.app.inject({ url: '/api/unsecure' })).statusCode, 200);
    } finally {
      await t.close();
    }
  });

  test('WEBAUTHN_RP_ID must be a host name that covers the page origin', () => {
    assert.throws(() => loadConfig({ WEBAUTHN_RP_ID: '10.0.0.5' }), /WEBAUTHN_RP_ID.*not an IP address/);
    assert.throws(() => loadConfig({ WEBAUTHN_RP_ID: 'example.com' }), /WEBAUTHN_RP_ID.*http:\/\/localhost:8085/);
    const ok = loadConfig({ PUBLIC_URL: 'https://api.example.com', WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGIN: 'https://app.example.com,https://example.com' });
    assert.deepEqual(ok.webauthn, { rpId: 'example.com', origins: ['https://app.example.com', 'https://example.com'] });
    assert.deepEqual(loadConfig({}).webauthn, { rpId: 'localhost', origins: ['http://localhost:8085'] });
  });
});
