/**
 * `npm run bench` (issue #10): Bastion and two peers measured side by side in one run, on
 * loopback, by the same autocannon settings. Machines are shared and noisy, so what counts
 * are the ratios between figures of the same run, never the absolute numbers.
 *
 *   Bastion     dist/ (as `npm start`), --demo, LOG_LEVEL=warn, NODE_ENV=production
 *   Fastify     bench/peers/fastify-jwt.ts: Fastify + @fastify/jwt (HS256)
 *   node:http   bench/peers/node-http.ts
 *
 * Writes bench/results/<timestamp>.json and prints a Markdown table.
 *
 *   BENCH_SECONDS=5      seconds per measured run (after a warm-up of BENCH_WARMUP=2)
 *   BENCH_TOKENS=10000   distinct tokens for the cache-miss scenario
 *   BENCH_PG_URL=…       a PostgreSQL server to use (else one is started, as in npm test)
 *   BENCH_OUT=…          where the JSON goes (default bench/results/)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { ensureDebianPackages } from '../scripts/packages.ts';
import { psql, startPostgres } from '../test/helpers/postgres.ts';
import { compare, measure, together, type LoadOptions, type LoadResult, type Plan } from './lib/load.ts';
import { bastionMain, bastionNodeFlags, ROOT, rssMb, startServer, type Server } from './lib/servers.ts';
import { measureStartup } from './startup.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 6);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? Math.min(2, SECONDS)); // 0: none
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (SECONDS >= 3 ? 3 : 1));
const PLAN: Plan = { seconds: SECONDS, warmup: WARMUP, rounds: ROUNDS };
const TOKENS = Number(process.env['BENCH_TOKENS'] ?? 10_000);
const CONNECTIONS = 32;
/** a smoke run (npm test): one start-up sample, short idle waits */
const SMOKE = SECONDS < 3;
const IDLE_MS = SMOKE ? 300 : 2000;
/** Bastion's password cost in this run (its defaults are OWASP's) */
const ARGON2 = process.env['ARGON2_MEMORY'] || process.env['ARGON2_ITERATIONS'] ? `argon2id m=${process.env['ARGON2_MEMORY'] ?? 19456} t=${process.env['ARGON2_ITERATIONS'] ?? 2}` : 'OWASP argon2id';
const CORES = availableParallelism();
/** the threads Bastion hashes passwords on (ARGON2_CONCURRENCY=auto): a login costs one of them */
const HASH_CORES = Math.max(1, CORES - 1);

const OPEN = '/api/unsecure';
const SECURE = '/api/secure';
const USER = { username: 'kyle', password: 'p1' };

/** Bastion as it runs in production, with throttles raised: a login loop would otherwise measure 429s. */
const bastionEnv = (databaseUrl: string, extra: Record<string, string> = {}) => ({
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  DATABASE_URL: databaseUrl,
  // one issuer for both instances on the database (the default, http://HOST:PORT, differs by port)
  JWT_ISSUER: 'http://bastion.bench.test',
  AUTH_RATE_LIMIT: '1000000',
  LOGIN_MAX_FAILURES: '1000',
  LOGIN_IP_MAX_FAILURES: '100000',
  ...extra,
});

const startBastion = (name: string, databaseUrl: string, extra?: Record<string, string>) =>
  startServer(name, [...bastionNodeFlags, bastionMain, 'serve', '--demo'], bastionEnv(databaseUrl, extra));

const target = (server: Server, path: string, extra: Partial<LoadOptions> = {}, connections = CONNECTIONS): LoadOptions => ({
  url: server.url + path,
  pid: server.child.pid!,
  connections,
  ...extra,
});
const run = (server: Server, path: string, extra: Partial<LoadOptions> = {}, connections = CONNECTIONS) => measure(target(server, path, extra, connections), PLAN);

async function postJson(url: string, body: unknown): Promise<Response> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return res;
}

interface Pair {
  access_token: string;
  refresh_token: string;
}
const loginPair = async (bastion: Server): Promise<Pair> => (await (await postJson(`${bastion.url}/api/login`, USER)).json()) as Pair;

/** The jwt cookie of a cookie-mode login (/authenticate), as a Cookie header. */
async function cookieLogin(bastion: Server): Promise<string> {
  const res = await postJson(`${bastion.url}/authenticate`, USER);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .join('; ');
}

/**
 * Refresh rotations per second: one chain per connection (each a session of its own).
 * A connection takes a refresh token from the pool and puts back the successor; every
 * access token issued is kept for the distinct-token scenario.
 */
async function refreshRotations(bastion: Server, issued: string[]): Promise<LoadResult> {
  // a run that stops loses the chains whose answers were still in flight: enough for warm-up and rounds
  const pool = await Promise.all(Array.from({ length: (ROUNDS + 2) * CONNECTIONS }, async () => (await loginPair(bastion)).refresh_token));
  return run(bastion, '/api/auth/refresh', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/api/auth/refresh',
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ refresh_token: pool.shift() }) }),
        onResponse: (status, body) => {
          if (status !== 200) return;
          const pair = JSON.parse(body) as Pair;
          pool.push(pair.refresh_token);
          issued.push(pair.access_token);
        },
      },
    ],
  });
}

/** More access tokens (refreshes, 16 chains in parallel) until there are `count`. */
async function topUpTokens(bastion: Server, tokens: string[], count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      let pair = await loginPair(bastion);
      while (tokens.length < count) {
        tokens.push(pair.access_token);
        pair = (await (await postJson(`${bastion.url}/api/auth/refresh`, { refresh_token: pair.refresh_token })).json()) as Pair;
      }
    }),
  );
  tokens.length = count;
}

/** µs for one jose verification of a Bastion token with its published key, as Bastion checks it. */
async function joseVerifyMicros(bastion: Server, token: string): Promise<number> {
  const jwks = (await (await fetch(`${bastion.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  const keys = createLocalJWKSet(jwks);
  const alg = jwks.keys[0]!.alg!;
  const verify = () => jwtVerify(token, keys, { algorithms: [alg], typ: 'at+jwt', requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'] });
  for (let i = 0; i < 500; i += 1) await verify();
  const rounds = 5000;
  const started = performance.now();
  for (let i = 0; i < rounds; i += 1) await verify();
  return ((performance.now() - started) * 1000) / rounds;
}

/** The event-loop delay p99 (seconds) since the previous scrape: prom-client resets its histogram on each. */
async function eventLoopP99(bastion: Server): Promise<number> {
  const text = await (await fetch(`${bastion.url}/metrics`)).text();
  const m = /^bastion_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
  if (!m) throw new Error('no bastion_nodejs_eventloop_lag_p99_seconds in /metrics');
  return Number(m[1]);
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

// ---------------------------------------------------------------------------------------

ensureDebianPackages('npm run bench', process.env['BENCH_PG_URL'] ? [] : ['postgresql', 'openssl']);
const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-'));
const pg = process.env['BENCH_PG_URL'] ? null : await startPostgres();
const pgBase = process.env['BENCH_PG_URL'] ?? pg!.url();
const pgDatabase = `bench_${process.pid}_${Date.now()}`;
psql(pgBase, `CREATE DATABASE ${pgDatabase}`);
const pgUrl = (() => {
  const url = new URL(pgBase);
  url.pathname = `/${pgDatabase}`;
  return url.href;
})();
const servers: Server[] = [];
const track = async (p: Promise<Server>) => {
  const s = await p;
  servers.push(s);
  return s;
};
const started = performance.now();

try {
  // 7. start-up and idle memory first, on a quiet machine
  const startups = [];
  for (let i = 0; i < (SMOKE ? 1 : 3); i += 1) startups.push(await measureStartup([...bastionNodeFlags, bastionMain, 'serve'], {}, IDLE_MS));
  const startMs = startups.map((s) => s.firstOkMs).sort((a, b) => a - b)[Math.floor(startups.length / 2)]!;

  const secret = randomBytes(32).toString('base64url');
  const nodeHttp = await track(startServer('node:http', ['bench/peers/node-http.ts'], {}));
  const fastify = await track(startServer('Fastify + @fastify/jwt', ['bench/peers/fastify-jwt.ts'], { BENCH_JWT_SECRET: secret }));
  const bastion = await track(startBastion('Bastion', `sqlite:${join(dir, 'bench.db')}`));
  // a reference: Fastify sending the headers Bastion's open route sends (not the per-message ones)
  const sample = await fetch(bastion.url + OPEN);
  await sample.arrayBuffer();
  const perMessage = new Set(['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'x-request-id']);
  const bastionHeaders = Object.fromEntries([...sample.headers].filter(([name]) => !perMessage.has(name)));
  const bastionHeaderCount = Object.keys(bastionHeaders).length + 1; // and its own X-Request-Id
  const fastifyHeaders = await track(startServer("Fastify + Bastion's headers", ['bench/peers/fastify-jwt.ts'], { BENCH_JWT_SECRET: secret, BENCH_RESPONSE_HEADERS: JSON.stringify(bastionHeaders) }));
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const rssIdle = rssMb(bastion.child.pid!);

  // 1. open route
  const open = await compare(
    { nodeHttp: target(nodeHttp, OPEN), fastify: target(fastify, OPEN), fastifyHeaders: target(fastifyHeaders, OPEN), bastion: target(bastion, OPEN) },
    PLAN,
  );
  await fastifyHeaders.stop();

  // 2. protected route, one repeated token; the peer's token says the same as Bastion's
  const { access_token: token } = await loginPair(bastion);
  const { SignJWT } = await import('jose');
  const peerToken = await new SignJWT({ roles: [] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('1')
    .setIssuedAt()
    .setExpirationTime('15m')
    .sign(Buffer.from(secret));
  const secure = await compare(
    {
      fastify: target(fastify, SECURE, { headers: { authorization: `Bearer ${peerToken}` } }),
      bastion: target(bastion, SECURE, { headers: { authorization: `Bearer ${token}` } }),
    },
    PLAN,
  );
  const rssLoaded = rssMb(bastion.child.pid!);

  // 4. cookie mode, GET (no CSRF header needed for a safe method)
  const cookie = await cookieLogin(bastion);
  const people = await run(bastion, '/api/person/', { headers: { cookie } });

  // 6. refresh rotations, SQLite (the access tokens issued feed scenario 3)
  const tokens: string[] = [];
  const refreshSqlite = await refreshRotations(bastion, tokens);
  await topUpTokens(bastion, tokens, TOKENS);

  // 3. distinct tokens in rotation: a second instance on the same database whose cache
  // (TOKEN_CACHE_SIZE=1000, FIFO) can never hold the next token, so every request misses
  const missing = await track(startBastion('Bastion (cache misses)', `sqlite:${join(dir, 'bench.db')}`, { TOKEN_CACHE_SIZE: '1000' }));
  let next = 0;
  const rotating = target(missing, SECURE, {
    requests: [{ method: 'GET', path: SECURE, setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` } }) }],
  });
  const { distinct, missingOpen } = await compare({ distinct: rotating, missingOpen: target(missing, OPEN) }, PLAN);
  const verifyUs = await joseVerifyMicros(bastion, token);
  await missing.stop();

  // 5. logins at the configured (OWASP) argon2id cost, then a login flood beside protected traffic
  const loginBody = JSON.stringify(USER);
  const loginLoad = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: loginBody };
  const logins = await run(bastion, '/api/login', loginLoad, 8);
  const secure16 = target(bastion, SECURE, { headers: { authorization: `Bearer ${token}` } }, 16);
  const secureAlone = await measure(secure16, { ...PLAN, rounds: 1 });
  await eventLoopP99(bastion); // resets the histogram
  const [floodLogins, secureDuringFlood] = await together(target(bastion, '/api/login', loginLoad, 8), secure16, SECONDS);
  const loopP99Ms = (await eventLoopP99(bastion)) * 1000;
  await bastion.stop();

  // 6. refresh rotations, PostgreSQL
  const onPg = await track(startBastion('Bastion (PostgreSQL)', pgUrl));
  const refreshPg = await refreshRotations(onPg, []);
  await onPg.stop();

  const r = (a: number, b: number) => a / b;
  const cpuRatio = (peer: LoadResult, ours: LoadResult) => (peer.cpuUsPerRequest ?? NaN) / (ours.cpuUsPerRequest ?? NaN);
  const perRequestUs = (x: LoadResult) => 1e6 / x.rps;
  // Per core = per second of the server's own CPU time. Bastion rotates on one thread (its
  // event loop); dividing req/s by the machine's cores would also charge it the core the
  // load generator runs on.
  const perCore = (x: LoadResult) => 1e6 / (x.cpuUsPerRequest ?? NaN);
  const result = {
    when: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: CORES, node: process.version, platform: `${process.platform} ${process.arch}` },
    settings: { seconds: SECONDS, warmup: WARMUP, rounds: ROUNDS, connections: CONNECTIONS, tokens: tokens.length },
    figures: {
      open: { nodeHttp: open.nodeHttp, fastify: open.fastify, fastifyWithBastionHeaders: open.fastifyHeaders, bastion: open.bastion, bastionHeaderCount },
      secure,
      distinct: { bastion: distinct, open: missingOpen, joseVerifyUs: verifyUs },
      cookiePeople: people,
      logins: { alone: logins, perCore: logins.rps / HASH_CORES, hashCores: HASH_CORES, flood: floodLogins, secureAlone, secureDuringFlood, eventLoopP99Ms: loopP99Ms },
      refresh: { sqlite: refreshSqlite, postgres: refreshPg, perCore: { sqlite: perCore(refreshSqlite), postgres: perCore(refreshPg) } },
      memory: { rssIdleMb: rssIdle, rssAfterSecureLoadMb: rssLoaded },
      startup: { firstOkMs: startMs },
    },
    ratios: {
      openVsFastify: r(open.bastion.rps, open.fastify.rps),
      openVsNodeHttp: r(open.bastion.rps, open.nodeHttp.rps),
      /** not a target: how much of the gap to bare Fastify the headers Bastion must send explain */
      fastifyWithBastionHeadersVsFastify: r(open.fastifyHeaders.rps, open.fastify.rps),
      openVsFastifyWithBastionHeaders: r(open.bastion.rps, open.fastifyHeaders.rps),
      secureVsFastifyJwt: r(secure.bastion.rps, secure.fastify.rps),
      distinctVsOpenPlusVerify: perRequestUs(distinct) / (perRequestUs(missingOpen) + verifyUs),
      secureDuringFloodVsAlone: r(secureDuringFlood.rps, secureAlone.rps),
      cookiePeopleVsOpen: r(people.rps, open.bastion.rps),
    },
    /** the same comparisons by the servers' CPU time per request (peer's ÷ Bastion's: above 1, Bastion costs less) */
    cpuRatios: {
      openVsFastify: cpuRatio(open.fastify, open.bastion),
      secureVsFastifyJwt: cpuRatio(secure.fastify, secure.bastion),
      distinctVsOpenPlusVerify: (distinct.cpuUsPerRequest ?? NaN) / ((missingOpen.cpuUsPerRequest ?? NaN) + verifyUs),
    },
    seconds: (performance.now() - started) / 1000,
  };

  const T = result.ratios;
  const f = result.figures;
  const targets: [string, string, string, boolean][] = [
    ['protected (one token) ÷ Fastify+@fastify/jwt protected', fmt(T.secureVsFastifyJwt, 2), '≥ 1.3', T.secureVsFastifyJwt >= 1.3],
    ['open ÷ bare Fastify open', fmt(T.openVsFastify, 2), '≥ 0.8', T.openVsFastify >= 0.8],
    ['distinct tokens ÷ (open + one jose verify), per request', fmt(T.distinctVsOpenPlusVerify, 2), '≤ 1.2', T.distinctVsOpenPlusVerify <= 1.2],
    ['event-loop delay p99 during a login flood', `${fmt(loopP99Ms, 1)} ms`, '< 20 ms', loopP99Ms < 20],
    ['protected during a login flood ÷ alone', fmt(T.secureDuringFloodVsAlone, 2), '≥ 0.7', T.secureDuringFloodVsAlone >= 0.7],
    ['refresh rotations per core (per second of server CPU), SQLite', fmt(f.refresh.perCore.sqlite), '≥ 1,500/s', f.refresh.perCore.sqlite >= 1500],
    [`logins per hashing core (${ARGON2}; ${HASH_CORES} of ${CORES} cores hash)`, fmt(f.logins.perCore, 1), '≥ 60/s', f.logins.perCore >= 60],
    ['RSS after the protected-route load', `${fmt(rssLoaded, 1)} MB`, '< 100 MB', rssLoaded < 100],
    ['start to first 200', `${fmt(startMs)} ms`, '< 500 ms', startMs < 500],
  ];
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  /** req/s, and the server's CPU time per request */
  const cell = (x: LoadResult) => `${fmt(x.rps)} req/s (${fmt(x.cpuUsPerRequest ?? NaN)} µs CPU)`;
  const lines = [
    `Bastion bench, ${result.when}: ${result.machine.cpu}, ${CORES} cores, Node ${process.version}; ${SECONDS} s per figure after ${WARMUP} s warm-up, servers compared in turn over ${ROUNDS} round(s) (median round), ${CONNECTIONS} connections unless noted, loopback, load generator on the same machine.`,
    '',
    row(['scenario', 'node:http', 'Fastify (+ @fastify/jwt)', 'Bastion']),
    row(['---', '---:', '---:', '---:']),
    row(['open `GET /api/unsecure`', cell(open.nodeHttp), cell(open.fastify), cell(open.bastion)]),
    row([`open, Fastify sending Bastion's ${bastionHeaderCount} response headers (a reference)`, '', cell(open.fastifyHeaders), '']),
    row(['protected `GET /api/secure`, one token', '', cell(secure.fastify), cell(secure.bastion)]),
    row([`protected, ${fmt(tokens.length)} distinct tokens, every one a cache miss`, '', '', cell(distinct)]),
    row(['cookie mode `GET /api/person/`', '', '', cell(people)]),
    row([`logins, ${ARGON2}, 8 connections (req/s)`, '', '', fmt(logins.rps, 1)]),
    row(['protected, 16 connections: alone / during a login flood (req/s)', '', '', `${fmt(secureAlone.rps)} / ${fmt(secureDuringFlood.rps)}`]),
    row(['refresh rotations: SQLite / PostgreSQL', '', '', `${cell(refreshSqlite)} / ${cell(refreshPg)}`]),
    row(['RSS idle / after the protected load (MB)', '', '', `${fmt(rssIdle, 1)} / ${fmt(rssLoaded, 1)}`]),
    row(['start to first 200 (ms, median of 3)', '', '', fmt(startMs)]),
    '',
    row(['target', 'measured', 'wanted', 'met']),
    row(['---', '---:', '---:', '---']),
    ...targets.map(([name, value, wanted, met]) => row([name, value, wanted, met ? 'yes' : '**no**'])),
    '',
    `By CPU time per request (less disturbed by a busy machine than req/s): open ${fmt(result.cpuRatios.openVsFastify, 2)}× bare Fastify's, protected ${fmt(result.cpuRatios.secureVsFastifyJwt, 2)}× Fastify + @fastify/jwt's (above 1: Bastion costs less); a cache miss ${fmt(result.cpuRatios.distinctVsOpenPlusVerify, 2)}× (open + one jose verification).`,
    `Bastion's response headers (security headers, Vary, X-Request-Id) alone take bare Fastify to ${fmt(T.fastifyWithBastionHeadersVsFastify, 2)}× its open route; Bastion's open route is ${fmt(T.openVsFastifyWithBastionHeaders, 2)}× that of Fastify sending them.`,
    `One jose verification: ${fmt(verifyUs, 1)} µs; Bastion's open route: ${fmt(perRequestUs(missingOpen), 1)} µs per request; a cache miss: ${fmt(perRequestUs(distinct), 1)} µs per request (from req/s).`,
  ];
  const outDir = process.env['BENCH_OUT'] ?? join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${result.when.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ ...result, targets: targets.map(([name, value, wanted, met]) => ({ name, value, wanted, met })) }, null, 2)}\n`);
  console.log(`\n${lines.join('\n')}\n\nwritten: ${file} (${fmt(result.seconds)} s)`);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  try {
    psql(pgBase, `DROP DATABASE IF EXISTS ${pgDatabase}`);
  } finally {
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
