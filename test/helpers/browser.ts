/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser), and what the
 * browser tests share: console watching, screenshots, a tiny static server for a second
 * origin.
 */
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { ROOT } from './server.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, '.test-artifacts');
export const WEB_DIST = join(ROOT, 'web/dist');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A console line the test expects, by its exact text and the URL it names. */
export interface ExpectedConsole {
  readonly text: RegExp;
  readonly url?: RegExp;
}

/**
 * What Chromium itself logs for a fetch answered with an error status. The page cannot
 * prevent it, so a test allows it for the requests it makes fail on purpose.
 */
export function failedLoad(status: number, statusText: string, url?: RegExp): ExpectedConsole {
  const text = new RegExp(`^Failed to load resource: the server responded with a status of ${status} \\(${statusText}\\)$`);
  return url ? { text, url } : { text };
}

/** Every page checks its session on load and meets 401s while logged out. */
export const UNAUTHORIZED = failedLoad(401, 'Unauthorized');

export class ConsoleWatch {
  /** console errors, warnings and page errors nobody expected */
  readonly unexpected: string[] = [];
  /** the expected ones, to assert on if a test wants to */
  readonly expected: string[] = [];
  private readonly allowed: ExpectedConsole[];

  constructor(page: Page, allowed: readonly ExpectedConsole[]) {
    this.allowed = [...allowed];
    page.on('console', (message: ConsoleMessage) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      const url = message.location().url;
      const line = `${message.type()}: ${message.text()} (${url})`;
      const ok = message.type() === 'error' && this.allowed.some((a) => a.text.test(message.text()) && (a.url?.test(url) ?? true));
      (ok ? this.expected : this.unexpected).push(line);
    });
    page.on('pageerror', (err) => this.unexpected.push(`pageerror: ${err.message}`));
  }

  /** Allows more lines from now on (a test about to fail a request on purpose). */
  allow(...lines: ExpectedConsole[]): void {
    this.allowed.push(...lines);
  }
}

/** Collects console errors and uncaught exceptions; `allowed` lines are set aside. */
export function watchConsole(page: Page, allowed: readonly ExpectedConsole[] = [UNAUTHORIZED]): ConsoleWatch {
  return new ConsoleWatch(page, allowed);
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `web-${name}.png`), fullPage });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
};

export interface StaticSite {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves web/dist from its own loopback origin, as static hosting would, with
 * `config()` as its config.json and a strict Content-Security-Policy header (so the
 * tests also prove the page needs no inline script or style).
 */
export async function serveWeb(config: () => unknown, csp: (origin: string) => string): Promise<StaticSite> {
  if (!existsSync(join(WEB_DIST, 'index.html'))) throw new Error('web/dist is missing: run `npm run build:web` (npm test does)');
  let origin = '';
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': TYPES['.json']!, 'cache-control': 'no-store' });
      res.end(JSON.stringify(config()));
      return;
    }
    const file = normalize(join(WEB_DIST, path === '/' ? 'index.html' : path));
    if (!file.startsWith(WEB_DIST) || !existsSync(file) || !extname(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-security-policy': csp(origin),
      'x-content-type-options': 'nosniff',
    });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
