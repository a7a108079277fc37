/**
 * WORKERS=N > 1 (issue #9 part 2): this process is the primary of a node:cluster. It sets
 * the database up once (migrations, the first signing key, demo accounts) and closes it,
 * then forks N workers that share the port and nothing else but the database. Each worker
 * is `bastion serve` again (server/shutdown.ts runServer).
 *
 * A worker that exits on its own is replaced after a back-off that doubles with each
 * recent crash; after MAX_CRASHES within CRASH_WINDOW_MS the primary gives up loudly: one
 * fatal line, the other workers drained, exit 1. SIGTERM/SIGINT to the primary drains every
 * worker (each runs its own graceful shutdown) and exits 0 once all have exited cleanly;
 * SIGHUP (a new TLS certificate) is passed on to every worker.
 */
import cluster, { type Worker } from 'node:cluster';
import { hostname } from 'node:os';
import { closeServices, openServices } from '../app.ts';
import type { Config } from '../config/load.ts';
import type { LogLevel } from '../config/schema.ts';
import { onShutdownSignal, type ShutdownSignal } from './shutdown.ts';

export const MAX_CRASHES = 5;
export const CRASH_WINDOW_MS = 60_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** Workers get SHUTDOWN_TIMEOUT to drain, plus this to close their pools and exit. */
const EXIT_GRACE_MS = 5_000;

/** pino's numeric levels: the primary's lines look like the workers' (and Fastify's). */
const LEVEL_VALUES: Record<Exclude<LogLevel, 'silent'>, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export interface PrimaryLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
}

/** One JSON line per event on stdout, in pino's shape, honouring LOG_LEVEL. */
export function primaryLog(level: LogLevel): PrimaryLog {
  const threshold = level === 'silent' ? Infinity : LEVEL_VALUES[level];
  const host = hostname();
  const write = (name: Exclude<LogLevel, 'silent'>) => (obj: object, msg: string) => {
    const value = LEVEL_VALUES[name];
    if (value < threshold) return;
    process.stdout.write(`${JSON.stringify({ level: value, time: Date.now(), pid: process.pid, hostname: host, role: 'primary', ...obj, msg })}\n`);
  };
  return { info: write('info'), warn: write('warn'), fatal: write('fatal') };
}

/** Delay before replacing a worker, given how many crashed within the window (1, 2, …). */
export const backoffMs = (recentCrashes: number): number => Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, recentCrashes - 1));

/**
 * Opens the database the way a worker would (migrations, the signing key made under its
 * lock, demo seeding) and closes it again, so N workers starting together find it ready.
 * A database that cannot be reached stops start-up here, with one line naming DATABASE_URL.
 */
export async function prepareDatabase(config: Config, log: PrimaryLog): Promise<void> {
  const services = await openServices(config, undefined, log);
  await closeServices(services);
}

export async function runPrimary(config: Config): Promise<void> {
  const log = primaryLog(config.logLevel);
  await prepareDatabase(config, log);

  const workers = new Set<Worker>();
  const pendingForks = new Set<NodeJS.Timeout>();
  let crashes: number[] = [];
  /** set once a shutdown begins */
  const stop = { begun: false, failed: false, done: () => {} };
  let listening = 0;

  const fork = () => {
    const worker = cluster.fork();
    workers.add(worker);
  };

  cluster.on('listening', (worker, address) => {
    listening += 1;
    log.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker listening');
    if (listening === config.workers) {
      const host = address.address?.includes(':') ? `[${address.address}]` : (address.address ?? config.host);
      log.info({ workers: config.workers }, `Bastion serving ${config.tls ? 'https' : 'http'}://${host}:${address.port} with ${config.workers} workers`);
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    workers.delete(worker);
    const how = { worker: worker.id, workerPid: worker.process.pid, code, signal };
    if (stop.begun) {
      // a worker killed by the signal before it could install its handlers is fine too
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') {
        stop.failed = true;
        log.warn(how, 'worker did not shut down cleanly');
      }
      if (workers.size === 0) stop.done();
      return;
    }
    const now = Date.now();
    crashes = crashes.filter((t) => now - t < CRASH_WINDOW_MS).concat(now);
    if (crashes.length >= MAX_CRASHES) {
      log.fatal(
        { ...how, crashes: crashes.length, windowSec: CRASH_WINDOW_MS / 1000 },
        `workers keep crashing: ${crashes.length} exits within ${CRASH_WINDOW_MS / 1000} s; giving up`,
      );
      void shutdown('crash loop', 1);
      return;
    }
    const delay = backoffMs(crashes.length);
    log.warn({ ...how, restartInMs: delay }, `worker exited unexpectedly; starting a replacement in ${delay} ms`);
    const timer = setTimeout(() => {
      pendingForks.delete(timer);
      if (!stop.begun) fork();
    }, delay);
    pendingForks.add(timer);
  });

  /** Drains every worker, then exits: `code`, or 1 when a worker did not stop cleanly. */
  const shutdown = async (signal: ShutdownSignal | 'crash loop', code: 0 | 1): Promise<void> => {
    if (stop.begun) return;
    stop.begun = true;
    for (const timer of pendingForks) clearTimeout(timer);
    pendingForks.clear();
    const done = new Promise<void>((resolve) => (stop.done = resolve));
    if (signal !== 'crash loop') log.info({ signal, workers: workers.size }, 'shutting down: draining every worker');
    for (const worker of workers) worker.process.kill(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    if (workers.size === 0) stop.done();
    const hard = setTimeout(() => {
      for (const worker of workers) {
        log.warn({ worker: worker.id, workerPid: worker.process.pid }, 'worker still running after SHUTDOWN_TIMEOUT; killing it');
        stop.failed = true;
        worker.process.kill('SIGKILL');
      }
    }, config.shutdownTimeoutMs + EXIT_GRACE_MS);
    await done;
    clearTimeout(hard);
    if (signal !== 'crash loop') log.info({ failed: stop.failed }, 'shutdown complete');
    process.exit(stop.failed ? 1 : code);
  };

  onShutdownSignal((signal) => void shutdown(signal, 0));
  // TLS_CERT/TLS_KEY: each worker reloads the certificate on SIGHUP (http/tls.ts); the primary passes it on
  if (config.tls) process.on('SIGHUP', () => workers.forEach((worker) => worker.process.kill('SIGHUP')));
  log.info({ workers: config.workers }, `starting ${config.workers} workers`);
  for (let i = 0; i < config.workers; i += 1) fork();
}
