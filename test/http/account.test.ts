import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bearer, buildTestApp, signupAndLogin, type TestApp } from '../helpers/app.ts';

const PASSWORD = 'correct horse battery';

describe('account: sessions, log out everywhere, password, verify', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
  });
  after(() => t.close());

  const login = async (username: string, password = PASSWORD, ua = 'test-agent') =>
    (
      await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'user-agent': ua }, payload: { username, password } })
    ).json() as { access_token: string; refresh_token: string };

  test('sessions are listed one per login, the current one marked; one can be ended with its tokens', async () => {
    const first = await signupAndLogin(t.app, 'alice');
    const second = await login('alice', PASSWORD, 'Firefox on the phone');
    const list = await t.app.inject({ url: '/api/auth/sessions', headers: bearer(second.access_token) });
    assert.equal(list.statusCode, 200);
    const sessions = list.json() as Array<{ id: string; current: boolean; user_agent: string; created_at: string }>;
    assert.equal(sessions.length, 2);
    assert.equal(sessions.filter((s) => s.current).length, 1);
    assert.equal(sessions.find((s) => s.current)!.user_agent, 'Firefox on the phone');
    assert.ok(!Number.isNaN(Date.parse(sessions[0]!.created_at)));

    const other = sessions.find((s) => !s.current)!;
    const del = await t.app.inject({ method: 'DELETE', url: `/api/auth/sessions/${other.id}`, headers: bearer(second.access_token) });
    assert.equal(del.statusCode, 204);
    // the ended session's access token and refresh token stop at once
    const stale = await t.app.inject({ url: '/api/secure', headers: bearer(first.access_token) });
    assert.equal(stale.json().code, 'token_revoked');
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: first.refresh_token } })).statusCode, 401);
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(second.access_token) })).statusCode, 200);
    const again = await t.app.inject({ method: 'DELETE', url: `/api/auth/sessions/${other.id}`, headers: bearer(second.access_token) });
    assert.equal(again.json().code, 'session_not_found');
  });

  test("a user cannot end another user's session", async () => {
    await signupAndLogin(t.app, 'bob');
    const bob = await login('bob');
    const mallory = await signupAndLogin(t.app, 'mallory');
    const bobSessions = (await t.app.inject({ url: '/api/auth/sessions', headers: bearer(bob.access_token) })).json();
    const res = await t.app.inject({ method: 'DELETE', url: `/api/auth/sessions/${bobSessions[0].id}`, headers: bearer(mallory.access_token) });
    assert.equal(res.statusCode, 404);
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(bob.access_token) })).statusCode, 200);
  });

  test('log out everywhere ends every session and access token', async () => {
    const a = await signupAndLogin(t.app, 'carol');
    const b = await login('carol');
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/logout-all', headers: bearer(b.access_token) });
    assert.equal(res.statusCode, 204);
    for (const pair of [a, b]) {
      assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).json().code, 'token_revoked');
      assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: pair.refresh_token } })).statusCode, 401);
    }
    // and a new login right after works (issuance waits out the revocation stamp)
    const fresh = await login('carol');
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(fresh.access_token) })).statusCode, 200);
  });

  test('change password: current one required, policy applies, every session ends, the new one works', async () => {
    const pair = await signupAndLogin(t.app, 'dave');
    const change = (current_password: string, new_password: string) =>
      t.app.inject({ method: 'POST', url: '/api/auth/password', headers: bearer(pair.access_token), payload: { current_password, new_password } });
    const wrong = await change('not my password', 'a brand new password');
    assert.equal(wrong.statusCode, 403);
    assert.equal(wrong.json().code, 'wrong_password');
    const weak = await change(PASSWORD, 'dave');
    assert.equal(weak.json().code, 'weak_password');
    assert.ok(weak.json().details.reasons.length >= 1);
    assert.equal((await change(PASSWORD, 'a brand new password')).statusCode, 204);
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).json().code, 'token_revoked');
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'dave', password: PASSWORD } })).statusCode, 401);
    const fresh = await login('dave', 'a brand new password');
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(fresh.access_token) })).statusCode, 200);
  });

  test('verify tells whether this server accepts a token, without needing auth', async () => {
    const pair = await signupAndLogin(t.app, 'erin');
    const ok = await t.app.inject({ method: 'POST', url: '/api/auth/verify', payload: { token: pair.access_token } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().valid, true);
    assert.equal(ok.json().header.typ, 'at+jwt');
    assert.equal(typeof ok.json().claims.sub, 'string');
    const bad = await t.app.inject({ method: 'POST', url: '/api/auth/verify', payload: { token: `${pair.access_token}x` } });
    assert.deepEqual(bad.json(), { valid: false, code: 'invalid_token', message: 'The access token is invalid' });
    const junk = await t.app.inject({ method: 'POST', url: '/api/auth/verify', payload: { token: 'not a jwt' } });
    assert.equal(junk.json().valid, false);
  });
});

describe('admin API', () => {
  let t: TestApp;
  let admin: string;
  let kyleId: string;
  before(async () => {
    t = await buildTestApp({ DEMO: 'true' });
    admin = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'admin@example.com', password: 'password' } })).json().access_token;
    kyleId = (await t.app.services.users.require('kyle')).id;
  });
  after(() => t.close());

  test('only admins reach it', async () => {
    const kyle = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'kyle', password: 'p1' } })).json().access_token;
    assert.equal((await t.app.inject({ url: '/api/admin/users', headers: bearer(kyle) })).json().code, 'forbidden');
    assert.equal((await t.app.inject({ url: '/api/admin/users' })).statusCode, 401);
    const list = await t.app.inject({ url: '/api/admin/users', headers: bearer(admin) });
    assert.equal(list.statusCode, 200);
    const users = list.json() as Array<{ username: string; roles: string[]; sessions: number }>;
    assert.ok(users.length >= 6);
    assert.deepEqual(users.find((u) => u.username === 'admin')!.roles, ['admin']);
    assert.ok(users.find((u) => u.username === 'kyle')!.sessions >= 1);
  });

  test('roles: add, remove, validated', async () => {
    const add = await t.app.inject({ method: 'POST', url: `/api/admin/users/${kyleId}/roles`, headers: bearer(admin), payload: { role: 'editor' } });
    assert.equal(add.statusCode, 200);
    assert.deepEqual(add.json().roles, ['editor']);
    const bad = await t.app.inject({ method: 'POST', url: `/api/admin/users/${kyleId}/roles`, headers: bearer(admin), payload: { role: 'Not A Role' } });
    assert.equal(bad.json().code, 'validation_failed');
    const remove = await t.app.inject({ method: 'DELETE', url: `/api/admin/users/${kyleId}/roles/editor`, headers: bearer(admin) });
    assert.deepEqual(remove.json().roles, []);
    const missing = await t.app.inject({ method: 'POST', url: '/api/admin/users/nobody/roles', headers: bearer(admin), payload: { role: 'x' } });
    assert.equal(missing.json().code, 'user_not_found');
  });

  test('disable ends sessions and blocks login; enable restores login', async () => {
    const kyle = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'kyle', password: 'p1' } })).json();
    const disabled = await t.app.inject({ method: 'POST', url: `/api/admin/users/${kyleId}/disable`, headers: bearer(admin) });
    assert.equal(disabled.json().disabled, true);
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(kyle.access_token) })).json().code, 'token_revoked');
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refresh_token: kyle.refresh_token } })).statusCode, 401);
    const blocked = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'kyle', password: 'p1' } });
    assert.equal(blocked.json().code, 'account_disabled');
    const people = await t.app.inject({ url: '/api/person/', headers: bearer(admin) });
    assert.ok(!people.json().some((p: { name: string }) => p.name === 'Kyle'), 'disabled users leave the persons list');
    assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${kyleId}/enable`, headers: bearer(admin) })).json().disabled, false);
    assert.equal((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'kyle', password: 'p1' } })).statusCode, 200);
  });

  test('revoke sessions of a user', async () => {
    const sherpa = (await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'sherpa', password: 'everest' } })).json();
    const id = (await t.app.services.users.require('sherpa')).id;
    const res = await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/sessions/revoke`, headers: bearer(admin) });
    assert.ok(res.json().revoked >= 1);
    assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(sherpa.access_token) })).statusCode, 401);
  });

  test('an admin cannot disable themselves or drop their own admin role', async () => {
    const me = (await t.app.inject({ url: '/api/auth/me', headers: bearer(admin) })).json();
    for (const req of [
      { method: 'POST' as const, url: `/api/admin/users/${me.id}/disable` },
      { method: 'DELETE' as const, url: `/api/admin/users/${me.id}/roles/admin` },
    ]) {
      const res = await t.app.inject({ ...req, headers: bearer(admin) });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'self_lockout');
    }
  });
});
