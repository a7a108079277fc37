/**
 * argon2id off the event loop, at the lowest CPU priority (ARGON2_NICE, `idle` by default),
 * at most ARGON2_CONCURRENCY at once (OWASP Denial of Service Cheat Sheet: bound the
 * expensive operations). On libuv's pool (4 threads) a login flood would put four hashes on
 * two cores at the loop's own priority, and every other request would wait behind them;
 * here logins queue, and the requests of people already logged in are served first.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ARGON2ID, type Argon2Params } from './hash.ts';

/** ARGON2_NICE: a nice value from 0 to 19, or `idle` (Linux SCHED_IDLE, at nice 19). */
export type HashPriority = number | 'idle';

type HashJob =
  | { readonly op: 'hash'; readonly password: string; readonly params: Argon2Params }
  | { readonly op: 'verify'; readonly phc: string; readonly password: string };

type HashOutcome = { readonly value: string | boolean } | { readonly error: string };

interface Pending {
  readonly job: HashJob;
  resolve(value: string | boolean): void;
  reject(err: Error): void;
}

/**
 * The hashing thread's code. It is a script of its own (evaluated by the Worker) so that
 * the same code runs from dist/ and from the TypeScript sources; it needs nothing but
 * @node-rs/argon2, found from here. It first lowers its own scheduling priority (on Linux,
 * setpriority() and sched_setscheduler() on "this process" or on a thread id apply to that
 * thread only). At nice 19 the kernel still gives a hash about 1.5% of a core the event
 * loop wants, and lets it finish its time slice before the loop's thread, woken by a
 * request, gets the core back (EEVDF). `idle` then moves the thread to SCHED_IDLE with
 * util-linux's chrt (Node has no call for it): a normal thread that wakes takes the core
 * at once. Either way a hash runs at full speed on an idle core; under a login flood,
 * logins slow down, not the requests of people already logged in. Where chrt cannot run,
 * nice 19 stays.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { setPriority } = require('node:os');
const { hashSync, verifySync } = require(${JSON.stringify(createRequire(import.meta.url).resolve('@node-rs/argon2'))});
const nice = workerData.priority === 'idle' ? 19 : workerData.priority;
try { if (nice > 0) setPriority(nice); } catch {}
if (workerData.priority === 'idle' && process.platform === 'linux') {
  try {
    const tid = require('node:fs').readlinkSync('/proc/thread-self').split('/').pop();
    require('node:child_process').execFile('chrt', ['--idle', '--pid', '0', tid], { timeout: 5000 }, () => {});
  } catch {}
}
parentPort.on('message', (job) => {
  let outcome;
  try {
    if (job.op === 'hash') {
      const { memoryCost, timeCost, parallelism } = job.params;
      outcome = { value: hashSync(job.password, { memoryCost, timeCost, parallelism, algorithm: ${ARGON2ID} }) };
    } else {
      let ok = false;
      try { ok = verifySync(job.phc, job.password); } catch {}
      outcome = { value: ok };
    }
  } catch (err) {
    outcome = { error: err instanceof Error ? err.message : 'hashing failed' };
  }
  parentPort.postMessage(outcome);
});
`;

/**
 * A thread with nothing to do for this long is ended. Each holds a V8 isolate and the
 * allocator's arena where argon2id's 19 MiB blocks lived: 20-40 MB of RSS between logins
 * (the next login starts a thread again, about 30 ms).
 */
export const THREAD_IDLE_MS = 10_000;

export class PasswordHasher {
  private readonly idle: Worker[] = [];
  /** when each idle thread is to be ended */
  private readonly retire = new Map<Worker, NodeJS.Timeout>();
  /** every live thread, and the job it is on (null: idle) */
  private readonly workers = new Map<Worker, Pending | null>();
  private readonly queue: Pending[] = [];
  private closed = false;

  constructor(
    private readonly params: Argon2Params,
    private readonly threads: number,
    /** the threads' priority: a nice value, 0 (normal) to 19 (lowest), or idle (SCHED_IDLE) */
    private readonly priority: HashPriority = 'idle',
    private readonly idleMs = THREAD_IDLE_MS,
  ) {}

  hash(password: string): Promise<string> {
    return this.submit({ op: 'hash', password, params: this.params }) as Promise<string>;
  }

  /** False for a wrong password and for a hash that cannot be read. */
  verify(phc: string, password: string): Promise<boolean> {
    return this.submit({ op: 'verify', phc, password }) as Promise<boolean>;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('the password hasher is closed'));
    for (const timer of this.retire.values()) clearTimeout(timer);
    this.retire.clear();
    await Promise.all([...this.workers.keys()].map((w) => w.terminate()));
  }

  private submit(job: HashJob): Promise<string | boolean> {
    if (this.closed) return Promise.reject(new Error('the password hasher is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  /** Hands queued jobs to idle threads, starting threads up to `threads`. */
  private pump(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.workers.size < this.threads ? this.spawn() : null);
      if (!worker) return;
      clearTimeout(this.retire.get(worker));
      this.retire.delete(worker);
      const pending = this.queue.shift()!;
      this.workers.set(worker, pending);
      worker.postMessage(pending.job);
    }
  }

  private spawn(): Worker {
    const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { priority: this.priority } });
    worker.unref(); // an idle hasher never keeps the process alive
    this.workers.set(worker, null);
    worker.on('message', (outcome: HashOutcome) => {
      const pending = this.workers.get(worker);
      this.workers.set(worker, null);
      if ('error' in outcome) pending?.reject(new Error(outcome.error));
      else pending?.resolve(outcome.value);
      this.idle.push(worker);
      this.pump();
      if (this.idle.includes(worker)) this.scheduleRetirement(worker);
    });
    worker.on('error', (err) => this.lose(worker, err));
    worker.on('exit', () => this.lose(worker, new Error('a password-hashing thread stopped')));
    return worker;
  }

  private scheduleRetirement(worker: Worker): void {
    const timer = setTimeout(() => {
      this.retire.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at < 0) return;
      this.idle.splice(at, 1);
      this.workers.delete(worker); // ended on purpose: not a lost thread
      void worker.terminate();
    }, this.idleMs);
    timer.unref();
    this.retire.set(worker, timer);
  }

  /** A thread that died takes its job with it: that one fails, the queue goes on with new threads. */
  private lose(worker: Worker, err: Error): void {
    if (!this.workers.has(worker)) return;
    const pending = this.workers.get(worker);
    this.workers.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    clearTimeout(this.retire.get(worker));
    this.retire.delete(worker);
    pending?.reject(err);
    if (!this.closed) this.pump();
  }
}
