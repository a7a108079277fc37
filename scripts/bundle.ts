/**
 * The production entry point: `src/cli/main.ts` and the packages it loads, bundled by esbuild
 * into dist/bin/bastion.bundle.js, and the bin that runs it, dist/bin/bastion.mjs
 * (src/cli/launch.ts). Node 20's ESM loader resolves, stats and reads every file of a package
 * on its own: typebox alone is 373 files, Kysely 262, and start-up spent about a second of
 * CPU doing that. One bundle loads in a fraction of it (measured by `npm run bench`, "start
 * to first 200").
 *
 * The bundle is CommonJS wrapped in one function expression, so that the bin can compile it
 * as a vm.Script with V8's code cache (Node 20 caches no ES module). The cache is made here:
 * the bin runs `serve` once on a scratch database, answers a request, and writes at exit what
 * V8 compiled (bastion.bundle.<id>.cache). If that run fails the build goes on without a
 * cache, and Bastion starts by compiling, as it did before.
 *
 * Kept outside the bundle: native addons, and packages that load optionally (pg's native
 * binding, pino-pretty, nodemailer). Swagger UI is bundled (loading its CommonJS files and
 * their yaml and @fastify/static copies one by one took ~170 ms of start-up); the directory
 * it serves its static files from is found in node_modules at run time. The license notices
 * of the bundled packages go to bastion.bundle.js.LEGAL.txt.
 * `npx tsx scripts/bundle.ts` or `npm run build` writes it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { build, type Plugin } from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The bin, relative to the package root. */
export const BIN = 'dist/bin/bastion.mjs';
const BUNDLE = 'bastion.bundle.js';
/** Chunks of earlier (ES module) builds are left this long for processes that may still load them lazily. */
const OLD_CHUNKS_MS = 10 * 60_000;

/** The node flags `npm start` runs Bastion with (package.json): the code cache is made under them, as V8 checks. */
export function startNodeFlags(root = ROOT): string[] {
  const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/);
  return start.slice(1, start.findIndex((word) => word.endsWith('.mjs') || word.endsWith('.js')));
}

const EXTERNAL = [
  'better-sqlite3',
  '@node-rs/*',
  'pg',
  'pg-native',
  'pino-pretty',
  'nodemailer',
];

/**
 * @fastify/swagger-ui finds its logo and static files through `__dirname`, which in a bundle
 * would name dist/bin: it is replaced by the installed package's directory, resolved when the
 * bin runs (the bundle's `require` is created for its own location, so node_modules is found
 * as for any import).
 */
const swaggerUiFiles: Plugin = {
  name: 'swagger-ui-files',
  setup(esbuild) {
    esbuild.onLoad({ filter: /[\\/]@fastify[\\/]swagger-ui[\\/](index|lib[\\/]routes)\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('__dirname')) throw new Error(`${args.path} no longer uses __dirname: check how it finds its static files`);
      const packageDir = "require('node:path').dirname(require.resolve('@fastify/swagger-ui/package.json'))";
      const dir = /routes\.js$/.test(args.path) ? `(${packageDir} + '/lib')` : `(${packageDir})`;
      return { contents: source.replaceAll('__dirname', dir), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

const COMMON = { absWorkingDir: ROOT, bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', write: false } as const;
// swagger-ui's require.resolve of its own package.json (swaggerUiFiles) is meant to run at run time
const RESOLVED_AT_RUN_TIME = { 'require-resolve-not-external': 'silent' } as const;

/** The bundle's text: one function expression taking CommonJS's five arguments. */
async function bundleMain(): Promise<{ code: string; map: string; legal: string }> {
  const result = await build({
    ...COMMON,
    entryPoints: ['src/cli/main.ts'],
    outfile: BUNDLE,
    format: 'cjs',
    external: EXTERNAL,
    plugins: [swaggerUiFiles],
    logOverride: RESOLVED_AT_RUN_TIME,
    // strict mode for the whole body, and import.meta.url (ESM) from the file the bin names
    banner: { js: "(function (exports, require, module, __filename, __dirname) {'use strict';const __bastionImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    footer: { js: '})' },
    define: { 'import.meta.url': '__bastionImportMetaUrl' },
    sourcemap: 'linked',
    // the bundled packages' license notices go to a file of their own beside the bundle
    legalComments: 'external',
    // without comments and whitespace the bundle is a third smaller: V8 keeps its source in
    // memory. Names stay as written (stack traces read; the linked source map gives lines).
    minifyWhitespace: true,
    minifySyntax: true,
  });
  const text = (suffix: string) => result.outputFiles.find((f) => f.path.endsWith(suffix))?.text ?? '';
  const code = text(BUNDLE);
  // the bin reads the bundle as latin1 (kept outside the V8 heap): any other character would be misread
  if (/[^\x00-\x7f]/.test(code)) throw new Error(`${BUNDLE} has a character outside ASCII: the bin reads it as latin1`);
  return { code, map: text(`${BUNDLE}.map`), legal: text('.LEGAL.txt') };
}

/** The bin: src/cli/launch.ts, told the id of the bundle its cache must belong to. */
async function bundleLauncher(id: string): Promise<string> {
  const result = await build({
    ...COMMON,
    entryPoints: ['src/cli/launch.ts'],
    outfile: 'bastion.mjs',
    format: 'esm',
    define: { BASTION_BUNDLE_ID: JSON.stringify(id) },
  });
  return result.outputFiles[0]!.text;
}

const freePort = () =>
  new Promise<number>((resolvePort, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });

/**
 * Runs the bin once (`serve` on a scratch SQLite file, under npm start's node flags), asks
 * it for /healthz and an API route, and stops it: at exit it writes its code cache. Returns
 * why it failed, or null.
 */
async function writeCodeCache(bin: string, nodeFlags: readonly string[], cacheFile: string): Promise<string | null> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-code-cache-'));
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeFlags, bin, 'serve'], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '',
      BASTION_WRITE_CODE_CACHE: '1',
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'error',
      DATABASE_URL: `sqlite:${join(dir, 'bastion.db')}`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 60_000;
    for (let ready = false; !ready; ) {
      if (child.exitCode !== null) return `the server exited: ${stderr}`;
      if (Date.now() > deadline) return `the server did not answer: ${stderr}`;
      ready = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (res) => res.arrayBuffer().then(() => res.ok),
        () => false,
      );
      if (!ready) await new Promise((r) => setTimeout(r, 20));
    }
    await (await fetch(`http://127.0.0.1:${port}/api/unsecure`)).arrayBuffer();
    child.kill('SIGTERM');
    const code = await exited;
    return code === 0 && existsSync(cacheFile) ? null : `the server exited with ${code}: ${stderr}`;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the bundle, the bin and the code cache into `outdir` (default dist/bin); returns the bin's path. */
export async function bundleCli(outdir = join(ROOT, 'dist/bin')): Promise<string> {
  const main = await bundleMain();
  // the cache belongs to this bundle under these flags (V8 refuses it under others)
  const nodeFlags = startNodeFlags();
  const id = createHash('sha256').update(main.code).update(`\0${nodeFlags.join(' ')}`).digest('hex').slice(0, 16);
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, BUNDLE), main.code);
  writeFileSync(join(outdir, `${BUNDLE}.map`), main.map);
  writeFileSync(join(outdir, `${BUNDLE}.LEGAL.txt`), main.legal);
  const bin = join(outdir, 'bastion.mjs');
  writeFileSync(bin, await bundleLauncher(id), { mode: 0o755 });
  rmSync(`${bin}.map`, { force: true }); // of the ES module builds
  // caches of other bundles are never read (their id differs): removed
  for (const name of readdirSync(outdir)) {
    if (/^bastion\.bundle\.[0-9a-f]{16}\.cache$/.test(name) && !name.includes(id)) rmSync(join(outdir, name), { force: true });
  }
  const cacheFile = join(outdir, `bastion.bundle.${id}.cache`);
  if (!existsSync(cacheFile)) {
    const failure = await writeCodeCache(bin, nodeFlags, cacheFile);
    if (failure) console.warn(`bundle: no code cache (Bastion will compile at start-up): ${failure}`);
  }
  // chunks of the ES module builds, once no process started from one can still be about to import them
  const chunks = join(outdir, 'chunks');
  if (existsSync(chunks)) {
    for (const name of readdirSync(chunks)) {
      const file = join(chunks, name);
      if (Date.now() - statSync(file).mtimeMs > OLD_CHUNKS_MS) rmSync(file, { force: true });
    }
    if (readdirSync(chunks).length === 0) rmSync(chunks, { recursive: true, force: true });
  }
  return bin;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await bundleCli();
