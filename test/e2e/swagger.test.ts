/**
 * Seed 000 in the real Swagger UI at /docs, driven by Debian's Chromium through playwright-core,
 * as its tutorial does it by hand:
 *   1. GET /api/secure, "Try it out", "Execute" -> 401 "Missing Authorization Header";
 *   2. POST /api/login {"username":"kyle","password":"p1"} -> copy access_token from the page;
 *   3. padlock (or Authorize) -> type "Bearer " and paste the token -> "Authorize" -> "Close";
 *   4. GET /api/secure again -> 200 "This is secured data…".
 * Screenshots after steps 1 and 4 go to .test-artifacts/swagger-*.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, ConsoleMessage, Locator, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { ROOT, startServer, type RunningServer } from '../helpers/server.ts';

const ARTIFACTS = join(ROOT, '.test-artifacts');
const STEP_TIMEOUT = 10_000;
/**
 * Swagger UI is a 1.7 MB script: Chromium spends about 2.5 s of CPU parsing and rendering it
 * on an idle machine before the first operation block appears. CI runs the SQLite and
 * PostgreSQL passes side by side on two cores, where that took more than 10 s (both tests
 * failed at page.goto), so the page load gets its own, longer bound; each step after it keeps
 * STEP_TIMEOUT.
 */
const PAGE_LOAD_TIMEOUT = 45_000;

let server: RunningServer;
let browser: Browser;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [server, browser] = await Promise.all([
    startServer({}, ['--demo']),
    launchBrowser(),
  ]);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** The operation block of one path and method, found by the path Swagger UI shows, not by a generated id. */
function operation(page: Page, method: 'get' | 'post', path: string): Locator {
  return page
    .locator(`.opblock.opblock-${method}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Expands the block and clicks "Try it out". */
async function tryItOut(op: Locator): Promise<void> {
  await op.locator('.opblock-summary-control').click();
  await op.locator('.try-out__btn', { hasText: 'Try it out' }).click();
  await op.locator('.execute', { hasText: 'Execute' }).waitFor();
}

interface Shown {
  /** the HTTP status the network saw */
  networkStatus: number;
  /** the Authorization header the browser sent, if any */
  sentAuthorization: string | undefined;
  /** the status code shown in "Server response" */
  status: number;
  /** the response body shown in "Server response", as text */
  body: string;
  /** the curl command Swagger UI shows for the request */
  curl: string;
}

/**
 * Clicks "Execute" and reads the server response as the page shows it. The block may already
 * show an earlier response, so this waits until the shown code is the one the network saw.
 */
async function execute(page: Page, op: Locator, path: string): Promise<Shown> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === path),
    op.locator('.execute', { hasText: 'Execute' }).click(),
  ]);
  const networkStatus = response.status();
  const sentAuthorization = await response.request().headerValue('authorization');
  const row = op.locator('.live-responses-table tbody tr.response');
  const statusCell = row.locator('.response-col_status');
  await statusCell.filter({ hasText: new RegExp(`^\\s*${networkStatus}\\b`) }).waitFor();
  const status = Number(/^\d{3}/.exec((await statusCell.innerText()).trim())?.[0]);
  const body = await row.locator('.response-col_description .highlight-code pre').innerText();
  const curl = await op.locator('.curl-command pre.curl').innerText();
  return { networkStatus, sentAuthorization: sentAuthorization ?? undefined, status, body, curl };
}

async function screenshot(page: Page, op: Locator, name: string): Promise<void> {
  // The block's header (method, path, padlock) at the top of the viewport, "Server response" below it.
  await op.evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: join(ARTIFACTS, `swagger-${name}.png`) });
}

/** Console errors and uncaught page errors, less the one Chromium logs for the deliberate 401 of step 1. */
function watchErrors(page: Page, base: string): { unexpected: string[]; expected401: string[] } {
  const seen = { unexpected: [] as string[], expected401: [] as string[] };
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() !== 'error') return;
    const line = `${m.text()} (${m.location().url})`;
    const deliberate =
      m.location().url === `${base}/api/secure` && m.text().includes('status of 401 (Unauthorized)');
    (deliberate ? seen.expected401 : seen.unexpected).push(line);
  });
  page.on('pageerror', (e) => seen.unexpected.push(`pageerror: ${e.message}`));
  return seen;
}

/** Replays seed 000; `prefix` is what is typed in the value box before the copied token is pasted. */
async function replaySeed000(
  name: string,
  opener: 'padlock' | 'authorize-button',
  prefix: 'Bearer ' | '',
): Promise<void> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1200 } });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    const errors = watchErrors(page, server.url);
    await page.goto(`${server.url}/docs`, { timeout: PAGE_LOAD_TIMEOUT, waitUntil: 'domcontentloaded' });

    const secure = operation(page, 'get', '/api/secure');
    const login = operation(page, 'post', '/api/login');
    await secure.waitFor({ timeout: PAGE_LOAD_TIMEOUT });
    assert.equal(await secure.count(), 1, 'exactly one GET /api/secure block');
    assert.equal(await login.count(), 1, 'exactly one POST /api/login block');

    // 1. No token yet: 401 "Missing Authorization Header".
    await tryItOut(secure);
    const denied = await execute(page, secure, '/api/secure');
    assert.equal(denied.networkStatus, 401);
    assert.equal(denied.sentAuthorization, undefined, 'no Authorization header before authorizing');
    assert.equal(denied.status, 401, 'the page shows 401');
    assert.equal(JSON.parse(denied.body).message, 'Missing Authorization Header');
    await screenshot(page, secure, `${name}-step1-401`);

    // 2. Log in as kyle and copy access_token from the response body on the page.
    await tryItOut(login);
    await login.locator('textarea.body-param__text').fill('{"username":"kyle","password":"p1"}');
    const loggedIn = await execute(page, login, '/api/login');
    assert.equal(loggedIn.status, 200, `login shows 200, body: ${loggedIn.body}`);
    const shownTokens = JSON.parse(loggedIn.body) as { access_token?: unknown; token_type?: unknown };
    assert.equal(typeof shownTokens.access_token, 'string', 'the body shows access_token');
    const token = shownTokens.access_token as string;
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'access_token is a compact JWT');

    // 3. Padlock (or the Authorize button at the top), enter the value, "Authorize", "Close".
    const padlock = secure.locator('.opblock-summary .authorization__btn');
    assert.equal(await padlock.getAttribute('aria-label'), 'authorization button unlocked');
    if (opener === 'padlock') await padlock.click();
    else await page.locator('.auth-wrapper .btn.authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.waitFor();
    const scheme = modal.locator('.auth-container').filter({ hasText: 'jsonWebToken' });
    const value = `${prefix}${token}`;
    // Type the scheme word, if any, then paste the copied token (one input event, as a paste makes).
    const box = scheme.locator('input[type="text"]');
    await box.click();
    if (prefix) await box.pressSequentially(prefix);
    await page.keyboard.insertText(token);
    assert.equal(await box.inputValue(), value);
    await scheme.locator('button.authorize', { hasText: 'Authorize' }).click();
    await scheme.locator('h6', { hasText: 'Authorized' }).waitFor();
    await scheme.locator('button.btn-done', { hasText: 'Close' }).click();
    await modal.waitFor({ state: 'detached' });
    assert.equal(await padlock.getAttribute('aria-label'), 'authorization button locked');

    // 4. Execute GET /api/secure again: 200 and the secured data.
    const granted = await execute(page, secure, '/api/secure');
    assert.equal(granted.sentAuthorization, value, 'the browser sent what was typed in the padlock box');
    assert.ok(granted.curl.includes(`Authorization: ${value}`), `curl shows the header:\n${granted.curl}`);
    assert.equal(granted.status, 200, `the page shows 200, body: ${granted.body}`);
    const data = JSON.parse(granted.body) as { message?: unknown; user_id?: unknown; roles?: unknown };
    assert.equal(typeof data.message, 'string');
    assert.ok((data.message as string).includes('This is secured data'), `message: ${String(data.message)}`);
    assert.equal(typeof data.user_id, 'string');
    assert.ok(Array.isArray(data.roles));
    await screenshot(page, secure, `${name}-step4-200`);

    assert.deepEqual(errors.unexpected, [], 'no console or page errors');
    assert.ok(errors.expected401.length <= 1, `at most the one deliberate 401 is logged: ${errors.expected401.join('\n')}`);
  } finally {
    await context.close();
  }
}

test('seed 000 in Swagger UI: padlock with "Bearer <token>" turns 401 into 200', { timeout: 120_000 }, async () => {
  await replaySeed000('bearer', 'padlock', 'Bearer ');
});

test('seed 000 in Swagger UI: Authorize with the bare token also gives 200', { timeout: 120_000 }, async () => {
  await replaySeed000('bare', 'authorize-button', '');
});
