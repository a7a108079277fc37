import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, signupAndLogin, type TestApp } from '../helpers/app.ts';

describe('refresh-token families', () => {
  let t: TestApp;
  const clock = new ManualClock();
  before(async () => {
    t = await buildTestApp({ REFRESH_REUSE_GRACE: '10s', SESSION_IDLE_TTL: '1h', REFRESH_TTL: '3h' }, { clock });
  });
  after(() => t.close());
  const refresh = (token: string) => t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: token } });

  test('refresh rotates; a spent token replayed after the grace window revokes the family and is audited', async () => {
    const first = await signupAndLogin(t.app, 'frank');
    const r1 = await refresh(first.refresh_token);
    assert.equal(r1.statusCode, 200);
    const second = r1.json();
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.notEqual(second.access_token, first.access_token);

    const early = await refresh(first.refresh_token);
    assert.equal(early.statusCode, 200, 'inside the grace window: a race or a retry, not an attack');
    assert.equal(early.json().refresh_token, second.refresh_token, 'answered with the same successor');

    clock.advance(11_000);
    const replay = await refresh(first.refresh_token);
    assert.equal(replay.statusCode, 401);
    assert.equal(replay.json().code, 'refresh_token_reused');
    // the newer token and the session's access tokens are dead too: the family is revoked
    assert.equal((await refresh(second.refresh_token)).json().code, 'invalid_refresh_token');
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(second.access_token) })).json().code, 'token_revoked');
    const events = await t.app.services.audit.list({ limit: 10, type: 'refresh_reuse' });
    assert.equal(events.length, 1);
  });

  test('a session unused for SESSION_IDLE_TTL ends; an active one ends at REFRESH_TTL', async () => {
    const idle = await signupAndLogin(t.app, 'ivy');
    clock.advance(60 * 60_000 + 1000);
    assert.equal((await refresh(idle.refresh_token)).json().code, 'invalid_refresh_token');

    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'ivy', password: 'correct horse battery' } });
    let token = login.json().refresh_token as string;
    for (const minutes of [50, 100, 150]) {
      clock.advance(50 * 60_000);
      const r = await refresh(token);
      assert.equal(r.statusCode, 200, `refresh after ${minutes} min`);
      token = r.json().refresh_token;
    }
    clock.advance(50 * 60_000); // 200 min: used within the idle window, but past the absolute 3 h
    assert.equal((await refresh(token)).json().code, 'invalid_refresh_token');
  });
});

describe('auth API', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
  });
  after(() => t.close());

  test('signup returns the user without any hash', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/auth/signup',
      payload: { username: 'Bob', password: 'a long password', email: 'Bob@Example.com', name: 'Bob B', dob: '2000-02-29' },
    });
    assert.equal(res.statusCode, 201);
    const user = res.json();
    assert.deepEqual(Object.keys(user).sort(), [
      'created_at',
      'disabled',
      'dob',
      'email',
      'email_confirmed',
      'id',
      'mfa_enabled',
      'name',
      'roles',
      'username',
    ]);
    assert.equal(user.email_confirmed, false);
    assert.equal(user.mfa_enabled, false);
    assert.equal(user.username, 'Bob');
    assert.equal(user.email, 'bob@example.com');
    assert.deepEqual(user.roles, []);
    assert.ok(!res.body.includes('argon2'));
  });

  test('usernames are unique case-insensitively and after NFKC (no look-alikes)', async () => {
    for (const username of ['bob', 'BOB', 'ｂｏｂ']) {
      const res = await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username, password: 'another password' } });
      assert.equal(res.statusCode, 409, username);
      assert.equal(res.json().code, 'username_taken');
    }
    const email = await t.app.inject({
      method: 'POST',
      url: '/api/auth/signup',
      payload: { username: 'bobby', password: 'another password', email: 'BOB@example.com' },
    });
    assert.equal(email.statusCode, 409);
    assert.equal(email.json().code, 'email_taken');
  });

  test('weak passwords get 400 weak_password with the reasons', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username: 'carol123', password: 'carol123' } });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.code, 'weak_password');
    assert.deepEqual(body.details.reasons, ['must not be the username']);
    const short = await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username: 'carol', password: 'p1' } });
    assert.deepEqual(short.json().details.reasons, ['must be at least 8 characters']);
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'carol', password: 'p1' } })).statusCode, 401);
  });

  test('signup validates fields with clear messages', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ username: 'x', password: 'a long password' }, 'body/username'],
      [{ username: 'has space', password: 'a long password' }, 'body/username'],
      [{ username: 'dave', password: 'a long password', email: 'not-an-email' }, 'body/email'],
      [{ username: 'dave', password: 'a long password', dob: '2001-02-30' }, 'dob'],
      [{ username: 'dave', password: 'a long password', admin: true }, 'body/admin'],
      [{ username: 'dave' }, 'body/password'],
    ];
    for (const [payload, path] of cases) {
      const res = await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json().code, 'validation_failed');
      assert.ok(res.json().message.includes(path), `${res.json().message} should name ${path}`);
    }
  });

  test('login by username or email; wrong password and unknown user look the same', async () => {
    const byName = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'BOB', password: 'a long password' } });
    assert.equal(byName.statusCode, 200);
    assert.equal(byName.headers['cache-control'], 'no-store');
    const pair = byName.json();
    assert.deepEqual(Object.keys(pair).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
    assert.equal(pair.token_type, 'Bearer');
    assert.equal(pair.expires_in, 900);
    const byEmail = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'bob@example.com', password: 'a long password' } });
    assert.equal(byEmail.statusCode, 200);

    const wrong = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'bob', password: 'nope nope' } });
    const unknown = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'nobody', password: 'nope nope' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(unknown.statusCode, 401);
    assert.equal(wrong.body, unknown.body);
    assert.deepEqual(wrong.json(), { code: 'invalid_credentials', message: 'Invalid credentials' });
    const neither = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { password: 'x' } });
    assert.equal(neither.statusCode, 400);
  });

  test('me shows the logged-in user', async () => {
    const pair = await signupAndLogin(t.app, 'erin');
    const me = await t.app.inject({ url: '/api/auth/me', headers: bearer(pair.access_token) });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().username, 'erin');
  });

  test('concurrent refreshes of one token: one rotation, every request gets its successor, nothing is revoked', async () => {
    const pair = await signupAndLogin(t.app, 'grace');
    const results = await Promise.all(
      Array.from({ length: 5 }, () => t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: pair.refresh_token } })),
    );
    assert.deepEqual(results.map((r) => r.statusCode), [200, 200, 200, 200, 200]);
    const successors = new Set(results.map((r) => r.json().refresh_token));
    assert.equal(successors.size, 1);
    const next = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: [...successors][0] } });
    assert.equal(next.statusCode, 200, 'the session lives on');
  });

  test('bad refresh tokens are 401 invalid_refresh_token', async () => {
    const pair = await signupAndLogin(t.app, 'heidi');
    const [id, secret] = pair.refresh_token.split('.');
    for (const token of ['garbage', `${id}.${'A'.repeat(43)}`, `${'A'.repeat(22)}.${secret}`, '']) {
      const res = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: token } });
      assert.equal(res.statusCode, token === '' ? 400 : 401, token);
    }
    const none = await t.app.inject({ method: 'POST', url: '/api/auth/refresh' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().code, 'invalid_refresh_token');
  });

  test('logout (empty body) ends the session and the presented token at once', async () => {
    const pair = await signupAndLogin(t.app, 'ivan');
    const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { ...bearer(pair.access_token), 'content-type': 'application/json' }, payload: '' });
    assert.equal(out.statusCode, 204);
    const me = await t.app.inject({ url: '/api/auth/me', headers: bearer(pair.access_token) });
    assert.equal(me.statusCode, 401);
    assert.equal(me.json().code, 'token_revoked');
    assert.match(String(me.headers['www-authenticate']), /error="invalid_token"/);
    const refresh = await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: pair.refresh_token } });
    assert.equal(refresh.statusCode, 401);
    // a second session of the same user is untouched
    const other = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'ivan', password: 'correct horse battery' } });
    assert.equal((await t.app.inject({ url: '/api/auth/me', headers: bearer(other.json().access_token) })).statusCode, 200);
    // a bare POST without any body or content type works too
    const bare = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(other.json().access_token) });
    assert.equal(bare.statusCode, 204);
  });
});
