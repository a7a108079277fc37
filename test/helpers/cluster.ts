/**
 * Several real `bastion serve` processes on one PostgreSQL database, each on its own
 * loopback port (issue #8 part 3): a "trio" A, B, C, driven with global fetch, plus
 * `eventually` to time how long an effect made on one instance takes to show on another.
 */
import { createPgDatabase } from './db.ts';
import { request, type Res } from './http.ts';

export { request, type Res };
import { launchServer, type LaunchedServer } from './server.ts';

/** One `bastion serve` process of a trio. */
export type TrioServer = LaunchedServer;


export interface Instance {
  readonly name: string;
  readonly url: string;
  readonly server: TrioServer;
  call(method: string, path: string, body?: unknown, token?: string): Promise<Res>;
  get(path: string, token?: string): Promise<Res>;
  post(path: string, body?: unknown, token?: string): Promise<Res>;
}

export interface Trio {
  readonly a: Instance;
  readonly b: Instance;
  readonly c: Instance;
  readonly all: readonly [Instance, Instance, Instance];
  readonly databaseUrl: string;
  /** every instance but `one` */
  others(one: Instance): Instance[];
  stop(): Promise<void>;
}


function instance(name: string, server: TrioServer): Instance {
  const call = (method: string, path: string, body?: unknown, token?: string) => request(server.url, method, path, body, token);
  return {
    name,
    url: server.url,
    server,
    call,
    get: (path, token) => call('GET', path, undefined, token),
    post: (path, body, token) => call('POST', path, body, token),
  };
}

/**
 * Three servers sharing one new PostgreSQL database (or `env.DATABASE_URL`). A starts
 * first and sets the database up (migrations, first signing key, `--demo` accounts); B and
 * C then start together, which keeps the load of nine tsx processes down on a small
 * machine (simultaneous starts are tested in test/postgres/database.test.ts).
 */
export async function startTrio(env: Record<string, string> = {}, args: string[] = []): Promise<Trio> {
  const databaseUrl = env['DATABASE_URL'] ?? createPgDatabase();
  const start = () => launchServer({ ...env, DATABASE_URL: databaseUrl }, args);
  const first = await start();
  const rest = await Promise.allSettled([start(), start()]);
  const servers = [first, ...rest.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))];
  const failed = rest.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failed.reason;
  }
  const [a, b, c] = (['A', 'B', 'C'] as const).map((name, i) => instance(name, servers[i]!)) as [Instance, Instance, Instance];
  const all = [a, b, c] as const;
  return {
    a,
    b,
    c,
    all,
    databaseUrl,
    others: (one) => all.filter((i) => i !== one),
    stop: async () => {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` about every 10 ms until it returns true; resolves with the milliseconds
 * from the call to the end of the first check that passed. Anything else `check` returns
 * describes the state seen, for the error thrown when `ms` passes first.
 */
export async function eventually(check: () => Promise<true | string>, ms = 1000, what = 'condition'): Promise<number> {
  const start = performance.now();
  let last = '';
  for (;;) {
    const result = await check();
    const elapsed = performance.now() - start;
    if (result === true) {
      if (elapsed > ms) throw new Error(`${what}: seen only after ${Math.round(elapsed)} ms (limit ${ms} ms)`);
      return elapsed;
    }
    last = result;
    if (elapsed > ms) throw new Error(`${what}: not seen within ${ms} ms; last seen: ${last}`);
    await sleep(10);
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
