/**
 * Issue #9 part 3, on the real `bastion serve` process over loopback, on both databases:
 * SIGTERM while clients sign up and rotate refresh tokens (every 2xx is in the database,
 * no 5xx but 503, exit 0; a request in flight finishes, one arriving during the drain gets
 * 503 in the one shape, /readyz 503, idle kept-alive sockets closed), SHUTDOWN_TIMEOUT
 * closing a request that never completes, and kill -9 mid-load (the server restarts on the
 * same database, every acknowledged signup is there, no refresh family has two live
 * tokens, SQLite's integrity_check is ok).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { openDb } from '../../src/storage/db.ts';
import { tempDir } from '../helpers/app.ts';
import { DIALECT, testDatabaseUrl } from '../helpers/db.ts';
import { request } from '../helpers/http.ts';
import { spawnCli } from '../helpers/server.ts';

const PASSWORD = 'correct horse battery';
const CLIENTS = 6;
const REFRESHES_PER_LOGIN = 3;
/** tsx loads the whole app in each process: slow on a busy machine */
const START_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// the server process: its pid, exit and output

interface Proc {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Resolves once `re` has matched the output `count` times. */
async function waitFor(output: () => string, re: RegExp, count = 1, ms = START_MS): Promise<void> {
  const deadline = Date.now() + ms;
  const global = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
  while ((output().match(global)?.length ?? 0) < count) {
    if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms: ${re}\n${output().slice(-4000)}`);
    await sleep(20);
  }
}

async function serve(env: Record<string, string>): Promise<Proc> {
  const child = spawnCli(['serve'], { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', LOG_FORMAT: 'json', AUTH_RATE_LIMIT: '1000000', ...env });
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
  const output = () => out;
  await Promise.race([
    waitFor(output, /Server listening at http:\/\/127\.0\.0\.1:\d+/),
    exited.then(({ code }) => Promise.reject(new Error(`server exited with ${code}:\n${out}`))),
  ]);
  const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  return { child, url, output, exited };
}

// ---------------------------------------------------------------------------------------
// the load: clients that sign up, log in and rotate, keeping a ledger of what was acknowledged

interface Family {
  /** the newest refresh token the server acknowledged (login or refresh 200) */
  acked: string;
  /** a refresh of `acked` was sent and got no answer (the connection failed) */
  unanswered: boolean;
}

interface Ledger {
  readonly signups: string[];
  readonly families: Family[];
  readonly statuses: Map<number, number>;
  /** network failures by cause code (ECONNREFUSED once the listener is closed) */
  readonly failures: Map<string, number>;
  readonly serverErrors: string[];
  refreshes: number;
}

const newLedger = (): Ledger => ({ signups: [], families: [], statuses: new Map(), failures: new Map(), serverErrors: [], refreshes: 0 });

/** One request; null when the connection failed (recorded by cause). */
async function attempt(ledger: Ledger, base: string, path: string, body: unknown) {
  try {
    const res = await request(base, 'POST', path, body);
    ledger.statuses.set(res.status, (ledger.statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 500) ledger.serverErrors.push(`${res.status} ${path} ${res.text}`);
    return res;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    ledger.failures.set(cause, (ledger.failures.get(cause) ?? 0) + 1);
    return null;
  }
}

/** Signs up, logs in, refreshes; until the connection fails or `go()` turns false. */
async function client(ledger: Ledger, base: string, id: string, go: () => boolean): Promise<void> {
  for (let i = 0; go(); i += 1) {
    const username = `${id}x${i}`;
    const signup = await attempt(ledger, base, '/api/auth/signup', { username, password: PASSWORD });
    if (!signup) return;
    if (signup.status !== 201) continue;
    ledger.signups.push(username);
    const login = await attempt(ledger, base, '/api/auth/login', { username, password: PASSWORD });
    if (!login) return;
    if (login.status !== 200) continue;
    const family: Family = { acked: login.json.refresh_token as string, unanswered: false };
    ledger.families.push(family);
    for (let r = 0; r < REFRESHES_PER_LOGIN && go(); r += 1) {
      const res = await attempt(ledger, base, '/api/auth/refresh', { refresh_token: family.acked });
      if (!res) {
        family.unanswered = true;
        return;
      }
      if (res.status !== 200) break;
      family.acked = res.json.refresh_token as string;
      ledger.refreshes += 1;
    }
  }
}

const startLoad = (ledger: Ledger, base: string, go: () => boolean) =>
  Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(ledger, base, `c${c}`, go)));

async function until(check: () => boolean, ms = START_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('load made no progress');
    await sleep(20);
  }
}

const summary = (l: Ledger) =>
  `signups ${l.signups.length}, families ${l.families.length}, refreshes ${l.refreshes}, statuses ${JSON.stringify([...l.statuses])}, failures ${JSON.stringify([...l.failures])}`;

// ---------------------------------------------------------------------------------------
// the database afterwards

interface Stored {
  readonly usernames: Set<string>;
  readonly tokens: Map<string, { family_id: string; parent_id: string | null; used_at: number | null }>;
  readonly doubleLive: string[];
  readonly integrity: string | null;
}

async function readDatabase(url: string): Promise<Stored> {
  const store = openDb(url);
  try {
    const users = await store.db.selectFrom('users').select('username').execute();
    const tokens = await store.db.selectFrom('refresh_tokens').select(['id', 'family_id', 'parent_id', 'used_at']).execute();
    const doubleLive = await store.db
      .selectFrom('refresh_tokens')
      .select('family_id')
      .where('used_at', 'is', null)
      .groupBy('family_id')
      .having((eb) => eb.fn.countAll(), '>', 1)
      .execute();
    let integrity: string | null = null;
    if (store.dialect === 'sqlite') {
      const rows = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(store.db);
      integrity = rows.rows.map((r) => r.integrity_check).join('; ');
    }
    return {
      usernames: new Set(users.map((u) => u.username)),
      tokens: new Map(tokens.map((t) => [t.id, t])),
      doubleLive: doubleLive.map((r) => r.family_id),
      integrity,
    };
  } finally {
    await store.close();
  }
}

const tokenId = (token: string) => token.split('.')[0]!;

/** Every acknowledged signup is stored. */
function assertSignupsStored(ledger: Ledger, stored: Stored): void {
  const missing = ledger.signups.filter((u) => !stored.usernames.has(u));
  assert.deepEqual(missing, [], `acknowledged signups missing from the database (${ledger.signups.length} acknowledged)`);
}

// ---------------------------------------------------------------------------------------
// raw HTTP on one socket, to hold a request half-sent across the signal

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

class RawConnection {
  private data = '';
  readonly closed: Promise<void>;
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (this.data += d));
    socket.on('error', () => undefined);
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  static open(base: string): Promise<RawConnection> {
    const { hostname, port } = new URL(base);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  write(text: string): void {
    this.socket.write(text);
  }

  get received(): string {
    return this.data;
  }

  /** The next complete response (Content-Length bodies only). */
  async response(ms = 60_000): Promise<RawResponse> {
    const deadline = Date.now() + ms;
    for (;;) {
      const end = this.data.indexOf('\r\n\r\n');
      if (end >= 0) {
        const [statusLine, ...lines] = this.data.slice(0, end).split('\r\n');
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const length = Number(headers['content-length'] ?? 0);
        if (this.data.length >= end + 4 + length) {
          const body = this.data.slice(end + 4, end + 4 + length);
          this.data = this.data.slice(end + 4 + length);
          return { status: Number(statusLine!.split(' ')[1]), headers, body };
        }
      }
      if (Date.now() > deadline) throw new Error(`no complete response within ${ms} ms: ${JSON.stringify(this.data)}`);
      await sleep(10);
    }
  }
}

const head = (method: string, path: string, extra = '') => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}`;

function assertShuttingDown(res: RawResponse, what: string): void {
  assert.equal(res.status, 503, `${what}: ${JSON.stringify(res)}`);
  assert.equal(res.headers['connection'], 'close', what);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, what);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'message'], `${what}: the one error shape`);
  assert.equal(body['code'], 'not_ready', what);
}

// ---------------------------------------------------------------------------------------

describe(`graceful shutdown and crash safety (${DIALECT})`, () => {
  test('SIGTERM under load: every 2xx is in the database, no 5xx but 503, in-flight requests finish, late ones get 503, exit 0', { timeout: 300_000 }, async () => {
    const { dir, remove } = tempDir('bastion-shutdown-');
    const databaseUrl = testDatabaseUrl(dir);
    try {
      const server = await serve({ DATABASE_URL: databaseUrl, SHUTDOWN_TIMEOUT: '60s' });
      const ledger = newLedger();
      const load = startLoad(ledger, server.url, () => true);
      await until(() => ledger.refreshes >= 20 && ledger.signups.length >= 10);

      // held across the signal: a signup whose body is still arriving (in flight), two
      // requests whose headers are still arriving, and an idle kept-alive socket
      const inflightBody = JSON.stringify({ username: 'probe_inflight', password: PASSWORD });
      const inflight = await RawConnection.open(server.url);
      inflight.write(`${head('POST', '/api/auth/signup?probe=inflight', `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(inflightBody)}\r\n\r\n`)}${inflightBody.slice(0, 10)}`);
      const lateReady = await RawConnection.open(server.url);
      lateReady.write(head('GET', '/readyz?probe=late'));
      const lateBody = JSON.stringify({ username: 'probe_late', password: PASSWORD });
      const lateSignup = await RawConnection.open(server.url);
      lateSignup.write(head('POST', '/api/auth/signup?probe=late', `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(lateBody)}\r\n`));
      const idle = await RawConnection.open(server.url);
      idle.write(head('GET', '/healthz', '\r\n'));
      assert.equal((await idle.response()).status, 200);
      await waitFor(server.output, /signup\?probe=inflight/); // its request line is logged: it passed the gate

      server.child.kill('SIGTERM');
      await waitFor(server.output, /shutting down: refusing new requests/);
      inflight.write(inflightBody.slice(10));
      lateReady.write('\r\n');
      lateSignup.write(`\r\n${lateBody}`);

      const finished = await inflight.response();
      assert.equal(finished.status, 201, `the request in flight finishes: ${finished.body}`);
      assert.equal(finished.headers['connection'], 'close');
      assertShuttingDown(await lateReady.response(), '/readyz during the drain');
      assertShuttingDown(await lateSignup.response(), 'a signup arriving during the drain');
      await Promise.all([inflight.closed, lateReady.closed, lateSignup.closed, idle.closed]);
      assert.equal(idle.received, '', 'the idle kept-alive socket is closed without a response');

      const exit = await server.exited;
      await load;
      assert.deepEqual(exit, { code: 0, signal: null }, server.output().slice(-3000));
      assert.match(server.output(), /"forced":0,"msg":"shutdown complete"/);

      assert.deepEqual(ledger.serverErrors.filter((e) => !e.startsWith('503 ')), [], 'no 5xx but 503');
      // a client's next connection is refused; none has a request it sent cut off (reset, or closed unanswered)
      assert.deepEqual([...ledger.failures.keys()].filter((cause) => cause !== 'ECONNREFUSED'), [], summary(ledger));
      const unexpected = [...ledger.statuses.keys()].filter((s) => ![200, 201, 503].includes(s));
      assert.deepEqual(unexpected, [], summary(ledger));
      const stored = await readDatabase(databaseUrl);
      assertSignupsStored(ledger, stored);
      assert.ok(stored.usernames.has('probe_inflight'), 'the signup in flight is stored');
      assert.ok(!stored.usernames.has('probe_late'), 'the signup refused with 503 is not');
      // a drained server answered or refused every request: each family's last acknowledged token is its one live token
      for (const family of ledger.families) {
        const row = stored.tokens.get(tokenId(family.acked));
        assert.ok(row, 'acknowledged refresh token stored');
        assert.equal(row.used_at, null, `acknowledged refresh token is the live one of its family${family.unanswered ? ' (its next refresh got no answer)' : ''}`);
      }
      assert.deepEqual(stored.doubleLive, [], 'no family has two live tokens');
      if (stored.integrity !== null) assert.equal(stored.integrity, 'ok');
      console.log(`# SIGTERM on ${DIALECT}: ${summary(ledger)}; acknowledged signups found ${ledger.signups.length}/${ledger.signups.length}, 5xx ${ledger.serverErrors.length} (all 503)`);
    } finally {
      remove();
    }
  });

  test('kill -9 mid-load: the server restarts on the same database, acknowledged writes are there; SHUTDOWN_TIMEOUT closes a request that never completes', { timeout: 300_000 }, async () => {
    const { dir, remove } = tempDir('bastion-kill-');
    const databaseUrl = testDatabaseUrl(dir);
    try {
      const server = await serve({ DATABASE_URL: databaseUrl });
      const ledger = newLedger();
      const load = startLoad(ledger, server.url, () => true);
      await until(() => ledger.refreshes >= 20 && ledger.signups.length >= 10);
      server.child.kill('SIGKILL');
      assert.deepEqual(await server.exited, { code: null, signal: 'SIGKILL' });
      await load;
      assert.deepEqual(ledger.serverErrors, [], 'no 5xx before the kill');

      const again = await serve({ DATABASE_URL: databaseUrl, SHUTDOWN_TIMEOUT: '1s' });
      const ready = await request(again.url, 'GET', '/readyz');
      assert.equal(ready.status, 200, ready.text);
      const stored = await readDatabase(databaseUrl);
      assertSignupsStored(ledger, stored);
      for (const family of ledger.families) {
        const row = stored.tokens.get(tokenId(family.acked));
        assert.ok(row, 'acknowledged refresh token stored');
        if (row.used_at === null) continue;
        // only a refresh cut off by the kill may have spent it: its successor is then the live token
        assert.ok(family.unanswered, 'an acknowledged token is spent only by a later refresh');
        const successor = [...stored.tokens.entries()].find(([, t]) => t.parent_id === tokenId(family.acked));
        assert.ok(successor && successor[1].used_at === null, 'the successor of a token spent at the kill is live');
      }
      assert.deepEqual(stored.doubleLive, [], 'no family has two live tokens');
      if (stored.integrity !== null) assert.equal(stored.integrity, 'ok');
      const session = await request(again.url, 'POST', '/api/auth/login', { username: ledger.signups[0], password: PASSWORD });
      assert.equal(session.status, 200, 'an account made before the kill logs in after the restart');

      // a request whose headers never complete: closed at SHUTDOWN_TIMEOUT, then a clean exit
      const stuck = await RawConnection.open(again.url);
      stuck.write(head('GET', '/healthz'));
      await sleep(200);
      again.child.kill('SIGTERM');
      await stuck.closed;
      assert.deepEqual(await again.exited, { code: 0, signal: null }, again.output().slice(-3000));
      assert.match(again.output(), /"forced":[1-9]\d*,"msg":"shutdown complete"/, 'the stuck connection is closed at SHUTDOWN_TIMEOUT');
      console.log(`# kill -9 on ${DIALECT}: ${summary(ledger)}; acknowledged signups found ${ledger.signups.length}/${ledger.signups.length}, 5xx ${ledger.serverErrors.length}`);
    } finally {
      remove();
    }
  });
});
