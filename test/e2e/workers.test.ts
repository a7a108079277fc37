/**
 * Issue #9 part 2, on real `bastion serve --workers N` processes over loopback, on both
 * databases: WORKERS=0 refused in one line; two workers sharing the port and the database
 * (one signing key made once, both answering, concurrent signups and refresh rotations
 * without a single 5xx or failed request, on SQLite that is two processes writing one WAL
 * file), a worker killed with -9 replaced while the other keeps answering, SIGTERM to the
 * primary draining every worker; and a primary that gives up loudly when its workers keep
 * crashing.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { openDb } from '../../src/storage/db.ts';
import { tempDir } from '../helpers/app.ts';
import { DIALECT, testDatabaseUrl } from '../helpers/db.ts';
import { request } from '../helpers/http.ts';
import { runCli, spawnCli } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery';
const CLIENTS = 8;
const START_MS = 180_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

interface Proc {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnServe(env: Record<string, string>): Proc {
  const child = spawnCli(['serve'], { HOST: '127.0.0.1', LOG_LEVEL: 'info', LOG_FORMAT: 'json', AUTH_RATE_LIMIT: '1000000', ...env });
  child.stdin!.end();
  running.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, output: () => out, exited };
}

/** The JSON log lines printed so far. */
const logLines = (proc: Proc): Array<Record<string, unknown>> =>
  proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** pids of the processes that logged `msg` (a prefix). */
const pidsLogging = (proc: Proc, msg: string): Set<number> =>
  new Set(logLines(proc).filter((l) => String(l['msg']).startsWith(msg)).map((l) => l['pid'] as number));

async function until(what: string, check: () => boolean, proc: Proc, ms = START_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms\n${proc.output().slice(-4000)}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------------------------------
// the write load, with a ledger of what was acknowledged

interface Ledger {
  readonly signups: string[];
  readonly families: string[][];
  readonly statuses: Map<number, number>;
  readonly failures: string[];
  refreshes: number;
}

async function attempt(ledger: Ledger, base: string, path: string, body: unknown) {
  try {
    const res = await request(base, 'POST', path, body);
    ledger.statuses.set(res.status, (ledger.statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 400) ledger.failures.push(`${res.status} ${path} ${res.text}`);
    return res;
  } catch (err) {
    ledger.failures.push(`${path}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
    return null;
  }
}

/** Signs up, logs in, rotates three times; again and again while `go()`. */
async function client(ledger: Ledger, base: string, id: string, go: () => boolean): Promise<void> {
  for (let i = 0; go(); i += 1) {
    const username = `${id}x${i}`;
    const signup = await attempt(ledger, base, '/api/auth/signup', { username, password: PASSWORD });
    if (signup?.status !== 201) return;
    ledger.signups.push(username);
    const login = await attempt(ledger, base, '/api/auth/login', { username, password: PASSWORD });
    if (login?.status !== 200) return;
    const family = [login.json.refresh_token as string];
    ledger.families.push(family);
    for (let r = 0; r < 3; r += 1) {
      const res = await attempt(ledger, base, '/api/auth/refresh', { refresh_token: family.at(-1) });
      if (res?.status !== 200) return;
      family.push(res.json.refresh_token as string);
      ledger.refreshes += 1;
    }
  }
}

const tokenId = (token: string) => token.split('.')[0]!;

// ---------------------------------------------------------------------------------------

describe(`WORKERS (${DIALECT})`, () => {
  test('WORKERS=0 stops start-up with one line naming WORKERS', async () => {
    const { dir, remove } = tempDir('bastion-workers0-');
    try {
      const { code, stdout, stderr } = await runCli(['serve'], { WORKERS: '0', PORT: '0', DATABASE_URL: `sqlite:${dir}/x.db` });
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, /^config: WORKERS must be auto or a whole number from 1 to 64 \(got "0"\)\n$/);
      const flag = await runCli(['serve', '--workers', 'many'], { PORT: '0', DATABASE_URL: `sqlite:${dir}/x.db` });
      assert.equal(flag.code, 1);
      assert.match(flag.stderr, /^config: WORKERS must be auto or a whole number from 1 to 64 \(got "many"\)\n$/);
    } finally {
      remove();
    }
  });

  test('two workers: one signing key, both answer, concurrent writes without a 5xx, a killed worker is replaced, SIGTERM drains both', { timeout: 600_000 }, async () => {
    const { dir, remove } = tempDir('bastion-workers-');
    const databaseUrl = testDatabaseUrl(dir);
    try {
      const primary = spawnServe({ WORKERS: '2', PORT: '0', DATABASE_URL: databaseUrl });
      await until('two workers listening', () => pidsLogging(primary, 'Server listening at').size === 2, primary);
      await until('the primary says so', () => /serving http:\/\/127\.0\.0\.1:\d+ with 2 workers/.test(primary.output()), primary);
      const base = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(primary.output())![1]!;
      const [first, second] = [...pidsLogging(primary, 'Server listening at')];
      assert.ok(!pidsLogging(primary, 'Server listening at').has(primary.child.pid!), 'the primary itself does not serve');

      const store = openDb(databaseUrl);
      try {
        const keys = await store.db.selectFrom('signing_keys').select('kid').execute();
        assert.equal(keys.length, 1, 'the first start made exactly one signing key');

        // concurrent signups, logins and refresh rotations over both workers
        const ledger: Ledger = { signups: [], families: [], statuses: new Map(), failures: [], refreshes: 0 };
        let go = true;
        const load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(ledger, base, `w${c}`, () => go)));
        const answered = () => pidsLogging(primary, 'request completed');
        await until('load on both workers', () => ledger.failures.length > 0 || (ledger.refreshes >= 80 && answered().size === 2), primary);
        go = false;
        await load;
        assert.deepEqual(ledger.failures, [], 'every request of the write load succeeds: no SQLITE_BUSY, no 5xx');
        assert.deepEqual([...answered()].sort(), [first, second].sort(), 'both workers answered');
        const users = new Set((await store.db.selectFrom('users').select('username').execute()).map((u) => u.username));
        assert.deepEqual(ledger.signups.filter((u) => !users.has(u)), [], 'every acknowledged signup is stored');
        const live = new Set(
          (await store.db.selectFrom('refresh_tokens').select('id').where('used_at', 'is', null).execute()).map((t) => t.id),
        );
        for (const family of ledger.families) assert.ok(live.has(tokenId(family.at(-1)!)), 'the newest token of each family is live');
        const doubleLive = await store.db
          .selectFrom('refresh_tokens')
          .select('family_id')
          .where('used_at', 'is', null)
          .groupBy('family_id')
          .having((eb) => eb.fn.countAll(), '>', 1)
          .execute();
        assert.deepEqual(doubleLive, [], 'no family has two live tokens');
        console.log(
          `# write load on ${DIALECT}, 2 workers: ${ledger.signups.length} signups, ${ledger.families.length} logins, ${ledger.refreshes} refreshes, statuses ${JSON.stringify([...ledger.statuses])}, failures ${ledger.failures.length}`,
        );
        assert.equal((await store.db.selectFrom('signing_keys').select('kid').execute()).length, 1, 'still one signing key');
      } finally {
        await store.close();
      }

      // kill -9 one worker: the other keeps answering, the primary starts a replacement
      process.kill(first!, 'SIGKILL');
      await until('the primary sees the crash', () => /worker exited unexpectedly; starting a replacement/.test(primary.output()), primary);
      await sleep(200); // pooled sockets to the dead worker are dropped by the client
      for (let i = 0; i < 10; i += 1) {
        const res = await request(base, 'GET', '/readyz');
        assert.equal(res.status, 200, `answered while a worker is being replaced: ${res.text}`);
      }
      await until('a replacement listening', () => pidsLogging(primary, 'Server listening at').size === 3, primary);
      const replacement = [...pidsLogging(primary, 'Server listening at')].find((p) => p !== first && p !== second)!;
      assert.equal((await request(base, 'GET', '/readyz')).status, 200);

      // SIGTERM to the primary drains both workers, then it exits 0
      primary.child.kill('SIGTERM');
      const exit = await primary.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, primary.output().slice(-3000));
      assert.deepEqual([...pidsLogging(primary, 'shutdown complete')].sort(), [primary.child.pid!, second!, replacement].sort(), 'both workers and the primary shut down cleanly');
    } finally {
      remove();
    }
  });

  // Supervision only (no worker ever reaches the database): run in one pass, not in both.
  if (DIALECT === 'sqlite') test('workers that keep crashing: the primary gives up with one fatal line and exit 1', { timeout: 600_000 }, async () => {
    const { dir, remove } = tempDir('bastion-crashloop-');
    // the port is taken: every worker fails to listen and exits
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (taken.address() as AddressInfo).port;
      const primary = spawnServe({ WORKERS: '2', PORT: String(port), DATABASE_URL: testDatabaseUrl(dir) });
      const exit = await primary.exited;
      assert.deepEqual(exit, { code: 1, signal: null }, primary.output().slice(-3000));
      const fatal = logLines(primary).filter((l) => l['level'] === 60);
      assert.equal(fatal.length, 1, primary.output());
      assert.match(String(fatal[0]!['msg']), /^workers keep crashing: 5 exits within 60 s; giving up$/);
      assert.equal(logLines(primary).filter((l) => /starting a replacement/.test(String(l['msg']))).length, 4, 'four replacements, each after a longer back-off');
    } finally {
      taken.close();
      remove();
    }
  });
});
