/**
 * Passkeys in the browser front end, in Debian's Chromium with its virtual authenticator
 * (the Chrome DevTools Protocol WebAuthn domain: CTAP2, internal transport, resident keys,
 * user verification), so the page's real navigator.credentials calls make and use a real
 * passkey. The page is on http://localhost:<port>: an IP address cannot be a WebAuthn
 * relying-party id, and localhost is a secure context. Screenshots go to
 * .test-artifacts/web-*.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { launchBrowser, screenshot, watchConsole, type ConsoleWatch } from '../helpers/browser.ts';
import { freePort } from '../helpers/postgres.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';

const STEP_TIMEOUT = 10_000;

let server: RunningServer;
let browser: Browser;
/** the page's origin: the server listens on 127.0.0.1, the browser names it localhost */
let base: string;

before(async () => {
  // A port chosen here: the page origin (and so the RP's expected origin) must be known
  // before the server starts; PUBLIC_URL then defaults to http://127.0.0.1:<port>, which
  // passkeys use as http://localhost:<port> (config/load.ts).
  const port = await freePort();
  [server, browser] = await Promise.all([startServer({ PORT: String(port) }, ['--demo']), launchBrowser()]);
  base = `http://localhost:${new URL(server.url).port}`;
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

interface Visit {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly console: ConsoleWatch;
  readonly cdp: CDPSession;
  readonly authenticatorId: string;
}

/** A fresh browser context with a virtual platform authenticator (a laptop's fingerprint reader). */
async function visit(hash: string): Promise<Visit> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 }, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const console = watchConsole(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await page.goto(`${base}/${hash}`);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  return { context, page, console, cdp, authenticatorId };
}

function assertCleanConsole(watch: ConsoleWatch): void {
  assert.deepEqual(watch.unexpected, [], 'no console errors or page errors besides the browser’s own lines for deliberate 401s');
}

const header = (page: Page) => page.getByRole('banner');
const loginForm = (page: Page) => page.getByRole('form', { name: 'Log in' });
const passkeysCard = (page: Page) => page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Passkeys' }) });

async function passwordLogin(page: Page, username: string, password: string): Promise<void> {
  await loginForm(page).getByLabel(/^Username/).fill(username);
  await loginForm(page).getByLabel('Password', { exact: true }).fill(password);
  await loginForm(page).getByRole('button', { name: 'Log in', exact: true }).click();
}

/** On the Account page: names a new passkey and adds it; the list then shows it. */
async function addPasskey(v: Visit, name: string): Promise<void> {
  await v.page.goto(`${base}/#/account`);
  const card = passkeysCard(v.page);
  await card.getByText('You have no passkeys yet.').waitFor();
  const add = card.getByRole('form', { name: 'Add a passkey' });
  await add.getByLabel('Name for the new passkey').fill(name);
  await add.getByRole('button', { name: 'Add a passkey' }).click();
  await card.getByText(`Passkey “${name}” added.`).waitFor();
  await card.getByRole('list', { name: 'Passkeys' }).getByText(name, { exact: true }).waitFor();
  const { credentials } = await v.cdp.send('WebAuthn.getCredentials', { authenticatorId: v.authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator holds one passkey');
  assert.equal(credentials[0]!.isResidentCredential, true, 'a discoverable credential');
  assert.equal(credentials[0]!.rpId, 'localhost');
  await card.scrollIntoViewIfNeeded();
  await screenshot(v.page, 'passkeys-account');
}

/** Logs out from the menu, then opens the login page afresh (see web-recovery.test.ts on why). */
async function logOut(page: Page, shownName: string): Promise<void> {
  await header(page).getByRole('button', { name: shownName }).click();
  await header(page).getByRole('button', { name: 'Log out' }).click();
  await header(page).getByRole('link', { name: 'Login', exact: true }).waitFor();
  await page.goto(`${base}/#/login`);
  await page.reload();
  await loginForm(page).waitFor();
}

test('register a passkey on the Account page, log out, log in with it without typing a username', { timeout: 30_000 }, async () => {
  const v = await visit('#/login');
  const { page } = v;
  try {
    await passwordLogin(page, 'kyle', 'p1');
    await header(page).getByRole('button', { name: 'Kyle' }).waitFor();
    await addPasskey(v, 'My laptop');

    await logOut(page, 'Kyle');
    assert.equal(await loginForm(page).getByLabel(/^Username/).inputValue(), '', 'no username typed');
    await loginForm(page).getByRole('button', { name: 'Log in with a passkey' }).click();
    await header(page).getByRole('button', { name: 'Kyle' }).waitFor();
    assert.equal(new URL(page.url()).hash, '#/', 'the login page went on');
    // the passkey was used just now
    await page.goto(`${base}/#/account`);
    await passkeysCard(page).getByText(/last used/).waitFor();
    assertCleanConsole(v.console);
  } finally {
    await v.context.close();
  }
});

test('with two-factor authentication on, a passkey answers the second step after the password', { timeout: 30_000 }, async () => {
  // TOTP is turned on over the API (the page's own enrolment is web-recovery.test.ts's);
  // the recovery codes let the browser log in once without waiting for a new TOTP step.
  const api = async (path: string, body: object, token?: string) => {
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as Record<string, any>;
  };
  const { access_token } = await api('/api/auth/login', { username: 'sherpa', password: 'everest' });
  const { secret } = await api('/api/auth/mfa/enroll', {}, access_token);
  const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
  const { recovery_codes } = await api('/api/auth/mfa/confirm', { code }, access_token);

  const v = await visit('#/login');
  const { page } = v;
  try {
    await passwordLogin(page, 'sherpa', 'everest');
    const step = page.getByRole('form', { name: 'Two-factor code' });
    await step.getByLabel('Code from your authenticator app').fill(recovery_codes[0]);
    await step.getByRole('button', { name: 'Verify' }).click();
    await header(page).getByRole('button', { name: 'Tenzing Sherpa' }).waitFor();
    await addPasskey(v, 'Phone');

    await logOut(page, 'Tenzing Sherpa');
    await passwordLogin(page, 'sherpa', 'everest');
    await step.getByRole('button', { name: 'Use a passkey' }).click();
    await header(page).getByRole('button', { name: 'Tenzing Sherpa' }).waitFor();
    await screenshot(page, 'passkeys-second-factor');
    assertCleanConsole(v.console);
  } finally {
    await v.context.close();
  }
});
