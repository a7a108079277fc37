#!/usr/bin/env -S node --max-semi-space-size=4 --v8-pool-size=2
/**
 * The `bastion` bin, dist/bin/bastion.mjs (what `npm start`, `npm run demo` and the
 * systemd unit run; scripts/bundle.ts builds it from this file). It runs bastion.bundle.js
 * beside it, the bundle of src/cli/main.ts, from V8's code cache when there is one: Node 20
 * can neither cache nor snapshot ES modules, and compiling the bundle was about a fifth of
 * start-up (issue #10). The bundle is one function expression of CommonJS shape, compiled
 * as a vm.Script with the cache the build wrote by running it once
 * (bastion.bundle.<id>.cache, <id> a hash of the bundle's text, so a cache never meets
 * another bundle). V8 refuses a cache made by another V8 or with other flags, and the
 * bundle is then compiled as usual. `NODE_DEBUG=bastion` says which happened.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debuglog } from 'node:util';
import vm from 'node:vm';

/** a hash of bastion.bundle.js and of the node flags its cache is made under, set by scripts/bundle.ts */
declare const BASTION_BUNDLE_ID: string;

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, 'bastion.bundle.js');
const cacheFile = join(here, `bastion.bundle.${BASTION_BUNDLE_ID}.cache`);
const debug = debuglog('bastion');
/** set by the build: run, then write the code cache at exit */
const writeCache = process.env['BASTION_WRITE_CODE_CACHE'] === '1';

function compile(): vm.Script {
  const cachedData = !writeCache && existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
  // latin1: the bundle is ASCII (the build checks), and Node keeps a large latin1 text
  // outside the V8 heap, once
  const script = new vm.Script(readFileSync(bundle, 'latin1'), {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
    // import() of the packages left outside the bundle (pino-pretty, nodemailer, bcrypt)
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  debug('code cache %s', !cachedData ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used');
  return script;
}

const script = compile();
if (writeCache) {
  // written whole, then renamed: a start at the same moment reads the old file or the new one
  process.once('exit', () => {
    writeFileSync(`${cacheFile}.${process.pid}`, script.createCachedData());
    renameSync(`${cacheFile}.${process.pid}`, cacheFile);
  });
}
const module = { exports: {} };
(script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void).call(
  module.exports,
  module.exports,
  createRequire(bundle),
  module,
  bundle,
  here,
);
