/**
 * Log in with an OpenID Connect provider (issue #11, parts 2–4), over real HTTP on
 * loopback: Bastion listening, a real `oidc-provider` (test/helpers/oidc-provider.ts),
 * redirects followed by hand with a cookie jar, as a browser would. Both servers live on
 * 127.0.0.1, so, as in a browser, one jar holds the cookies of both (paths kept apart).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { JWTPayload } from 'jose';
import { effectiveSettings } from '../../src/config/docs.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { buildTestApp, type TestApp } from '../helpers/app.ts';
import { PROVIDER_PASSWORD, startTestProvider, type TestAccount, type TestProvider } from '../helpers/oidc-provider.ts';
import { runCli } from '../helpers/server.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A browser's cookie store for one host: name + path, Max-Age honoured, ports ignored (as browsers do). */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>();

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = (key: string) => attrs.find((a) => a.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1);
      const path = attr('path') ?? '/';
      const expires = attr('expires');
      const gone = attr('max-age') === '0' || value === '' || (expires !== undefined && Date.parse(expires) <= Date.now());
      if (gone) this.cookies.delete(`${name};${path}`);
      else this.cookies.set(`${name};${path}`, { name, value, path });
    }
  }

  header(url: URL): string {
    return [...this.cookies.values()]
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  get(name: string): string | undefined {
    return [...this.cookies.values()].find((c) => c.name === name)?.value;
  }
}

interface Hop {
  readonly status: number;
  readonly location: URL | null;
  readonly setCookies: string[];
  readonly text: string;
}

async function go(jar: CookieJar, url: URL | string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Hop> {
  const target = new URL(url);
  const headers: Record<string, string> = { ...init.headers };
  const cookie = jar.header(target);
  if (cookie) headers['cookie'] = cookie;
  let body: string | undefined;
  if (init.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  }
  const res = await fetch(target, { method: init.method ?? 'GET', headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
  const setCookies = res.headers.getSetCookie();
  jar.store(setCookies);
  const location = res.headers.get('location');
  return { status: res.status, location: location ? new URL(location, target) : null, setCookies, text: await res.text() };
}

const corpAccounts: TestAccount[] = [
  { sub: 'sub-ada', login: 'ada', email: 'ada@example.com', email_verified: true, preferred_username: 'ada', name: 'Ada Lovelace' },
  { sub: 'sub-bob', login: 'bob', email: 'bob@example.com', email_verified: false, preferred_username: 'bob' },
];

describe('log in with an OpenID Connect provider', () => {
  let provider: TestProvider;
  let downProvider: TestProvider;
  let t: TestApp;
  let base: string;
  const clock = new ManualClock();
  const logLines: string[] = [];

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const callback = (id: string) => `${base}/api/auth/oidc/${id}/callback`;
    [provider, downProvider] = await Promise.all([
      startTestProvider({ redirectUris: [callback('corp'), callback('badsecret')], accounts: corpAccounts }),
      startTestProvider({ redirectUris: [callback('down')] }),
    ]);
    await downProvider.stop(); // a provider that is down from the start
    const entry = (id: string, name: string, p: TestProvider, secret = p.clientSecret) => ({ id, name, issuer: p.issuer, client_id: p.clientId, client_secret: secret });
    t = await buildTestApp(
      {
        PUBLIC_URL: base,
        COOKIE_SECURE: 'false',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        // every request of this file counts in one window (the clock is manual): room for all of them
        AUTH_RATE_LIMIT: '1000',
        OIDC_PROVIDERS: JSON.stringify([
          entry('corp', 'Corp SSO', provider),
          entry('badsecret', 'Wrong secret', provider, 'not-the-secret'),
          entry('down', 'Down SSO', downProvider),
        ]),
      },
      { clock, logStream: { write: (line: string) => void logLines.push(line) } },
    );
    await t.app.listen({ port, host: '127.0.0.1' });
  });

  after(async () => {
    await t?.close();
    await provider?.stop();
  });

  const db = () => t.app.services.store.db;
  const userCount = async () => Number((await db().selectFrom('users').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow()).n);
  const lastAudit = async (type: string) => (await t.app.services.audit.list({ limit: 1, type }))[0];

  /** GET the start route; returns the provider's authorization URL. */
  async function start(jar: CookieJar, providerId = 'corp', query = 'return_to=/%23/people'): Promise<Hop> {
    return go(jar, `${base}/api/auth/oidc/${providerId}/start?${query}`);
  }

  /**
   * From the authorization URL through the provider's pages (login, consent) until the
   * provider sends the browser back to Bastion; returns that callback URL, not yet followed.
   */
  async function atProvider(jar: CookieJar, authorizationUrl: URL, login: string, consent: 'allow' | 'deny' = 'allow'): Promise<URL> {
    let next: URL = authorizationUrl;
    for (let hops = 0; hops < 12; hops += 1) {
      if (next.href.startsWith(base)) return next;
      const hop = await go(jar, next);
      if (hop.location) {
        next = hop.location;
        continue;
      }
      assert.equal(hop.status, 200, `provider page ${next.pathname}: ${hop.text.slice(0, 300)}`);
      const uid = next.pathname.split('/')[2]!;
      let post: Hop;
      if (hop.text.includes('name="login"')) {
        post = await go(jar, new URL(`/interaction/${uid}/login`, next), { method: 'POST', form: { login, password: PROVIDER_PASSWORD } });
      } else if (hop.text.includes('<h1>Authorize</h1>')) {
        post = await go(jar, new URL(`/interaction/${uid}/${consent === 'allow' ? 'confirm' : 'abort'}`, next), { method: 'POST', form: {} });
      } else {
        // a page a browser submits by itself (the provider ending the previous account's session)
        const action = /<form method="post" action="([^"]+)"/.exec(hop.text)?.[1];
        assert.ok(action, `unexpected provider page: ${hop.text.slice(0, 300)}`);
        const inputs = Object.fromEntries([...hop.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
        post = await go(jar, new URL(action, next), { method: 'POST', form: inputs });
      }
      assert.ok(post.location, `the provider answered ${post.status}: ${post.text.slice(0, 300)}`);
      next = post.location;
    }
    throw new Error('too many hops at the provider');
  }

  /** The whole login: start, the provider, the callback; returns the callback's answer. */
  async function loginWith(jar: CookieJar, login: string, options: { providerId?: string; query?: string; consent?: 'allow' | 'deny' } = {}) {
    const started = await start(jar, options.providerId, options.query);
    assert.equal(started.status, 303);
    assert.ok(started.location, 'start redirects');
    if (started.location.href.startsWith(base)) return started; // failed at the start
    const callbackUrl = await atProvider(jar, started.location, login, options.consent);
    return go(jar, callbackUrl);
  }

  const sessionCookieSet = (hop: Hop) => hop.setCookies.some((c) => /^jwt=[^;]+/.test(c));
  const me = (jar: CookieJar) => go(jar, `${base}/api/auth/me`).then((h) => ({ status: h.status, body: h.status === 200 ? JSON.parse(h.text) : null }));

  /** A failure lands on the login page with the code, sets no session, and is audited with that code. */
  async function assertFailure(hop: Hop, code: string, page = '/login') {
    assert.equal(hop.status, 303);
    assert.equal(hop.location?.href, `${base}/#${page}?error=${code}`);
    assert.equal(sessionCookieSet(hop), false, 'no session cookie');
    const event = await lastAudit('oidc_login_failed');
    assert.equal(event?.details?.['code'], code, 'audited with the code');
  }

  test('the providers endpoint lists ids and names only', async () => {
    const hop = await go(new CookieJar(), `${base}/api/auth/oidc/providers`);
    assert.equal(hop.status, 200);
    assert.deepEqual(JSON.parse(hop.text), [
      { id: 'corp', name: 'Corp SSO' },
      { id: 'badsecret', name: 'Wrong secret' },
      { id: 'down', name: 'Down SSO' },
    ]);
    assert.ok(!hop.text.includes(provider.clientSecret));
  });

  test('start: authorization code + PKCE S256, state and nonce, bound to an HttpOnly Lax flow cookie', async () => {
    const jar = new CookieJar();
    const hop = await start(jar);
    assert.equal(hop.status, 303);
    const url = hop.location!;
    assert.ok(url.href.startsWith(`${provider.issuer}/`), url.href);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.match(url.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
    assert.ok((url.searchParams.get('state') ?? '').length >= 32);
    assert.ok((url.searchParams.get('nonce') ?? '').length >= 32);
    assert.equal(url.searchParams.get('redirect_uri'), `${base}/api/auth/oidc/corp/callback`);
    const cookie = hop.setCookies.find((c) => c.startsWith('bastion_oidc='))!;
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);
    assert.match(cookie, /Path=\/api\/auth\/oidc/);
    assert.match(cookie, /Max-Age=600/);
    const row = await db().selectFrom('oidc_flows').selectAll().where('state', '=', url.searchParams.get('state')!).executeTakeFirstOrThrow();
    assert.equal(row.provider_id, 'corp');
    assert.equal(row.return_to, '/#/people');
    assert.notEqual(row.id, jar.get('bastion_oidc'), 'only a hash of the cookie is stored');
  });

  test('first login creates an account and its identity, sets the session cookies and lands on return_to; the second reuses them', async () => {
    const before = await userCount();
    const jar = new CookieJar();
    const done = await loginWith(jar, 'ada');
    assert.equal(done.status, 303);
    assert.equal(done.location?.href, `${base}/#/people`);
    assert.ok(sessionCookieSet(done), 'jwt cookie');
    assert.ok(done.setCookies.some((c) => c.startsWith('csrf_token=')));
    assert.ok(done.setCookies.some((c) => c.startsWith('bastion_refresh=')));
    assert.equal(await userCount(), before + 1);

    const who = await me(jar);
    assert.equal(who.status, 200);
    assert.equal(who.body.username, 'ada');
    assert.equal(who.body.email, 'ada@example.com');
    assert.equal(who.body.email_confirmed, true, 'the provider verified it');
    assert.equal(who.body.has_password, false);
    assert.equal(who.body.identities.length, 1);
    const [identity] = who.body.identities;
    assert.equal(identity.provider_id, 'corp');
    assert.equal(identity.provider_name, 'Corp SSO');
    assert.equal(identity.issuer, provider.issuer);
    assert.equal(identity.subject, 'sub-ada');
    assert.equal(identity.email, 'ada@example.com');
    assert.ok(!Number.isNaN(Date.parse(identity.linked_at)));
    const ok = await lastAudit('login_ok');
    assert.equal(ok?.user_id, who.body.id);
    assert.equal(ok?.details?.['provider'], 'corp');

    // no password: password login fails like any wrong password
    const pw = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ada', password: '!' }) });
    assert.equal(pw.status, 401);

    // again, from a new browser (the provider remembers its own session in its cookies only)
    const jar2 = new CookieJar();
    const again = await loginWith(jar2, 'ada');
    assert.equal(again.location?.href, `${base}/#/people`);
    assert.equal(await userCount(), before + 1, 'no second account');
    assert.equal((await me(jar2)).body.id, who.body.id);
  });

  test('a new identity whose username is taken gets a unique one', async () => {
    await t.app.services.users.create({ username: 'carol', password: 'correct horse battery' });
    provider.addAccount({ sub: 'sub-carol-2', login: 'carol2', preferred_username: 'carol', email: 'carol.other@example.com', email_verified: true });
    const jar = new CookieJar();
    const done = await loginWith(jar, 'carol2');
    assert.equal(done.location?.href, `${base}/#/people`);
    assert.equal((await me(jar)).body.username, 'carol-2');
  });

  test('linking by email: verified at the provider and confirmed at Bastion links to the existing account', async () => {
    const existing = await t.app.services.users.create({ username: 'dora', password: 'correct horse battery', email: 'dora@example.com' });
    await db().updateTable('users').set({ email_confirmed_at: clock.now() }).where('id', '=', existing.id).execute();
    provider.addAccount({ sub: 'sub-dora', login: 'dora', email: 'dora@example.com', email_verified: true });
    const before = await userCount();
    const jar = new CookieJar();
    const done = await loginWith(jar, 'dora');
    assert.equal(done.location?.href, `${base}/#/people`);
    assert.equal(await userCount(), before);
    const who = await me(jar);
    assert.equal(who.body.id, existing.id);
    assert.equal(who.body.has_password, true);
    assert.equal(who.body.identities[0].subject, 'sub-dora');
    assert.equal((await lastAudit('oidc_linked'))?.details?.['by'], 'verified_email');
  });

  test('linking by email: an address the provider did not verify is refused (account pre-hijacking); no account, no session', async () => {
    const victim = await t.app.services.users.create({ username: 'bobby', password: 'correct horse battery', email: 'bob@example.com' });
    await db().updateTable('users').set({ email_confirmed_at: clock.now() }).where('id', '=', victim.id).execute();
    const before = await userCount();
    const done = await loginWith(new CookieJar(), 'bob'); // email_verified: false at the provider
    await assertFailure(done, 'oidc_link_required');
    assert.equal(await userCount(), before);
    assert.equal(await db().selectFrom('oidc_identities').select('id').where('subject', '=', 'sub-bob').executeTakeFirst(), undefined);
  });

  test('linking by email: a Bastion email that is not confirmed is refused', async () => {
    await t.app.services.users.create({ username: 'erin', password: 'correct horse battery', email: 'erin@example.com' });
    provider.addAccount({ sub: 'sub-erin', login: 'erin', email: 'erin@example.com', email_verified: true });
    const before = await userCount();
    const done = await loginWith(new CookieJar(), 'erin');
    await assertFailure(done, 'oidc_link_required');
    assert.equal(await userCount(), before);
  });

  test('an unverified email on a new identity is not given to the new account', async () => {
    provider.addAccount({ sub: 'sub-fay', login: 'fay', email: 'fay@example.com', email_verified: false, preferred_username: 'fay' });
    const jar = new CookieJar();
    await loginWith(jar, 'fay');
    const who = await me(jar);
    assert.equal(who.body.email, null, 'whoever owns the mailbox cannot reset their way into this account');
    assert.equal(who.body.identities[0].email, 'fay@example.com');
  });

  /** Cookie-mode password login in this jar (as the web app does). */
  async function passwordLogin(jar: CookieJar, username: string, password = 'correct horse battery') {
    const res = await fetch(`${base}/authenticate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    assert.equal(res.status, 200);
    jar.store(res.headers.getSetCookie());
    return (await res.json()) as { csrf_token: string };
  }

  test('link from the Account page: bound to the session that started it; then unlink, but never the last way in', async () => {
    const gus = await t.app.services.users.create({ username: 'gus', password: 'correct horse battery', email: 'gus@example.com' });
    provider.addAccount({ sub: 'sub-gus-corp', login: 'gus-at-corp', email: 'someone-else@example.com', email_verified: true });
    const jar = new CookieJar();
    const { csrf_token } = await passwordLogin(jar, 'gus');
    const done = await loginWith(jar, 'gus-at-corp', { query: 'intent=link&return_to=/%23/account' });
    assert.equal(done.status, 303);
    assert.equal(done.location?.href, `${base}/#/account`);
    const who = await me(jar);
    assert.equal(who.body.id, gus.id);
    assert.equal(who.body.identities.length, 1);
    assert.equal(who.body.identities[0].subject, 'sub-gus-corp');
    assert.equal((await lastAudit('oidc_linked'))?.details?.['by'], 'account_page');

    // the linked identity now logs in to gus
    const other = new CookieJar();
    await loginWith(other, 'gus-at-corp');
    assert.equal((await me(other)).body.id, gus.id);

    // unlink: gus has a password, so the identity is not the last way in
    const unlink = await go(jar, `${base}/api/auth/identities/${who.body.identities[0].id}`, { method: 'DELETE', headers: { 'x-csrf-token': csrf_token } });
    assert.equal(unlink.status, 204);
    assert.equal((await me(jar)).body.identities.length, 0);
    assert.equal((await lastAudit('oidc_unlinked'))?.user_id, gus.id);
  });

  test('unlink is refused for the only way to log in, allowed once there is another identity', async () => {
    provider.addAccount({ sub: 'sub-hal', login: 'hal', email: 'hal@example.com', email_verified: true, preferred_username: 'hal' });
    const jar = new CookieJar();
    await loginWith(jar, 'hal');
    const csrf = jar.get('csrf_token')!;
    const who = await me(jar);
    const del = (id: string) => go(jar, `${base}/api/auth/identities/${id}`, { method: 'DELETE', headers: { 'x-csrf-token': csrf } });
    const refused = await del(who.body.identities[0].id);
    assert.equal(refused.status, 409);
    assert.equal(JSON.parse(refused.text).code, 'oidc_last_login_method');
    const noCsrf = await go(jar, `${base}/api/auth/identities/${who.body.identities[0].id}`, { method: 'DELETE' });
    assert.equal(noCsrf.status, 403, 'cookie-authenticated DELETE needs the CSRF header');

    provider.addAccount({ sub: 'sub-hal-2', login: 'hal2', email: 'hal.two@example.com', email_verified: true });
    const linked = await loginWith(jar, 'hal2', { query: 'intent=link&return_to=/%23/account' });
    assert.equal(linked.location?.href, `${base}/#/account`);
    const now = await me(jar);
    assert.equal(now.body.identities.length, 2);
    assert.equal((await del(now.body.identities[0].id)).status, 204);
    assert.equal((await del(now.body.identities[1].id)).status, 409, 'the last one stays');
  });

  test('a passkey counts as a way to log in: the only identity can then be unlinked', async () => {
    provider.addAccount({ sub: 'sub-pat', login: 'pat', email: 'pat@example.com', email_verified: true, preferred_username: 'pat' });
    const jar = new CookieJar();
    await loginWith(jar, 'pat');
    const who = await me(jar);
    await db()
      .insertInto('passkeys')
      .values({ id: 'pat-key', user_id: who.body.id, name: 'Laptop', public_key: 'x', counter: 0, transports: null, backup_eligible: 0, backed_up: 0, created_at: clock.now(), last_used_at: null })
      .execute();
    const del = await go(jar, `${base}/api/auth/identities/${who.body.identities[0].id}`, { method: 'DELETE', headers: { 'x-csrf-token': jar.get('csrf_token')! } });
    assert.equal(del.status, 204);
  });

  test('link intent without a session, or finished in another session, is refused (login CSRF)', async () => {
    const anonymous = await start(new CookieJar(), 'corp', 'intent=link&return_to=/%23/account');
    assert.equal(anonymous.location?.href, `${base}/#/account?error=oidc_link_session_lost`);

    await t.app.services.users.create({ username: 'ivy', password: 'correct horse battery' });
    await t.app.services.users.create({ username: 'jon', password: 'correct horse battery' });
    provider.addAccount({ sub: 'sub-ivy', login: 'ivy-corp' });
    const jar = new CookieJar();
    await passwordLogin(jar, 'ivy');
    const started = await start(jar, 'corp', 'intent=link&return_to=/%23/account');
    const callback = await atProvider(jar, started.location!, 'ivy-corp');
    await passwordLogin(jar, 'jon'); // another account is logged in by the time the callback comes
    const done = await go(jar, callback);
    await assertFailure(done, 'oidc_link_session_lost', '/account');
    assert.equal(await db().selectFrom('oidc_identities').select('id').where('subject', '=', 'sub-ivy').executeTakeFirst(), undefined);
  });

  test('login CSRF: an attacker’s callback URL opened in a victim’s browser finishes nothing', async () => {
    provider.addAccount({ sub: 'sub-mallory', login: 'mallory', email: 'mallory@example.com', email_verified: true });
    const attacker = new CookieJar();
    const started = await start(attacker);
    const callback = await atProvider(attacker, started.location!, 'mallory');
    const victim = new CookieJar(); // no flow cookie: the victim never started this login
    await assertFailure(await go(victim, callback), 'oidc_flow_missing');
    const victimWithOwnFlow = new CookieJar();
    await start(victimWithOwnFlow); // the victim's own, different flow
    await assertFailure(await go(victimWithOwnFlow, callback), 'oidc_state_mismatch');
  });

  test('a disabled user cannot log in through the provider', async () => {
    provider.addAccount({ sub: 'sub-kim', login: 'kim', email: 'kim@example.com', email_verified: true, preferred_username: 'kim' });
    const jar = new CookieJar();
    await loginWith(jar, 'kim');
    const kim = await me(jar);
    await t.app.services.users.setDisabled(kim.body.id, true);
    const done = await loginWith(new CookieJar(), 'kim');
    await assertFailure(done, 'account_disabled');
  });

  test('a user with two-factor authentication is sent to the password login', async () => {
    provider.addAccount({ sub: 'sub-lee', login: 'lee', email: 'lee@example.com', email_verified: true, preferred_username: 'lee' });
    const jar = new CookieJar();
    await loginWith(jar, 'lee');
    const lee = await me(jar);
    await db().updateTable('users').set({ totp_secret: 'JBSWY3DPEHPK3PXP', totp_enabled_at: clock.now() }).where('id', '=', lee.body.id).execute();
    await assertFailure(await loginWith(new CookieJar(), 'lee'), 'oidc_mfa_required');
  });

  test('return_to is only ever a path of this web app (no open redirect)', async () => {
    provider.addAccount({ sub: 'sub-max', login: 'max', email: 'max@example.com', email_verified: true });
    for (const evil of ['//evil.example', 'https://evil.example', '/\\evil.example', 'javascript:alert(1)', '/\t/evil.example', '']) {
      const done = await loginWith(new CookieJar(), 'max', { query: `return_to=${encodeURIComponent(evil)}` });
      assert.equal(done.location?.href, `${base}/`, `return_to ${JSON.stringify(evil)} ends on Bastion's own page`);
    }
    const fine = await loginWith(new CookieJar(), 'max', { query: `return_to=${encodeURIComponent('/#/account')}` });
    assert.equal(fine.location?.href, `${base}/#/account`);
  });

  describe('failures land on the login page with a code, create nothing and are audited', () => {
    test('provider down at start', async () => {
      const before = await userCount();
      const hop = await start(new CookieJar(), 'down');
      await assertFailure(hop, 'oidc_provider_unavailable');
      assert.equal(await userCount(), before);
    });

    test('an unknown provider', async () => {
      await assertFailure(await start(new CookieJar(), 'nope'), 'oidc_provider_unknown');
    });

    test('wrong client secret (the token endpoint refuses the client)', async () => {
      const before = await userCount();
      const done = await loginWith(new CookieJar(), 'ada', { providerId: 'badsecret' });
      await assertFailure(done, 'oidc_provider_rejected');
      assert.equal(await userCount(), before);
    });

    test('denied consent (error=access_denied)', async () => {
      provider.addAccount({ sub: 'sub-ned', login: 'ned', email: 'ned@example.com', email_verified: true });
      const before = await userCount();
      const done = await loginWith(new CookieJar(), 'ned', { consent: 'deny' });
      await assertFailure(done, 'oidc_access_denied');
      assert.equal(await userCount(), before);
    });

    test('state mismatch', async () => {
      const jar = new CookieJar();
      const started = await start(jar);
      const callback = await atProvider(jar, started.location!, 'ada');
      callback.searchParams.set('state', 'not-the-state-we-sent');
      await assertFailure(await go(jar, callback), 'oidc_state_mismatch');
    });

    test('replayed callback', async () => {
      const jar = new CookieJar();
      const started = await start(jar);
      const flowCookie = jar.get('bastion_oidc')!;
      const callback = await atProvider(jar, started.location!, 'ada');
      const first = await go(jar, callback);
      assert.equal(first.location?.href, `${base}/#/people`);
      // the same callback with the same flow cookie, as an attacker holding both would send it
      const replayJar = new CookieJar();
      replayJar.store([`bastion_oidc=${flowCookie}; Path=/api/auth/oidc`]);
      const replay = await go(replayJar, callback);
      await assertFailure(replay, 'oidc_flow_replayed');
    });

    test('expired flow (10 minutes)', async () => {
      const before = await userCount();
      provider.addAccount({ sub: 'sub-ola', login: 'ola', email: 'ola@example.com', email_verified: true });
      const jar = new CookieJar();
      const started = await start(jar);
      const callback = await atProvider(jar, started.location!, 'ola');
      clock.advance(10 * 60_000 + 1000);
      await assertFailure(await go(jar, callback), 'oidc_flow_expired');
      assert.equal(await userCount(), before);
    });

    test('nonce mismatch (an ID token minted for another login)', async () => {
      provider.addAccount({ sub: 'sub-pia', login: 'pia', email: 'pia@example.com', email_verified: true });
      const before = await userCount();
      provider.tamper((claims: JWTPayload) => ({ ...claims, nonce: 'a-nonce-from-another-login' }));
      try {
        await assertFailure(await loginWith(new CookieJar(), 'pia'), 'oidc_nonce_mismatch');
      } finally {
        provider.tamper(null);
      }
      assert.equal(await userCount(), before);
    });

    test('an ID token for another audience', async () => {
      provider.addAccount({ sub: 'sub-quinn', login: 'quinn', email: 'quinn@example.com', email_verified: true });
      const before = await userCount();
      provider.tamper((claims: JWTPayload) => ({ ...claims, aud: 'another-client', azp: 'another-client' }));
      try {
        await assertFailure(await loginWith(new CookieJar(), 'quinn'), 'oidc_invalid_id_token');
      } finally {
        provider.tamper(null);
      }
      assert.equal(await userCount(), before);
    });

    test('mix-up: a callback on another provider’s redirect URI does not finish the flow', async () => {
      const jar = new CookieJar();
      const started = await start(jar);
      const callback = await atProvider(jar, started.location!, 'ada');
      const elsewhere = new URL(`${base}/api/auth/oidc/badsecret/callback${callback.search}`);
      await assertFailure(await go(jar, elsewhere), 'oidc_issuer_mismatch');
    });

    test('an iss response parameter naming another issuer (RFC 9207)', async () => {
      const jar = new CookieJar();
      const started = await start(jar);
      const callback = await atProvider(jar, started.location!, 'ada');
      callback.searchParams.set('iss', 'https://attacker.example');
      await assertFailure(await go(jar, callback), 'oidc_issuer_mismatch');
    });
  });

  test('logs carry no authorization code, state, token or client secret', async () => {
    const jar = new CookieJar();
    const started = await start(jar);
    const callback = await atProvider(jar, started.location!, 'ada');
    await go(jar, callback);
    const code = callback.searchParams.get('code')!;
    const state = callback.searchParams.get('state')!;
    const text = logLines.join('');
    assert.ok(text.includes('/api/auth/oidc/corp/callback?code=…&state=…'), 'the callback is logged, without its values');
    assert.ok(text.includes('oidc login failed'), 'failures are logged');
    for (const secret of [code, state, provider.clientSecret, 'not-the-secret', jar.get('jwt')!, jar.get('bastion_refresh') ?? 'x'.repeat(40)]) {
      assert.ok(!text.includes(secret), `a secret reached the log: ${secret.slice(0, 8)}…`);
    }
  });
});

test('start and callback count against the per-IP flood limit of the auth routes', async () => {
  const t = await buildTestApp({ AUTH_RATE_LIMIT: '3', OIDC_PROVIDERS: JSON.stringify([{ id: 'corp', name: 'Corp', issuer: 'https://id.invalid', client_id: 'c', client_secret: 's' }]) });
  try {
    const statuses: number[] = [];
    for (const url of ['/api/auth/oidc/nope/start', '/api/auth/oidc/nope/callback', '/authenticate', '/api/auth/oidc/nope/start']) {
      const res = await t.app.inject({ method: url === '/authenticate' ? 'POST' : 'GET', url, ...(url === '/authenticate' ? { payload: { username: 'x', password: 'y' } } : {}) });
      statuses.push(res.statusCode);
    }
    assert.deepEqual(statuses, [303, 303, 401, 429], 'one counter per IP across the auth routes');
  } finally {
    await t.close();
  }
});

describe('OIDC_PROVIDERS configuration', () => {
  const good = { id: 'corp', name: 'Corp SSO', issuer: 'https://id.example', client_id: 'bastion', client_secret: 'super-secret-value' };
  const load = (value: unknown) => () => loadConfig({ OIDC_PROVIDERS: typeof value === 'string' ? value : JSON.stringify(value) });

  test('bad values stop start-up with one line naming OIDC_PROVIDERS, never echoing the secret', () => {
    const cases: [unknown, RegExp][] = [
      ['[{"id": "corp", "client_secret": "super-secret-value"', /^config: OIDC_PROVIDERS must be a JSON array .*not valid JSON/],
      [{ id: 'corp' }, /^config: OIDC_PROVIDERS must be a JSON array of provider objects$/],
      [[{ ...good, name: undefined }], /^config: OIDC_PROVIDERS provider "corp" needs "name"/],
      [[{ ...good, client_secret: '' }], /^config: OIDC_PROVIDERS provider "corp" needs "client_secret"/],
      [[good, { ...good, name: 'Again' }], /^config: OIDC_PROVIDERS has two providers with the id "corp"$/],
      [[{ ...good, issuer: 'http://id.example' }], /^config: OIDC_PROVIDERS provider "corp": "issuer" may use http:\/\/ only on a loopback address/],
      [[{ ...good, issuer: 'http://10.0.0.5:8080' }], /loopback/],
      [[{ ...good, issuer: 'ftp://id.example' }], /must be an https:\/\/ URL/],
      [[{ ...good, id: 'Corp SSO' }], /"id" must be 1 to 32 lower-case letters/],
      [[{ ...good, extra: 1 }], /unknown field "extra"/],
    ];
    for (const [value, message] of cases) {
      assert.throws(load(value), (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.match(err.message, message);
        assert.ok(!err.message.includes('super-secret-value'), 'the secret is never echoed');
        assert.ok(!err.message.includes('\n'), 'one line');
        return true;
      });
    }
  });

  test('http:// is accepted on loopback only; scopes default and always include openid', () => {
    for (const issuer of ['http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000', 'https://id.example/realms/x']) {
      assert.equal(load([{ ...good, issuer }])().oidcProviders[0]!.issuer, issuer);
    }
    assert.equal(load([good])().oidcProviders[0]!.scopes, 'openid email profile');
    assert.equal(load([{ ...good, scopes: 'email profile' }])().oidcProviders[0]!.scopes, 'openid email profile');
  });

  test('client_secret is masked wherever the settings are printed', () => {
    const printed = effectiveSettings({ OIDC_PROVIDERS: JSON.stringify([good]) }).find((s) => s.name === 'OIDC_PROVIDERS')!;
    assert.ok(!printed.value!.includes('super-secret-value'));
    assert.match(printed.value!, /"client_secret":"\*\*\*"/);
    assert.match(printed.value!, /"client_id":"bastion"/);
  });

  test('bastion config --check: a bad OIDC_PROVIDERS is one line on stderr and exit 1', async () => {
    const bad = await runCli(['config', '--check'], { OIDC_PROVIDERS: JSON.stringify([{ ...good, issuer: 'http://id.example' }]) });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr.trim(), /^config: OIDC_PROVIDERS provider "corp": "issuer" may use http:\/\/ only on a loopback address/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.ok(!bad.stderr.includes('super-secret-value'));
    const ok = await runCli(['config', '--check'], { OIDC_PROVIDERS: JSON.stringify([good]) });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(!ok.stdout.includes('super-secret-value'), 'masked in config --check');
  });
});
