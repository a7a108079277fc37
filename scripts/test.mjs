#!/usr/bin/env node
// `npm test`: makes sure what the tests need is on the machine (Debian's Chromium for the
// browser tests), builds the web front end (the server serves web/dist), then runs every
// test/**/*.test.ts with node's test runner through tsx.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) {
    console.error(`npm test: ${CHROMIUM} is missing; install it with: sudo apt-get install -y chromium`);
    process.exit(1);
  }
  console.log('npm test: installing Debian chromium for the browser tests…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
}

/** web/dist, fresh: the browser tests must run the front end of this checkout. */
async function buildWeb() {
  const { build } = await import('vite');
  await build({ root: fileURLToPath(new URL('../web', import.meta.url)), logLevel: 'warn' });
}

function findTests(dir) {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return findTests(path);
      return name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

ensureChromium();
await buildWeb();
const files = process.argv.length > 2 ? process.argv.slice(2) : findTests('test');
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, CHROMIUM_PATH: CHROMIUM },
});
process.exit(result.status ?? 1);
