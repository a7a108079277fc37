/**
 * The same web/dist served from other origins (a tiny static server on its own loopback
 * port, as static hosting would), talking to Bastion through CORS with credentials: one
 * origin in CORS_ORIGINS, one not. Both are 127.0.0.1, so same-site: the API's SameSite=Lax
 * cookies travel with the page's fetches. The static server sends a strict CSP, so any
 * inline script or style in the build would show up as a console error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, screenshot, serveWeb, UNAUTHORIZED, watchConsole, type StaticSite } from '../helpers/browser.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';

const STEP_TIMEOUT = 10_000;

let api: RunningServer;
/** listed in the API's CORS_ORIGINS */
let allowed: StaticSite;
/** not listed */
let stranger: StaticSite;
let browser: Browser;

before(async () => {
  const config = () => ({ apiBase: api.url });
  const csp = () =>
    [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src 'self' ${api.url}`,
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; ');
  [allowed, stranger, browser] = await Promise.all([serveWeb(config, csp), serveWeb(config, csp), launchBrowser()]);
  api = await startServer({ CORS_ORIGINS: allowed.url }, ['--demo']);
});

after(async () => {
  await browser?.close();
  await Promise.all([api?.stop(), allowed?.close(), stranger?.close()]);
});

/** A fresh browser context and page (the test installs its listeners before loading). */
async function open() {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 }, locale: 'en-US' });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  return { context, page };
}

const header = (page: Page) => page.getByRole('banner');

async function fillLogin(page: Page, identifier: string, password: string): Promise<void> {
  const form = page.getByRole('form', { name: 'Log in' });
  await form.getByLabel('Username or email').fill(identifier);
  await form.getByLabel('Password', { exact: true }).fill(password);
  await form.getByRole('button', { name: 'Log in', exact: true }).click();
}

test(
  'from an allowed origin: 401, log in, People; the jwt cookie is HttpOnly and the session survives a reload',
  { timeout: 30_000 },
  async () => {
    const { context, page } = await open();
    const console = watchConsole(page, [UNAUTHORIZED]);
    const apiCalls: string[] = [];
    page.on('response', (r) => {
      if (!r.url().startsWith(allowed.url)) apiCalls.push(`${r.request().method()} ${r.url().replace(api.url, '<api>')} ${r.status()}`);
    });
    try {
      await page.goto(`${allowed.url}/#/people`);
      await page.getByRole('heading', { name: 'Log in to continue' }).waitFor();
      await fillLogin(page, 'kyle', 'p1');
      const table = page.getByRole('table', { name: 'People' });
      await table.waitFor();
      assert.ok((await table.locator('tbody tr').count()) >= 6, 'the demo people are listed');
      await header(page).getByRole('button', { name: 'Kyle' }).waitFor();
      assert.deepEqual(
        apiCalls.filter((c) => !c.includes('/api/auth/me')),
        ['POST <api>/api/auth/refresh 401', 'GET <api>/api/person/ 401', 'POST <api>/authenticate 200', 'GET <api>/api/person/ 200'],
        'every call went to the API origin from config.json',
      );
      assert.equal(await header(page).getByRole('link', { name: 'API docs' }).getAttribute('href'), `${api.url}/docs`);

      // The page cannot read the tokens: HttpOnly cookies of the API's origin.
      const visible = String(await page.evaluate('document.cookie'));
      assert.ok(!visible.includes('jwt='), `document.cookie has no jwt: ${visible}`);
      assert.ok(!visible.includes('bastion_refresh='), 'nor the refresh token');
      // (the refresh cookie is scoped to its one path)
      const cookies = await context.cookies([api.url, `${api.url}/api/auth/refresh`]);
      const jwt = cookies.find((c) => c.name === 'jwt');
      assert.ok(jwt, `the browser holds the jwt cookie: ${cookies.map((c) => c.name).join(', ')}`);
      assert.equal(jwt.httpOnly, true, 'jwt is HttpOnly');
      assert.equal(cookies.find((c) => c.name === 'bastion_refresh')?.httpOnly, true, 'the refresh cookie is HttpOnly');
      const stored = String(await page.evaluate('JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage })'));
      assert.ok(!stored.includes(jwt.value.split('.')[1]!), 'no token in web storage');
      await screenshot(page, 'cross-origin-people');

      // A reload keeps the session (refresh cookie), with no login form.
      apiCalls.length = 0;
      await page.reload();
      await table.waitFor();
      assert.deepEqual(
        apiCalls.filter((c) => !c.includes('/api/auth/me')),
        ['POST <api>/api/auth/refresh 200', 'GET <api>/api/person/ 200'],
      );

      // Log out: an unsafe cross-origin request with X-CSRF-Token, and the cookies go.
      await header(page).getByRole('button', { name: 'Kyle' }).click();
      await header(page).getByRole('button', { name: 'Log out' }).click();
      await header(page).getByRole('link', { name: 'Login', exact: true }).waitFor();
      assert.ok(apiCalls.includes('POST <api>/api/auth/logout 204'), apiCalls.join('\n'));
      assert.equal(
        (await context.cookies(api.url)).find((c) => c.name === 'jwt'),
        undefined,
        'the jwt cookie is cleared',
      );
      assert.deepEqual(console.unexpected, [], 'no console errors (a CSP violation would be one)');
    } finally {
      await context.close();
    }
  },
);

test('from an origin the API does not allow: People and login fail with an error on the page', { timeout: 30_000 }, async () => {
  const { context, page } = await open();
  // Chromium's own lines for the requests CORS refuses, and nothing else.
  const blocked = {
    text: /^Access to fetch at 'http:\/\/127\.0\.0\.1:\d+\/(api\/auth\/refresh|api\/person\/|authenticate|api\/auth\/oidc\/providers)' from origin 'http:\/\/127\.0\.0\.1:\d+' has been blocked by CORS policy: /,
  };
  const console = watchConsole(page, [blocked, { text: /^Failed to load resource: net::ERR_FAILED$/ }]);
  try {
    await page.goto(`${stranger.url}/#/people`);
    const failure = page.getByRole('alert').filter({ hasText: 'Could not load this page' });
    await failure.waitFor();
    assert.match(await failure.innerText(), new RegExp(`Could not reach the API at ${api.url.replace(/\./g, '\\.')}`));
    assert.equal(await page.getByRole('table').count(), 0, 'no people');
    // The header says so too, and offers Login.
    assert.match(await header(page).getByRole('alert').innerText(), /Could not reach the API/);

    await header(page).getByRole('link', { name: 'Login', exact: true }).click();
    await fillLogin(page, 'kyle', 'p1');
    const form = page.getByRole('form', { name: 'Log in' });
    await form
      .getByRole('alert')
      .getByText(/Could not reach the API/)
      .waitFor();
    assert.equal(await header(page).getByRole('button', { name: 'Kyle' }).count(), 0, 'not logged in');
    assert.deepEqual(await context.cookies(api.url), [], 'no cookie was set');
    await screenshot(page, 'cross-origin-refused');
    assert.deepEqual(console.unexpected, [], 'only the CORS refusals were logged');
    assert.ok(
      console.expected.some((line) => line.includes('blocked by CORS policy')),
      'the browser did refuse by CORS',
    );
  } finally {
    await context.close();
  }
});
