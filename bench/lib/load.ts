/**
 * autocannon, driven the same way for every server: same connections and duration, a
 * warm-up first. Servers that are compared run in turn, in rounds (A B A B A B): a burst
 * of noise from elsewhere on a shared machine then lands on all of them alike, and the
 * figure of each is its median round.
 */
import autocannon from 'autocannon';
import { cpuUs } from './servers.ts';

export interface LoadResult {
  /** requests per second: the median round */
  readonly rps: number;
  /** latency percentiles in ms, of the median round */
  readonly p50: number;
  readonly p99: number;
  /** every round's requests per second */
  readonly rounds: number[];
  /** the server's CPU time (user + system) per answered request in µs, median round; when its pid is known */
  readonly cpuUsPerRequest: number | null;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** per request: built by a function (autocannon's setupRequest) */
  readonly requests?: autocannon.Request[];
  /** the server process, to read its CPU time (Linux /proc): less disturbed by a busy machine than req/s */
  readonly pid?: number;
}

interface Round {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuUsPerRequest: number | null;
}

async function once(options: LoadOptions, seconds: number): Promise<Round> {
  const cpuBefore = options.pid === undefined ? 0 : cpuUs(options.pid);
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: seconds,
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.requests ? { requests: options.requests } : {}),
  });
  // a refusal or an error spoils the figure; none answered in time (logins queued behind a
  // busy machine) is a figure of 0
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${options.url}: ${result.non2xx} non-2xx responses, ${result.errors} errors, ${result['2xx']} 2xx`);
  }
  const cpu = options.pid === undefined || result['2xx'] === 0 ? null : (cpuUs(options.pid) - cpuBefore) / result['2xx'];
  return { rps: result['2xx'] / (result.duration || seconds), p50: result.latency.p50, p99: result.latency.p99, cpuUsPerRequest: cpu };
}

const medianRound = (rounds: Round[]): Round => [...rounds].sort((a, b) => a.rps - b.rps)[Math.floor(rounds.length / 2)]!;

export interface Plan {
  /** measured seconds per target, split over the rounds */
  readonly seconds: number;
  readonly warmup: number;
  readonly rounds: number;
}

/** Each target warmed up, then measured in turn, round after round. */
export async function compare<K extends string>(targets: Record<K, LoadOptions>, plan: Plan): Promise<Record<K, LoadResult>> {
  const names = Object.keys(targets) as K[];
  if (plan.warmup > 0) for (const name of names) await once(targets[name], plan.warmup);
  const samples = new Map<K, Round[]>(names.map((n) => [n, []]));
  const perRound = Math.max(0.25, plan.seconds / plan.rounds);
  for (let r = 0; r < plan.rounds; r += 1) {
    for (const name of names) samples.get(name)!.push(await once(targets[name], perRound));
  }
  return Object.fromEntries(
    names.map((name) => {
      const rounds = samples.get(name)!;
      return [name, { ...medianRound(rounds), rounds: rounds.map((x) => Math.round(x.rps)) }];
    }),
  ) as Record<K, LoadResult>;
}

/** One target on its own. */
export async function measure(target: LoadOptions, plan: Plan): Promise<LoadResult> {
  return (await compare({ only: target }, plan)).only;
}

/** Two loads at once (e.g. a login flood beside protected traffic), for `seconds`. */
export async function together(a: LoadOptions, b: LoadOptions, seconds: number): Promise<[Round, Round]> {
  return Promise.all([once(a, seconds), once(b, seconds)]);
}
