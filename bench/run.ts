/**
 * `npm run bench`: one run, ratios only (machines are shared and noisy).
 *  - Bastion's open endpoint vs a bare Fastify server with the same route
 *  - Bastion's secure endpoint (EdDSA verify + revocation check) vs its open endpoint
 *  - login (argon2id at OWASP cost) throughput, for scale
 * Servers run as child processes; autocannon drives them over loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const ROOT = new URL('..', import.meta.url).pathname;
const DURATION = Number(process.env['BENCH_SECONDS'] ?? 8);
const CONNECTIONS = 32;

/** A free loopback port: Bastion at LOG_LEVEL=warn does not print its address. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

async function start(script: string, args: string[], env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i += 1) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/api/unsecure`)).ok) return { url, child };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${script} did not start`);
}

async function load(url: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET', body?: string) {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers, method, ...(body ? { body } : {}) });
  const ok = result['2xx'];
  if (result.non2xx > 0 || ok === 0) throw new Error(`${url}: ${result.non2xx} non-2xx responses`);
  return { rps: result.requests.average, p99: result.latency.p99 };
}

const rssMb = (pid: number) =>
  new Promise<number>((resolve) => {
    const ps = spawn('ps', ['-o', 'rss=', '-p', String(pid)]);
    let out = '';
    ps.stdout.on('data', (d: Buffer) => (out += d.toString()));
    ps.on('exit', () => resolve(Math.round(Number(out.trim()) / 1024)));
  });

const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-'));
const bare = await start('bench/bare.ts', [], {});
const bastion = await start('src/cli/main.ts', ['serve', '--demo'], {
  LOG_LEVEL: 'warn',
  // throttling would answer the login loops with 429s; this measures the raw cost
  AUTH_RATE_LIMIT: '1000000',
  LOGIN_MAX_FAILURES: '1000',
  LOGIN_IP_MAX_FAILURES: '100000',
  DATABASE_URL: `sqlite:${join(dir, 'bench.db')}`,
});
try {
  const loginBody = JSON.stringify({ username: 'kyle', password: 'p1' });
  const login = await fetch(`${bastion.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody });
  const { access_token: token } = (await login.json()) as { access_token: string };

  // warm-up, then measure in alternation so drift hits all alike
  await load(`${bare.url}/api/unsecure`);
  const bareOpen = await load(`${bare.url}/api/unsecure`);
  const open = await load(`${bastion.url}/api/unsecure`);
  const secure = await load(`${bastion.url}/api/secure`, { authorization: `Bearer ${token}` });
  const logins = await load(`${bastion.url}/api/login`, { 'content-type': 'application/json' }, 'POST', loginBody);
  const rss = await rssMb(bastion.child.pid!);
  // Equal timing for unknown users (OWASP): median of sequential logins, one at a time.
  const median = async (username: string) => {
    const times: number[] = [];
    for (let i = 0; i < 25; i += 1) {
      const start = performance.now();
      await fetch(`${bastion.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: 'wrong password' }),
      });
      times.push(performance.now() - start);
    }
    return times.sort((a, b) => a - b)[12]!;
  };
  const wrongPassword = await median('kyle');
  const unknownUser = await median('nobody-here');

  const row = (name: string, r: { rps: number; p99: number }) => `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s   p99 ${r.p99} ms`;
  console.log(`\nBastion bench: ${DURATION}s per run, ${CONNECTIONS} connections, loopback\n`);
  console.log(row('bare Fastify  GET /api/unsecure', bareOpen));
  console.log(row('Bastion       GET /api/unsecure', open));
  console.log(row('Bastion       GET /api/secure', secure));
  console.log(row('Bastion       POST /api/login', logins));
  console.log(`\nratio open / bare Fastify:      ${(open.rps / bareOpen.rps).toFixed(2)}`);
  console.log(`ratio secure / open (same run): ${(secure.rps / open.rps).toFixed(2)}`);
  console.log(`Bastion RSS after load:         ${rss} MB`);
  console.log(`login median, wrong password:   ${wrongPassword.toFixed(1)} ms`);
  console.log(`login median, unknown user:     ${unknownUser.toFixed(1)} ms (ratio ${(unknownUser / wrongPassword).toFixed(2)})`);
} finally {
  bare.child.kill();
  bastion.child.kill();
  rmSync(dir, { recursive: true, force: true });
}
