/**
 * The production entry point: `src/cli/main.ts` and the packages it loads, bundled by esbuild
 * into dist/bin/bastion.mjs (plus chunks for what loads lazily). Node 20's ESM loader
 * resolves, stats and reads every file of a package on its own: typebox alone is 373 files,
 * Kysely 262, and start-up spent about a second of CPU doing that. One bundle loads in a
 * fraction of it (measured by `npm run bench`, "start to first 200").
 *
 * Kept outside the bundle: native addons, and packages that load optionally (pg's native
 * binding, pino-pretty, nodemailer). Swagger UI is bundled (loading its CommonJS files and
 * their yaml and @fastify/static copies one by one took ~170 ms of start-up); the directory
 * it serves its static files from is found in node_modules at run time.
 * `npx tsx scripts/bundle.ts` or `npm run build` writes it.
 */
import { build, type Plugin } from 'esbuild';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The bin, relative to the package root. */
export const BIN = 'dist/bin/bastion.mjs';
/** Chunks of earlier builds are left this long for processes that may still load them lazily. */
const OLD_CHUNKS_MS = 10 * 60_000;

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

/** Writes the bundle into `outdir` (default dist/bin), returns the path of the entry file. */
export async function bundleCli(outdir = join(ROOT, 'dist/bin')): Promise<string> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { bastion: 'src/cli/main.ts' },
    outdir,
    metafile: true,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    plugins: [swaggerUiFiles],
    // CommonJS packages inside an ESM bundle still call require() for node: built-ins.
    banner: { js: "import { createRequire as __bastionCreateRequire } from 'node:module'; const require = __bastionCreateRequire(import.meta.url);" },
    sourcemap: 'linked',
    // the bundled packages' license comments stay with their code (MIT and the like ask for the notice)
    legalComments: 'eof',
    logLevel: 'warning',
    // without comments and whitespace the main chunk is 2.2 MB instead of 3.2 MB: V8 keeps each
    // module's source in memory (~2 MB less resident). Names stay as written (stack traces read;
    // the linked source map gives lines).
    minifyWhitespace: true,
    minifySyntax: true,
  });
  // Chunk names carry a content hash: drop those of earlier builds, once no process started
  // from one (a test run, a server) can still be about to import them.
  const written = new Set(Object.keys(result.metafile.outputs).map((file) => resolve(ROOT, file)));
  const chunks = join(outdir, 'chunks');
  for (const name of readdirSync(chunks)) {
    const file = join(chunks, name);
    if (!written.has(file) && Date.now() - statSync(file).mtimeMs > OLD_CHUNKS_MS) rmSync(file, { force: true });
  }
  return join(outdir, 'bastion.mjs');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await bundleCli();
