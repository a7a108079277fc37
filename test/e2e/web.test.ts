/**
 * The browser front end (web/dist, served by Bastion at `/`) in Debian's Chromium, used
 * as a person would: click, type, read the page. Cookie mode throughout: the page never
 * holds a token. Screenshots go to .test-artifacts/web-*.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { failedLoad, launchBrowser, screenshot, watchConsole, type ConsoleWatch } from '../helpers/browser.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';

const STEP_TIMEOUT = 10_000;

let server: RunningServer;
/** access tokens live 3 s here, to see the page refresh them silently */
let shortLived: RunningServer;
let browser: Browser;

before(async () => {
  [server, shortLived, browser] = await Promise.all([
    // (a low lockout threshold, so that the lockout message can be seen without many tries)
    startServer({ LOGIN_MAX_FAILURES: '3' }, ['--demo']),
    startServer({ ACCESS_TTL: '3s', JWT_LEEWAY: '0s' }, ['--demo']),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  await Promise.all([server?.stop(), shortLived?.stop()]);
});

interface Visit {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly console: ConsoleWatch;
}

/** A fresh browser (context) on `hash`; `prepare` runs before the page loads (listeners). */
async function visit(base: string, hash = '#/', prepare?: (page: Page) => void): Promise<Visit> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 }, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const console = watchConsole(page);
  prepare?.(page);
  await page.goto(`${base}/${hash}`);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  return { context, page, console };
}

/** Another tab in the same browser context (same cookies, BroadcastChannel between them). */
async function openTab(context: BrowserContext, base: string, hash: string): Promise<{ page: Page; console: ConsoleWatch }> {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const console = watchConsole(page);
  await page.goto(`${base}/${hash}`);
  return { page, console };
}

function assertCleanConsole(...watches: ConsoleWatch[]): void {
  assert.deepEqual(
    watches.flatMap((w) => w.unexpected),
    [],
    'no console errors or page errors besides the browser’s own lines for deliberate 401s',
  );
}

const header = (page: Page) => page.getByRole('banner');
const userMenuButton = (page: Page, name: string) => header(page).getByRole('button', { name });
const loginGate = (page: Page) => page.getByRole('heading', { name: 'Log in to continue' });

/** The header shows the logged-out state: Login and Sign up, and no user menu. */
async function expectLoggedOut(page: Page): Promise<void> {
  await header(page).getByRole('link', { name: 'Login', exact: true }).waitFor();
  await header(page).getByRole('link', { name: 'Sign up', exact: true }).waitFor();
  assert.equal(await header(page).locator('.user-menu').count(), 0, 'no user menu while logged out');
}

/** Fills whichever login form is on screen (login page or the 401 prompt) and submits it. */
async function fillLogin(page: Page, identifier: string, password: string, submit = 'Log in'): Promise<void> {
  const form = page.getByRole('form', { name: 'Log in' });
  await form.getByLabel(/^Username/).fill(identifier);
  await form.getByLabel('Password', { exact: true }).fill(password);
  await form.getByRole('button', { name: submit, exact: true }).click();
}

/** Header "Login", then the login form; waits for the name in the upper right. */
async function logIn(page: Page, identifier: string, password: string, shownName: string): Promise<void> {
  await header(page).getByRole('link', { name: 'Login', exact: true }).click();
  await page.getByRole('heading', { name: 'Log in', exact: true }).waitFor();
  await fillLogin(page, identifier, password);
  await userMenuButton(page, shownName).waitFor();
}

async function logOutViaMenu(page: Page, shownName: string): Promise<void> {
  await userMenuButton(page, shownName).click();
  await header(page).getByRole('button', { name: 'Log out' }).click();
}

/** Answers seen for one API path, in order: status codes. */
function recordStatuses(page: Page, path: string, method = 'GET'): number[] {
  const statuses: number[] = [];
  page.on('response', (r: Response) => {
    if (new URL(r.url()).pathname === path && r.request().method() === method) statuses.push(r.status());
  });
  return statuses;
}

/** At phone width (390 px) the page fits the screen: nothing scrolls sideways. */
async function assertFitsPhone(page: Page, name: string): Promise<void> {
  const size = page.viewportSize()!;
  await page.setViewportSize({ width: 390, height: 844 });
  const width = await page.locator('html').evaluate((html) => html.scrollWidth);
  assert.ok(width <= 390, `no horizontal scrolling at 390 px (the page is ${width} px wide)`);
  await screenshot(page, name);
  await page.setViewportSize(size);
}

async function peopleTableRows(page: Page): Promise<string[][]> {
  const table = page.getByRole('table', { name: 'People' });
  await table.waitFor();
  const headers = await table.locator('thead th').allInnerTexts();
  assert.deepEqual(
    headers.map((h) => h.trim().toLowerCase()),
    ['name', 'email', 'age'],
  );
  return table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
}

test('seed 000 on Home: Get Unsecure Data, Log In kyle/p1, Get Secure Data', { timeout: 30_000 }, async () => {
  const { context, page, console } = await visit(server.url);
  try {
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Secure and unsecure data');
    // Logged out: Login and Sign up sit in the upper left.
    await expectLoggedOut(page);
    const loginBox = (await header(page).getByRole('link', { name: 'Login', exact: true }).boundingBox())!;
    assert.ok(loginBox.x < 400 && loginBox.y < 80, `Login is upper left: ${JSON.stringify(loginBox)}`);
    await screenshot(page, 'home-logged-out');

    // Unsecure data needs nobody.
    await page.getByRole('button', { name: 'Get Unsecure Data' }).click();
    const unsecure = page.getByLabel('Response to GET /api/unsecure');
    assert.deepEqual(JSON.parse(await unsecure.innerText()), { message: 'This is unsecured data: anyone may read it.' });

    // Log In shows a success message, and the name appears in the upper right.
    await fillLogin(page, 'kyle', 'p1', 'Log In');
    await page.getByText('Logged in as kyle.').waitFor();
    const name = (await userMenuButton(page, 'Kyle').boundingBox())!;
    assert.ok(name.x > 800 && name.y < 80, `the name is upper right: ${JSON.stringify(name)}`);
    assert.equal(await header(page).getByRole('link', { name: 'Login', exact: true }).count(), 0, 'Login is gone once logged in');

    // Get Secure Data shows the JSON from GET /api/secure below the button.
    await page.getByRole('button', { name: 'Get Secure Data' }).click();
    const secure = page.getByLabel('Response to GET /api/secure');
    await secure.waitFor();
    const data = JSON.parse(await secure.innerText()) as { message: string; user_id: string; roles: string[] };
    assert.equal(data.message, 'This is secured data: only logged-in users see it.');
    assert.match(data.user_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(data.roles, []);
    const button = (await page.getByRole('button', { name: 'Get Secure Data' }).boundingBox())!;
    const shown = (await secure.boundingBox())!;
    assert.ok(shown.y > button.y, 'the JSON is below the button');
    await screenshot(page, 'home');
    assertCleanConsole(console);
    assert.equal(console.expected.length, 1, `only the logged-out refresh on load was a 401: ${console.expected.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('a 401 brings up the login form; after logging in the request is retried and People appears', { timeout: 30_000 }, async () => {
  let people: number[] = [];
  const { context, page, console } = await visit(server.url, '#/people', (p) => (people = recordStatuses(p, '/api/person/')));
  try {
    await loginGate(page).waitFor();
    assert.deepEqual(people, [401], 'the page asked for people and was refused');
    assert.equal(await page.getByRole('table').count(), 0, 'no table before logging in');

    // Too many failures for one account: the server locks it for a while and says so.
    console.allow(failedLoad(429, 'Too Many Requests', /\/authenticate$/));
    const lockout = page
      .getByRole('form', { name: 'Log in' })
      .getByRole('alert')
      .filter({ hasText: /Too many/ });
    for (let attempt = 1; attempt <= 4 && (await lockout.count()) === 0; attempt++) {
      await fillLogin(page, 'mallory', `guess-${attempt}`);
      await page
        .getByRole('form', { name: 'Log in' })
        .getByRole('alert')
        .filter({ hasText: /Invalid credentials|Too many/ })
        .waitFor();
    }
    assert.match(await lockout.innerText(), /Too many .*\b[1-9]\d* (s|seconds?)\b/, 'the lockout message says when to try again');

    // A wrong password: the server's message, inline.
    await fillLogin(page, 'kyle', 'wrong-password');
    const alert = page.getByRole('form', { name: 'Log in' }).getByRole('alert');
    await alert.getByText('Invalid credentials').waitFor();
    await screenshot(page, 'login-form');

    // The right one: no further click, the same request again, and the table.
    await fillLogin(page, 'kyle', 'p1');
    const rows = await peopleTableRows(page);
    assert.deepEqual(people, [401, 200], 'the refused request was made again once logged in');
    assert.equal(new URL(page.url()).hash, '#/people', 'still on the page the person asked for');
    assert.equal(await loginGate(page).count(), 0, 'the login form is gone');
    assert.ok(
      rows.some(([n, e, a]) => n === 'Tenzing Sherpa' && e === 'sherpa@example.com' && /^\d+$/.test(a ?? '')),
      JSON.stringify(rows),
    );
    assert.ok(rows.some(([n]) => n === 'Ada Lovelace'));
    await screenshot(page, 'people');

    await assertFitsPhone(page, 'people-phone');
    assertCleanConsole(console);
  } finally {
    await context.close();
  }
});

test('sign up (weak password and taken username shown inline), log in, account page, change password', { timeout: 40_000 }, async () => {
  const { context, page, console } = await visit(server.url, '#/signup');
  console.allow(
    failedLoad(400, 'Bad Request', /\/api\/auth\/signup$/),
    failedLoad(409, 'Conflict', /\/api\/auth\/signup$/),
    failedLoad(403, 'Forbidden', /\/api\/auth\/password$/),
  );
  try {
    const form = page.getByRole('form', { name: 'Sign up' });
    await form.getByLabel('Username').fill('newbie');
    await form.getByLabel('Email').fill('newbie@example.com');
    await form.getByLabel(/^Name/).fill('New Bie');
    await form.getByLabel('Date of birth').fill('2000-02-29');
    await form.getByLabel('Password').fill('short');
    await form.getByRole('button', { name: 'Create account' }).click();
    const passwordError = form.locator('.field-error').filter({ hasText: 'stronger password' });
    await passwordError.getByText('must be at least 8 characters').waitFor();
    assert.equal(await form.getByLabel('Password').getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'signup-weak-password');

    await form.getByLabel('Username').fill('kyle');
    await form.getByLabel('Email').fill('');
    await form.getByLabel('Password').fill('a good long password');
    await form.getByRole('button', { name: 'Create account' }).click();
    await form.getByText('That username is taken').waitFor();
    assert.equal(await passwordError.count(), 0, 'the old password message is gone');

    await form.getByLabel('Username').fill('newbie');
    await form.getByLabel('Email').fill('newbie@example.com');
    await form.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Account created. Log in as newbie.').waitFor();
    const login = page.getByRole('form', { name: 'Log in' });
    assert.equal(await login.getByLabel(/^Username/).inputValue(), 'newbie', 'the login form knows the new username');
    await login.getByLabel('Password', { exact: true }).fill('a good long password');
    await login.getByRole('button', { name: 'Log in', exact: true }).click();
    await userMenuButton(page, 'New Bie').waitFor();

    // Account, from the menu in the upper right.
    await userMenuButton(page, 'New Bie').click();
    await header(page).getByRole('link', { name: 'Account' }).click();
    await page.getByRole('heading', { name: 'Sessions' }).waitFor();
    const profile = page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Profile' }) });
    assert.match(await profile.innerText(), /newbie@example\.com/);
    assert.match(await profile.innerText(), /Feb 29, 2000/);
    const sessions = page.locator('.sessions > li');
    assert.equal(await sessions.count(), 1, 'one session');
    assert.match(await sessions.first().innerText(), /This device/);
    assert.match(await sessions.first().innerText(), /Headless Chrome on Linux/);
    await screenshot(page, 'account');
    await assertFitsPhone(page, 'account-phone');

    // Change password: the current one is checked, then every session ends.
    const change = page.getByRole('form', { name: 'Change password' });
    await change.getByLabel('Current password').fill('not my password');
    await change.getByLabel('New password').fill('an even better password');
    await change.getByRole('button', { name: 'Change password' }).click();
    await change.getByText('The current password is not correct').waitFor();
    await change.getByLabel('Current password').fill('a good long password');
    await change.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed — please log in again.').waitFor();
    await page.getByRole('form', { name: 'Log in' }).waitFor();
    await expectLoggedOut(page);

    await fillLogin(page, 'newbie', 'an even better password');
    await page.getByRole('heading', { name: 'Sessions' }).waitFor();
    assert.equal(new URL(page.url()).hash, '#/account', 'back to the account page');
    assertCleanConsole(console);
  } finally {
    await context.close();
  }
});

test('the page refreshes the session silently before the access token expires', { timeout: 30_000 }, async () => {
  const { context, page, console } = await visit(shortLived.url);
  try {
    const refreshes = recordStatuses(page, '/api/auth/refresh', 'POST');
    await logIn(page, 'kyle', 'p1', 'Kyle');
    const afterLogin = refreshes.length;
    await page.waitForTimeout(5_000); // longer than the 3 s access token
    assert.ok(
      refreshes.slice(afterLogin).filter((s) => s === 200).length >= 1,
      `the page refreshed by itself while idle: ${JSON.stringify(refreshes)}`,
    );
    const people = recordStatuses(page, '/api/person/');
    await header(page).getByRole('link', { name: 'People' }).click();
    await peopleTableRows(page);
    assert.deepEqual(people, [200], 'People loaded on the first try: the access token was already fresh');
    assert.equal(await loginGate(page).count(), 0, 'no login form');
    // The CSRF token rotated with every refresh; an unsafe request still passes.
    await logOutViaMenu(page, 'Kyle');
    await page.getByText('You have logged out.').waitFor();
    await expectLoggedOut(page);
    assertCleanConsole(console);
  } finally {
    await context.close();
  }
});

test('Admin: allowed for admin (add a role, disable and enable), refused for kyle', { timeout: 40_000 }, async () => {
  const admin = await visit(server.url);
  const kyle = await visit(server.url);
  admin.console.allow(failedLoad(409, 'Conflict', /\/api\/admin\/users\/[\w-]+\/roles\/admin$/));
  try {
    const { page } = admin;
    await logIn(page, 'admin@example.com', 'password', 'Admin');
    await header(page).getByRole('link', { name: 'Admin' }).click();
    const row = (username: string) => page.locator(`tr[data-user="${username}"]`);
    await row('kyle').waitFor();
    assert.match(await row('kyle').innerText(), /kyle@example\.com/);
    assert.match(await row('admin').locator('td[data-label="Sessions"]').innerText(), /^[1-9]\d*$/, 'the admin has a session');

    await row('kyle').getByLabel('New role for kyle').fill('editor');
    await row('kyle').getByRole('button', { name: 'Add role' }).click();
    await page.getByText('Added role editor to kyle.').waitFor();
    await row('kyle').getByRole('list', { name: 'Roles of kyle' }).getByText('editor').waitFor();

    await row('sherpa').getByRole('button', { name: 'Disable' }).click();
    await row('sherpa').getByText('Disabled', { exact: true }).waitFor();
    await row('sherpa').getByRole('button', { name: 'Enable' }).click();
    await row('sherpa').getByText('Active', { exact: true }).waitFor();

    // The server refuses self-lockout; the page says why.
    await row('admin').getByRole('button', { name: 'Remove role admin from admin' }).click();
    await page.getByRole('alert').getByText('You cannot disable yourself or remove your own admin role').waitFor();
    await screenshot(page, 'admin');
    await assertFitsPhone(page, 'admin-phone');

    // kyle: no Admin link, and the page itself says no.
    await logIn(kyle.page, 'kyle', 'p1', 'Kyle');
    await header(kyle.page).getByRole('link', { name: 'People' }).waitFor();
    assert.equal(await header(kyle.page).getByRole('link', { name: 'Admin' }).isVisible(), false, 'no Admin link for kyle');
    assert.equal(await header(page).getByRole('link', { name: 'Admin' }).isVisible(), true, 'the admin does see it');
    await kyle.page.goto(`${server.url}/#/admin`);
    await kyle.page.getByText('Not allowed', { exact: true }).waitFor();
    assert.equal(await kyle.page.getByRole('table').count(), 0, 'no user list for kyle');
    await screenshot(kyle.page, 'admin-denied');
    assertCleanConsole(admin.console, kyle.console);
  } finally {
    await Promise.all([admin.context.close(), kyle.context.close()]);
  }
});

test('Log out everywhere in one browser ends the session in another', { timeout: 30_000 }, async () => {
  const first = await visit(server.url);
  const second = await visit(server.url);
  try {
    await logIn(first.page, 'sherpa', 'everest', 'Tenzing Sherpa');
    await logIn(second.page, 'sherpa', 'everest', 'Tenzing Sherpa');
    await header(second.page).getByRole('link', { name: 'People' }).click();
    await peopleTableRows(second.page);

    await first.page.goto(`${server.url}/#/account`);
    const sessions = first.page.locator('.sessions > li');
    await sessions.first().waitFor();
    assert.equal(await sessions.count(), 2, 'both browsers are listed');
    assert.equal(await sessions.filter({ hasText: 'This device' }).count(), 1, 'one of them is this one');
    await first.page.getByRole('button', { name: 'Log out everywhere' }).click();
    await first.page.getByText('You have been logged out on every device.').waitFor();
    await expectLoggedOut(first.page);

    // The second browser learns at its next protected request.
    await header(second.page).getByRole('link', { name: 'Home' }).click();
    await header(second.page).getByRole('link', { name: 'People' }).click();
    await loginGate(second.page).waitFor();
    await expectLoggedOut(second.page);
    assertCleanConsole(first.console, second.console);
  } finally {
    await Promise.all([first.context.close(), second.context.close()]);
  }
});

test('two tabs stay in step: log out in one, the other is logged out; log in, both are', { timeout: 30_000 }, async () => {
  const one = await visit(server.url);
  const logouts = recordStatuses(one.page, '/api/auth/logout', 'POST');
  try {
    await logIn(one.page, 'kyle', 'p1', 'Kyle');
    const two = await openTab(one.context, server.url, '#/people');
    await peopleTableRows(two.page);
    await userMenuButton(two.page, 'Kyle').waitFor();

    // (bringToFront: a person switches tabs; background tabs get few animation frames.)
    await one.page.bringToFront();
    await logOutViaMenu(one.page, 'Kyle');
    await one.page.getByText('You have logged out.').waitFor();
    // The other tab: logged-out header, and its private page gives way to the login form.
    await two.page.bringToFront();
    await expectLoggedOut(two.page);
    await loginGate(two.page).waitFor();
    assert.equal(await two.page.getByRole('table').count(), 0, 'the people table is gone');

    // Logging in there brings the first tab along.
    await fillLogin(two.page, 'kyle', 'p1');
    await peopleTableRows(two.page);
    await one.page.bringToFront();
    await userMenuButton(one.page, 'Kyle').waitFor();
    // The first tab got the new CSRF token too: its own unsafe request passes.
    await logOutViaMenu(one.page, 'Kyle');
    await expectLoggedOut(one.page);
    assert.deepEqual(logouts, [204, 204], 'both logouts from the first tab were accepted');
    await expectLoggedOut(two.page);
    assertCleanConsole(one.console, two.console);
  } finally {
    await one.context.close();
  }
});

/** base64url of a JSON value, as a JWT part. */
const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('Token inspector decodes in the browser, counts down, and verifies only when asked', { timeout: 30_000 }, async () => {
  const response = await fetch(`${server.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'sherpa', password: 'everest' }),
  });
  const { access_token: token } = (await response.json()) as { access_token: string };
  const { context, page, console } = await visit(server.url, '#/inspector');
  try {
    const sent: string[] = [];
    page.on('request', (r) => sent.push(`${r.method()} ${r.url()} ${r.postData() ?? ''}`));

    await page.getByLabel('JWT').fill(`Bearer ${token}`);
    const decodedHeader = JSON.parse(await page.getByLabel('Decoded header').innerText()) as Record<string, unknown>;
    const claims = JSON.parse(await page.getByLabel('Decoded claims').innerText()) as Record<string, unknown>;
    assert.equal(decodedHeader['alg'], 'EdDSA');
    assert.equal(decodedHeader['typ'], 'at+jwt');
    const discovery = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string };
    assert.equal(claims['iss'], discovery.issuer);
    assert.deepEqual(claims['roles'], []);
    const expiry = page.getByRole('timer', { name: 'Expiry' });
    const first = await expiry.innerText();
    assert.match(first, /^expires in 1[45]:\d\d$/);
    await expiry.filter({ hasNotText: first }).waitFor({ timeout: 3_000 });
    assert.match(await expiry.innerText(), /^expires in 1[45]:\d\d$/, 'the countdown ticks');
    assert.deepEqual(
      sent.filter((s) => s.includes(token)),
      [],
      'the token went nowhere while it was decoded',
    );

    await page.getByRole('button', { name: 'Verify with server' }).click();
    await page.getByText('Valid.', { exact: true }).waitFor();
    await screenshot(page, 'inspector');
    assert.equal(sent.filter((s) => s.startsWith('POST') && s.includes('/api/auth/verify') && s.includes(token)).length, 1);

    // A token that expired three minutes ago, with a signature nobody made.
    const now = Math.floor(Date.now() / 1000);
    const forged = `${part({ alg: 'EdDSA', typ: 'at+jwt' })}.${part({ sub: 'x', exp: now - 180 })}.${token.split('.')[2]}`;
    await page.getByLabel('JWT').fill(forged);
    assert.equal(await expiry.innerText(), 'expired 3 min ago');
    await page.getByRole('button', { name: 'Verify with server' }).click();
    await page.getByText('Invalid.', { exact: true }).waitFor();
    assert.match(await page.locator('.verdict').innerText(), /invalid_token|token_expired/);

    await page.getByLabel('JWT').fill('not a token');
    await page.getByText('A JWT has three parts separated by dots; this has 1.').waitFor();
    assertCleanConsole(console);
  } finally {
    await context.close();
  }
});
