/**
 * Issue #9 parts 1 and 6 with real processes: the bundled server (`node dist/bin/bastion.mjs`,
 * what `npm start`, `npm run demo` and the `bastion` bin run; no tsx) starts and answers;
 * LOG_FORMAT=json prints one JSON object per line, pretty prints readable lines, and pretty
 * without pino-pretty installed falls back to JSON with one warning; X-Request-Id from a
 * trusted proxy comes back. No timings are asserted.
 *
 * dist/bin is used when it is newer than every source file (`npm ci` builds it); otherwise the
 * sources are bundled into a private temporary directory, so a stale or missing dist/ (or
 * another build writing it) never decides the result.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FAST_ARGON2, tempDir } from '../helpers/app.ts';
import { testDatabaseUrl } from '../helpers/db.ts';
import { ROOT } from '../helpers/server.ts';
import { BIN, bundleCli } from '../../scripts/bundle.ts';

const START_TIMEOUT_MS = 120_000;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

let buildDir: string | null = null;

/** dist/bin/bastion.mjs when it is up to date, else a private bundle of src/. */
async function compiledMain(): Promise<string> {
  const main = join(ROOT, BIN);
  if (existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(ROOT, 'src'))) return main;
  buildDir = mkdtempSync(join(tmpdir(), 'bastion-build-'));
  // packages resolve from the build's own directory upwards; package.json marks its root
  symlinkSync(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'), 'dir');
  symlinkSync(join(ROOT, 'package.json'), join(buildDir, 'package.json'));
  return bundleCli(join(buildDir, 'dist/bin'));
}

/** A preload that hides pino-pretty, as a production install without dev dependencies would. */
const WITHOUT_PINO_PRETTY = (() => {
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier === 'pino-pretty') throw Object.assign(new Error("Cannot find package 'pino-pretty'"), { code: 'ERR_MODULE_NOT_FOUND' });
    return next(specifier, context);
  }`;
  const preload = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
  return `data:text/javascript,${encodeURIComponent(preload)}`;
})();

interface Compiled {
  readonly url: string;
  /** stdout so far */
  stdout(): string;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(hard);
}

/** `node [nodeArgs] <main> serve` on a free port, with plain node: no tsx anywhere. */
async function serveCompiled(main: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<Compiled> {
  const { dir, remove } = tempDir('bastion-runtime-');
  const child = spawn(process.execPath, [...nodeArgs, main, 'serve'], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '',
      ...FAST_ARGON2,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      DATABASE_URL: testDatabaseUrl(dir),
      OUTBOX_DIR: join(dir, 'outbox'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const stop = async () => {
    await stopChild(child);
    remove();
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start within ${START_TIMEOUT_MS} ms:\n${out}${err}`)), START_TIMEOUT_MS);
      child.stdout!.on('data', () => {
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code}:\n${out}${err}`));
      });
    });
    return { url, stdout: () => out, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

/** Waits until the server has written a line matching `pattern` (request lines follow the response). */
async function waitForLine(server: Compiled, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 200 && !lines(server.stdout()).some((l) => pattern.test(l)); i += 1) await new Promise((r) => setTimeout(r, 25));
}

let main: string;
before(async () => {
  main = await compiledMain();
});
after(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

describe('npm scripts', () => {
  // one set of node flags wherever Bastion is started (the young generation's cap and two
  // V8 helper threads: memory), and the flags its code cache is made under
  const flags = '--max-semi-space-size=4 --v8-pool-size=2';
  test('start, demo and the bin run the compiled JavaScript; tsx is a dev dependency only', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      bin: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    assert.equal(pkg.scripts['start'], `node ${flags} ${BIN} serve`);
    assert.equal(pkg.scripts['demo'], `node ${flags} ${BIN} serve --demo`);
    assert.equal(pkg.scripts['bastion'], `node ${flags} ${BIN}`);
    assert.equal(pkg.bin['bastion'], BIN);
    assert.equal(readFileSync(join(ROOT, BIN), 'utf8').split('\n')[0], `#!/usr/bin/env -S node ${flags}`);
    assert.match(pkg.scripts['prepare']!, /tsc -p tsconfig\.build\.json/);
    assert.match(pkg.scripts['prepare']!, /tsx scripts\/bundle\.ts/);
    assert.match(pkg.scripts['prepare']!, /vite build web/);
    assert.equal(pkg.dependencies['tsx'], undefined);
    assert.ok(pkg.devDependencies['tsx']);
    assert.equal(pkg.dependencies['pino-pretty'], undefined);
    assert.ok(pkg.devDependencies['pino-pretty']);
  });

  test('the bin starts from the V8 code cache its build made, under npm start\'s node flags; under other flags it compiles', () => {
    const run = (nodeArgs: string[]) => {
      const result = spawnSync(process.execPath, [...nodeArgs, main, '--help'], { env: { PATH: process.env['PATH'] ?? '', NODE_DEBUG: 'bastion' }, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /^usage: bastion <command>/);
      return result.stderr;
    };
    assert.match(run(flags.split(' ')), /code cache used/);
    // V8 checks the flags a cache was made under: another set means an ordinary compile, same result
    assert.match(run([]), /code cache rejected/);
  });

  test('nothing under src/ imports tsx', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (/from ['"]tsx|import\(['"]tsx|['"]tsx\/|--import['"], ['"]tsx/.test(readFileSync(path, 'utf8'))) offenders.push(path);
      }
    };
    walk(join(ROOT, 'src'));
    assert.deepEqual(offenders, []);
  });
});

describe('the compiled server', () => {
  test('starts with plain node and answers 200, with an X-Request-Id; LOG_FORMAT=json is one JSON object per line', async () => {
    const server = await serveCompiled(main, { LOG_FORMAT: 'json' });
    try {
      const res = await fetch(`${server.url}/healthz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ok' });
      const id = res.headers.get('x-request-id');
      assert.ok(id);
      // a client's own id is not taken without TRUST_PROXY
      const other = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'client-id' } });
      assert.notEqual(other.headers.get('x-request-id'), 'client-id');
      await waitForLine(server, new RegExp(`"req_id":"${id}".*request completed`));
      const parsed = lines(server.stdout()).map((l) => JSON.parse(l) as Record<string, unknown>); // throws on a non-JSON line
      assert.ok(parsed.some((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('Server listening at')));
      const ofRequest = parsed.filter((l) => l['req_id'] === id);
      assert.deepEqual(
        ofRequest.map((l) => l['msg']),
        ['incoming request', 'request completed'],
      );
    } finally {
      await server.stop();
    }
  });

  test('LOG_FORMAT=pretty prints readable lines, one per request', async () => {
    const server = await serveCompiled(main, { LOG_FORMAT: 'pretty', TRUST_PROXY: 'true' });
    try {
      const res = await fetch(`${server.url}/nope`, { headers: { 'x-request-id': 'pretty-e2e-1' } });
      assert.equal(res.status, 404);
      assert.equal(res.headers.get('x-request-id'), 'pretty-e2e-1');
      await waitForLine(server, /\[pretty-e2e-1\] GET \/nope 404/);
      const out = lines(server.stdout());
      for (const line of out) assert.throws(() => JSON.parse(line), `a JSON line in pretty mode: ${line}`);
      assert.ok(out.some((l) => /INFO.*Server listening at http:\/\//.test(l)), out.join('\n'));
      assert.equal(out.filter((l) => l.includes('[pretty-e2e-1]')).length, 1, out.join('\n'));
      assert.ok(out.some((l) => /INFO.*\[pretty-e2e-1\] GET \/nope 404 [\d.]+ms$/.test(l)), out.join('\n'));
    } finally {
      await server.stop();
    }
  });

  test('LOG_FORMAT=pretty without pino-pretty installed: JSON, with one warning line', async () => {
    const server = await serveCompiled(main, { LOG_FORMAT: 'pretty' }, ['--import', WITHOUT_PINO_PRETTY]);
    try {
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      const parsed = lines(server.stdout()).map((l) => JSON.parse(l) as Record<string, unknown>);
      const warnings = parsed.filter((l) => typeof l['msg'] === 'string' && l['msg'].includes('pino-pretty'));
      assert.equal(warnings.length, 1, server.stdout());
      assert.equal(warnings[0]!['level'], 40);
    } finally {
      await server.stop();
    }
  });
});
