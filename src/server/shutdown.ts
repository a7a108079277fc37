/**
 * One server process, single or a cluster worker, from start to a graceful stop (issue #9
 * part 3). On SIGTERM or SIGINT:
 *
 *   1. the drain gate closes (server/gate.ts): /readyz and every new request answer 503
 *      not_ready with `Connection: close`, and responses in flight carry it too;
 *   2. the listener closes (new connections are refused); kept-alive sockets get a short
 *      grace (a request sent on one meanwhile is answered 503, not cut off), then idle ones
 *      are closed, now and as the requests in flight finish;
 *   3. requests in flight get SHUTDOWN_TIMEOUT to finish; connections still open then are
 *      closed;
 *   4. the app's onClose hooks close the services (the database pool), and the process
 *      exits with code 0.
 *
 * One log line when the shutdown starts, one when it is done.
 */
import cluster from 'node:cluster';
import { Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.ts';
import type { Config } from '../config/load.ts';

/** Sockets that turn idle during the drain are closed this often (their last response said `Connection: close`). */
const REAP_EVERY_MS = 200;
/**
 * Kept-alive sockets stay open this long after the drain begins (less if every connection
 * is gone sooner): a client that sends on one meanwhile gets 503 and `Connection: close`,
 * not a socket closed under a request it has just written.
 */
const KEEP_ALIVE_GRACE_MS = 1_000;
const POLL_MS = 25;

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];

/**
 * Calls `handler` on the first SIGTERM or SIGINT; later ones are ignored (a terminal's
 * Ctrl-C reaches a cluster's workers directly as well as through the primary).
 */
export function onShutdownSignal(handler: (signal: ShutdownSignal) => void): void {
  let seen = false;
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      if (seen) return;
      seen = true;
      handler(signal);
    });
  }
}

export interface DrainResult {
  /** connections still open at SHUTDOWN_TIMEOUT, closed without their response */
  readonly forced: number;
  readonly ms: number;
}

/** Steps 1 to 4 above, short of exiting. */
export async function drain(app: FastifyInstance, timeoutMs: number, signal: string): Promise<DrainResult> {
  const started = performance.now();
  app.drainGate.close();
  app.log.info({ signal, timeoutMs }, 'shutting down: refusing new requests, waiting for those in flight');
  const server = app.server;
  const connections = () => new Promise<number>((resolve) => server.getConnections((err, count) => resolve(err ? 0 : count)));
  let forced = 0;
  const deadline = setTimeout(() => {
    void connections().then((count) => {
      forced = count;
      if (count > 0) app.log.warn({ connections: count, timeoutMs }, 'shutdown: requests still in flight at SHUTDOWN_TIMEOUT; closing their connections');
      server.closeAllConnections();
    });
  }, timeoutMs);
  // Stop accepting: net.Server's close, which (unlike http's) leaves kept-alive sockets open.
  Server.prototype.close.call(server);
  const graceEnd = started + Math.min(KEEP_ALIVE_GRACE_MS, timeoutMs);
  while (performance.now() < graceEnd && (await connections()) > 0) await sleep(POLL_MS);
  const reaper = setInterval(() => server.closeIdleConnections(), REAP_EVERY_MS);
  try {
    await app.close(); // closes idle sockets, waits for the others, then closes the services
  } finally {
    clearInterval(reaper);
    clearTimeout(deadline);
  }
  const ms = Math.round(performance.now() - started);
  app.log.info({ ms, forced }, 'shutdown complete');
  return { forced, ms };
}

/**
 * `bastion serve` in this process: builds the app, listens, and drains on the first
 * SIGTERM/SIGINT, then exits 0 (1 if closing failed). A signal during start-up stops the
 * process as soon as the app is built.
 */
export async function runServer(config: Config): Promise<void> {
  let app: FastifyInstance | null = null;
  let requested: ShutdownSignal | null = null;
  let stopping = false;
  const stop = (running: FastifyInstance, signal: ShutdownSignal) => {
    stopping = true;
    drain(running, config.shutdownTimeoutMs, signal).then(
      () => process.exit(0),
      (err: unknown) => {
        running.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  onShutdownSignal((signal) => (app ? stop(app, signal) : (requested = signal)));
  try {
    app = await buildApp(config);
  } catch (err) {
    // a worker's IPC channel would keep it alive: let it exit with the error (main prints it)
    if (cluster.isWorker) cluster.worker?.disconnect();
    throw err;
  }
  if (requested) return stop(app, requested);
  let address: string;
  try {
    address = await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    if (stopping) return;
    await app.close().catch(() => undefined);
    if (cluster.isWorker) cluster.worker?.disconnect();
    throw err;
  }
  const role = cluster.isWorker ? `worker ${cluster.worker?.id ?? '?'} ` : '';
  app.log.info(`Bastion ${role}${config.demo ? '(demo data) ' : ''}serving ${address} — docs at ${address}/docs`);
}
