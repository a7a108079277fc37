/**
 * The browser front end's account recovery and two-factor pages in Debian's Chromium:
 * a forgotten password reset through the mailed link, an email change confirmed through
 * its link, and 2FA turned on, used at login (with a recovery code) and turned off.
 * Mail goes to OUTBOX_DIR (no SMTP_URL), where the test reads the links. Screenshots go
 * to .test-artifacts/web-*.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { failedLoad, launchBrowser, screenshot, watchConsole, type ConsoleWatch } from '../helpers/browser.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';

const STEP_TIMEOUT = 10_000;

let server: RunningServer;
let browser: Browser;
let outbox: string;

before(async () => {
  outbox = mkdtempSync(join(tmpdir(), 'bastion-outbox-'));
  // Seed flows elsewhere log in as kyle/p1: this server is ours alone, so kyle may change.
  [server, browser] = await Promise.all([startServer({ OUTBOX_DIR: outbox, SMTP_URL: '' }, ['--demo']), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(outbox, { recursive: true, force: true });
});

interface Visit {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly console: ConsoleWatch;
}

async function visit(hash: string): Promise<Visit> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 860 }, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const console = watchConsole(page);
  await page.goto(`${server.url}/${hash}`);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  return { context, page, console };
}

function assertCleanConsole(watch: ConsoleWatch): void {
  assert.deepEqual(watch.unexpected, [], 'no console errors or page errors besides the browser’s own lines for deliberate failures');
}

const header = (page: Page) => page.getByRole('banner');

/**
 * The newest mail to `to` once it is in the outbox (mail goes out after the answer), as
 * the page path and query of its link, e.g. "#/reset-password?token=…".
 */
async function mailedLink(to: string, page: 'reset-password' | 'confirm-email', after: number): Promise<string> {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const mails = readdirSync(outbox)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => JSON.parse(readFileSync(join(outbox, name), 'utf8')) as { date: string; to: string; text: string })
      .filter((mail) => mail.to === to && Date.parse(mail.date) >= after);
    const newest = mails.at(-1);
    if (newest) {
      const link = new RegExp(`/#/${page}\\?token=([\\w.~-]+)`).exec(newest.text);
      assert.ok(link, `the mail holds a #/${page} link:\n${newest.text}`);
      return `#/${page}?token=${link[1]}`;
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${to} in ${outbox}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('forgot password: mailed link, new password, log in with it; then a new email confirmed by its link', { timeout: 30_000 }, async () => {
  const { context, page, console } = await visit('#/login');
  console.allow(failedLoad(400, 'Bad Request', /\/api\/auth\/reset-password$/));
  try {
    // "Forgot password?" on the login form.
    await page.getByRole('form', { name: 'Log in' }).getByRole('link', { name: 'Forgot password?' }).click();
    await page.getByRole('heading', { name: 'Forgot password' }).waitFor();
    const asked = Date.now() - 1000;
    const forgot = page.getByRole('form', { name: 'Forgot password' });
    // Unknown accounts get the same answer.
    await forgot.getByLabel('Email or username').fill('nobody@example.com');
    await forgot.getByRole('button', { name: 'Send reset link' }).click();
    await forgot.getByText('If the account exists, a reset link is on its way.').waitFor();
    await forgot.getByLabel('Email or username').fill('kyle@example.com');
    await forgot.getByRole('button', { name: 'Send reset link' }).click();
    await forgot.getByRole('alert').getByText('If the account exists, a reset link is on its way.').waitFor();

    const reset = await mailedLink('kyle@example.com', 'reset-password', asked);
    await page.goto(`${server.url}/${reset}`);
    await page.getByRole('heading', { name: 'Set a new password' }).waitFor();
    const form = page.getByRole('form', { name: 'Set a new password' });
    // Two different passwords never reach the server; a weak one comes back with reasons.
    await form.getByLabel('New password', { exact: true }).fill('kyle has a new password');
    await form.getByLabel('Confirm new password').fill('kyle has a new passwort');
    await form.getByRole('button', { name: 'Set password' }).click();
    await form.getByText('The two passwords are not the same.').waitFor();
    await form.getByLabel('New password', { exact: true }).fill('short');
    await form.getByLabel('Confirm new password').fill('short');
    await form.getByRole('button', { name: 'Set password' }).click();
    await form.locator('.field-error').getByText('must be at least 8 characters').waitFor();
    await screenshot(page, 'reset-password');

    await form.getByLabel('New password', { exact: true }).fill('kyle has a new password');
    await form.getByLabel('Confirm new password').fill('kyle has a new password');
    await form.getByRole('button', { name: 'Set password' }).click();
    await page.getByText('Password changed — log in with your new password.').waitFor();
    await screenshot(page, 'reset-password-done');
    const login = page.getByRole('form', { name: 'Log in' });
    await login.getByLabel(/^Username/).fill('kyle');
    await login.getByLabel('Password', { exact: true }).fill('kyle has a new password');
    await login.getByRole('button', { name: 'Log in', exact: true }).click();
    await header(page).getByRole('button', { name: 'Kyle' }).waitFor();
    await page.getByRole('heading', { name: 'Sessions' }).waitFor();

    // The link worked once.
    await page.goto(`${server.url}/${reset}`);
    await page.getByRole('form', { name: 'Set a new password' }).getByLabel('New password', { exact: true }).fill('yet another password');
    await page.getByLabel('Confirm new password').fill('yet another password');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByText('This link is invalid, used or expired').waitFor();

    // A new email (the login above is recent enough), confirmed through its link.
    await page.goto(`${server.url}/#/account`);
    const changed = Date.now() - 1000;
    const email = page.getByRole('form', { name: 'Change email' });
    await email.getByLabel('New email').fill('kyle.new@example.com');
    await email.getByRole('button', { name: 'Send confirmation link' }).click();
    await email.getByText('Check your new inbox for a confirmation link.').waitFor();
    const confirm = await mailedLink('kyle.new@example.com', 'confirm-email', changed);
    await page.goto(`${server.url}/${confirm}`);
    await page.getByText('Email confirmed.').waitFor();
    await page.getByRole('link', { name: 'Back to your account' }).click();
    const profile = page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Profile' }) });
    await profile.getByText('kyle.new@example.com').waitFor();
    assertCleanConsole(console);
  } finally {
    await context.close();
  }
});

test('2FA: turn on with the QR code and a code, log in with a recovery code, turn off', { timeout: 30_000 }, async () => {
  const { context, page, console } = await visit('#/login');
  try {
    const login = page.getByRole('form', { name: 'Log in' });
    await login.getByLabel(/^Username/).fill('sherpa');
    await login.getByLabel('Password', { exact: true }).fill('everest');
    await login.getByRole('button', { name: 'Log in', exact: true }).click();
    await header(page).getByRole('button', { name: 'Tenzing Sherpa' }).waitFor();
    await page.goto(`${server.url}/#/account`);

    const mfa = page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Two-factor authentication' }) });
    await mfa.getByRole('button', { name: 'Turn on' }).click();
    const qr = mfa.getByRole('img', { name: 'QR code for your authenticator app' });
    await qr.waitFor();
    assert.ok((await qr.locator('path').count()) > 0, 'the QR code is drawn');
    const box = (await qr.boundingBox())!;
    assert.ok(box.width > 100 && box.height > 100, `the QR code is big enough to scan: ${JSON.stringify(box)}`);
    const secret = (await mfa.locator('code.secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{16,}$/, 'the secret is base32 text');
    await mfa.scrollIntoViewIfNeeded();
    await screenshot(page, 'mfa-enrol');

    const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
    const confirm = mfa.getByRole('form', { name: 'Confirm two-factor authentication' });
    await confirm.getByLabel('Code from your authenticator app').fill(code);
    await confirm.getByRole('button', { name: 'Confirm' }).click();
    const codes = mfa.getByRole('list', { name: 'Recovery codes' }).locator('li');
    await mfa.getByText('Two-factor authentication is on.').waitFor();
    await codes.first().waitFor();
    const recoveryCodes = (await codes.allInnerTexts()).map((c) => c.trim());
    assert.equal(recoveryCodes.length, 10, 'ten recovery codes');
    assert.equal(await mfa.getByRole('button', { name: 'Turn on' }).isVisible(), false, 'no "Turn on" while it is on');
    await mfa.getByText('they are shown only now').waitFor();
    await screenshot(page, 'mfa-recovery-codes');

    // Log out, log in again: after the password, the code step.
    await header(page).getByRole('button', { name: 'Tenzing Sherpa' }).click();
    await header(page).getByRole('button', { name: 'Log out' }).click();
    await header(page).getByRole('link', { name: 'Login', exact: true }).waitFor();
    // Log out ends by navigating home, whose seed-000 card is also a form named "Log in";
    // a click on the Login link faster than a person's could land on either. Load the
    // login page afresh so the test types into the one it means.
    await page.goto(`${server.url}/#/login`);
    await page.reload();
    await login.getByLabel(/^Username/).fill('sherpa');
    await login.getByLabel('Password', { exact: true }).fill('everest');
    await login.getByRole('button', { name: 'Log in', exact: true }).click();
    const step = page.getByRole('form', { name: 'Two-factor code' });
    const codeField = step.getByLabel('Code from your authenticator app');
    await codeField.waitFor();
    // A wrong code is said under the field; the challenge survives it.
    await codeField.fill('not-a-recovery-code');
    await step.getByRole('button', { name: 'Verify' }).click();
    await step.getByText('The code is not valid').waitFor();
    assert.equal(await codeField.getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'mfa-login-step');
    // A recovery code rather than the app's: a TOTP code is never accepted twice, and the
    // next one could be up to 30 s away.
    await codeField.fill(recoveryCodes[0]!);
    await step.getByRole('button', { name: 'Verify' }).click();
    await header(page).getByRole('button', { name: 'Tenzing Sherpa' }).waitFor();
    assert.equal(new URL(page.url()).hash, '#/', 'the login page went on to where it was asked to');

    // Turn it off (the login just now is recent), with another recovery code.
    await page.goto(`${server.url}/#/account`);
    const off = mfa.getByRole('form', { name: 'Turn off two-factor authentication' });
    await off.getByLabel('Code from your authenticator app').fill(recoveryCodes[1]!);
    await off.getByRole('button', { name: 'Turn off' }).click();
    await mfa.getByText('Two-factor authentication is off.', { exact: true }).first().waitFor();
    assert.equal(await mfa.getByRole('button', { name: 'Turn on' }).isVisible(), true, '"Turn on" is offered again');
    assertCleanConsole(console);
  } finally {
    await context.close();
  }
});
