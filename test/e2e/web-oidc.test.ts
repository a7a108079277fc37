/**
 * "Log in with <provider>" in Debian's Chromium (issue #11, part 5): the login page's
 * button, the real provider's login and consent pages (test/helpers/oidc-provider.ts),
 * the callback, and the People page loaded with the session in HttpOnly cookies; a
 * cancelled login shown as a message on the login page. Bastion and the provider both
 * listen on loopback. Screenshots go to .test-artifacts/web-oidc-*.png.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildTestApp, type TestApp } from '../helpers/app.ts';
import { launchBrowser, screenshot, watchConsole, type ConsoleWatch } from '../helpers/browser.ts';
import { PROVIDER_PASSWORD, startTestProvider, type TestProvider } from '../helpers/oidc-provider.ts';

const STEP_TIMEOUT = 15_000;

let t: TestApp;
let provider: TestProvider;
let browser: Browser;
let base: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  [provider, browser] = await Promise.all([
    startTestProvider({
      redirectUris: [`${base}/api/auth/oidc/corp/callback`],
      accounts: [
        { sub: 'sub-ada', login: 'ada', email: 'ada@corp.example', email_verified: true, preferred_username: 'ada.corp', name: 'Ada Lovelace' },
        { sub: 'sub-ned', login: 'ned', email: 'ned@corp.example', email_verified: true, preferred_username: 'ned' },
      ],
    }),
    launchBrowser(),
  ]);
  t = await buildTestApp({
    PUBLIC_URL: base,
    COOKIE_SECURE: 'false',
    DEMO: 'true',
    OIDC_PROVIDERS: JSON.stringify([
      { id: 'corp', name: 'Corp SSO', issuer: provider.issuer, client_id: provider.clientId, client_secret: provider.clientSecret },
    ]),
  });
  await t.app.listen({ port, host: '127.0.0.1' });
});

after(async () => {
  await browser?.close();
  await t?.close();
  await provider?.stop();
});

async function freshPage(): Promise<{ page: Page; console: ConsoleWatch; close: () => Promise<void> }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 }, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  return { page, console: watchConsole(page), close: () => context.close() };
}

/** On the provider's own pages: sign in as `login`, then Allow or Deny. */
async function atProvider(page: Page, login: string, consent: 'Allow' | 'Deny'): Promise<void> {
  await page.getByRole('heading', { name: 'Sign in to the test provider' }).waitFor();
  assert.ok(page.url().startsWith(`${provider.issuer}/`), `on the provider: ${page.url()}`);
  await page.getByLabel('Login').fill(login);
  await page.getByLabel('Password').fill(PROVIDER_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Authorize' }).waitFor();
  await page.getByRole('button', { name: consent }).click();
}

test('log in with the provider from the login page and land on People, logged in', { timeout: 60_000 }, async () => {
  const { page, console, close } = await freshPage();
  try {
    await page.goto(`${base}/#/login?next=/people`);
    await page.getByRole('heading', { name: 'Log in', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Log in with Corp SSO' }).click();
    await atProvider(page, 'ada', 'Allow');

    await page.waitForURL(`${base}/#/people`).catch((err: unknown) => {
      throw new Error(`ended on ${page.url()}`, { cause: err });
    });
    await page.getByRole('table', { name: 'People' }).waitFor();
    await page.getByRole('banner').getByRole('button', { name: 'Ada Lovelace' }).waitFor();
    await screenshot(page, 'oidc-people');

    // the Account page lists the linked identity
    await page.goto(`${base}/#/account`);
    const linked = page.getByRole('list', { name: 'Linked logins' });
    await linked.waitFor();
    assert.match(await linked.innerText(), /Corp SSO · ada@corp\.example/);
    await screenshot(page, 'oidc-account');

    const cookies = await page.context().cookies(base);
    const jwt = cookies.find((c) => c.name === 'jwt');
    assert.ok(jwt?.httpOnly, 'the session is in an HttpOnly cookie');
    assert.equal(cookies.find((c) => c.name === 'bastion_oidc'), undefined, 'the flow cookie is gone');
    assert.deepEqual(console.unexpected, []);
  } finally {
    await close();
  }
});

test('a login cancelled at the provider comes back to the login page with a message', { timeout: 60_000 }, async () => {
  const { page, console, close } = await freshPage();
  try {
    await page.goto(`${base}/#/login`);
    await page.getByRole('link', { name: 'Log in with Corp SSO' }).click();
    await atProvider(page, 'ned', 'Deny');

    await page.waitForURL(`${base}/#/login?error=oidc_access_denied`);
    const alert = page.getByRole('alert').filter({ hasText: 'oidc_access_denied' });
    await alert.waitFor();
    assert.match(await alert.innerText(), /The login was cancelled at the provider\. \(oidc_access_denied\)/);
    await page.getByRole('banner').getByRole('link', { name: 'Login', exact: true }).waitFor(); // still logged out
    await screenshot(page, 'oidc-cancelled');
    assert.deepEqual(console.unexpected, []);
  } finally {
    await close();
  }
});
