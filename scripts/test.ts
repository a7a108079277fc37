/**
 * `npm test`: puts on the machine what the tests need (Debian's Chromium, PostgreSQL and
 * pgbouncer), builds the web front end (the server serves web/dist), starts one private
 * PostgreSQL server for the run, then runs the suites twice with node's test runner: on
 * SQLite files, and on PostgreSQL. Files that exist only for PostgreSQL (several instances,
 * pgbouncer, the copy from SQLite) live in test/postgres/ and run in the second pass; unit
 * tests, the bench smoke test and the browser tests run in the first pass only.
 *
 *   npm test                      everything
 *   npm test -- test/http/x.ts    those files, both passes
 *   BASTION_TEST_DIALECTS=sqlite npm test -- …   one pass only
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PgServer } from '../test/helpers/postgres.ts';
import { BIN, bundleCli } from './bundle.ts';
import { CHROMIUM, ensureDebianPackages } from './packages.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FILE_TIMES = join(ROOT, 'scripts', 'file-times-reporter.mjs');

/** Files that never touch Bastion's storage run once, in the first pass (the bench smoke test brings its own databases). */
const STORAGE_FREE = /^test\/(unit|bench)\//;
const POSTGRES_ONLY = /^test\/postgres\//;
/**
 * Browser tests run once, on SQLite: they test the front end, and each storage path they
 * reach is tested on both databases by the HTTP tests (test/http/). A run of the whole
 * suite stays well under 15 minutes on two cores.
 */
const BROWSER = /^test\/e2e\/(web|swagger)/;

function newestMtime(dir: string): number {
  return Math.max(0, ...readdirSync(dir).map((name) => {
    const path = join(dir, name);
    const stat = statSync(path);
    return stat.isDirectory() ? newestMtime(path) : stat.mtimeMs;
  }));
}

/**
 * dist/, fresh: spawned servers and CLI commands run the bundled bin (dist/bin/bastion.mjs),
 * as `npm start` and the `bastion` bin do (and start in a fraction of tsx's time). `npm ci`
 * has built it; rebuilt here only when a source file is newer.
 */
async function buildDist(): Promise<string> {
  const bin = join(ROOT, BIN);
  if (!existsSync(bin) || newestMtime('src') > statSync(bin).mtimeMs) {
    console.log('npm test: building dist/…');
    execFileSync(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
    await bundleCli();
  }
  return bin;
}

/** web/dist, fresh: the browser tests must run the front end of this checkout. */
async function buildWeb(): Promise<void> {
  const { build } = await import('vite');
  await build({ root: fileURLToPath(new URL('../web', import.meta.url)), logLevel: 'warn' });
}

function findTests(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return findTests(path);
      return name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

/**
 * One pass of node's test runner. With `prefix`, its output is shown line by line behind
 * the pass's name (the two passes run side by side); else as it comes.
 */
function runPass(dialect: 'sqlite' | 'postgres', files: string[], pg: PgServer | null, cli: string, prefix: boolean): Promise<number> {
  if (files.length === 0) return Promise.resolve(0);
  console.log(`npm test: ${files.length} files on ${dialect}`);
  const concurrency = String(Math.max(2, availableParallelism()));
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${FILE_TIMES}`, '--test-reporter-destination=stdout', ...files], {
    stdio: prefix ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: {
      ...process.env,
      CHROMIUM_PATH: CHROMIUM,
      BASTION_TEST_DIALECT: dialect,
      BASTION_TEST_CLI: cli,
      ...(pg ? { BASTION_TEST_PG_URL: pg.url(), BASTION_TEST_PG_CA: pg.caFile } : {}),
    },
  });
  if (prefix) {
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => console.log(`[${dialect}] ${line}`));
    }
  }
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

ensureDebianPackages('npm test', [
  'chromium', 'postgresql', 'pgbouncer', 'openssl', 'nginx',
  'python3-werkzeug', 'python3-passlib', 'python3-bcrypt', 'python3-argon2',
  'python3-jwt', 'python3-cryptography',
]);
await buildWeb();
const cli = await buildDist();
const all = process.argv.length > 2 ? process.argv.slice(2) : findTests('test');
const dialects = (process.env['BASTION_TEST_DIALECTS'] ?? 'sqlite,postgres').split(',');
const pg = dialects.includes('postgres') ? await startPostgres() : null;
const stopPg = () => pg?.stop();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopPg();
    process.exit(130);
  });
}
// The two passes share nothing but the PostgreSQL server (each test file has databases of
// its own) and run side by side: much of a test's time is waiting (servers starting,
// revocations spreading, browsers), so two cores keep up.
const passes: Promise<number>[] = [];
const both = dialects.includes('sqlite') && pg !== null;
try {
  if (dialects.includes('sqlite')) passes.push(runPass('sqlite', all.filter((f) => !POSTGRES_ONLY.test(f)), pg, cli, both));
  if (pg) passes.push(runPass('postgres', all.filter((f) => !STORAGE_FREE.test(f) && !BROWSER.test(f)), pg, cli, both));
  const codes = await Promise.all(passes);
  process.exitCode = codes.every((c) => c === 0) ? 0 : 1;
} finally {
  stopPg();
}
