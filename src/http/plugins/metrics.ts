import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppError } from '../../errors/app-error.ts';
import { REALM, writeRawError } from '../../errors/http.ts';
import { constantTimeEqual, sha256Hex } from '../../lib/random.ts';
import type { Services } from '../../services.ts';
import type { LoginOutcome, RefreshResult, VerifyResult } from '../../sessions/service.ts';

const LOGIN_OUTCOMES: readonly LoginOutcome[] = ['success', 'invalid_credentials', 'locked', 'mfa_required', 'disabled'];
const VERIFY_RESULTS: readonly VerifyResult[] = ['ok', 'expired', 'invalid', 'revoked'];
const REFRESH_RESULTS: readonly RefreshResult[] = ['rotated', 'resent', 'reused', 'invalid', 'conflict'];

/**
 * Counts kept as plain numbers per label set and handed to prom-client when /metrics is
 * scraped: counting on the request path is one addition, with no label hashing (prom-client
 * hashes the labels on every inc).
 */
class Tally<Labels extends Record<string, string | number>> {
  private readonly counts = new Map<Labels, number>();

  constructor(registry: Registry, name: string, help: string, labelNames: readonly (keyof Labels & string)[]) {
    const counts = this.counts;
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const [labels, n] of counts) {
          this.inc(labels, n);
          counts.set(labels, 0);
        }
      },
    });
  }

  set(labels: Labels, n: number): void {
    this.counts.set(labels, n);
  }

  /** `labels` must be the same object for the same label values (made once, kept). */
  add(labels: Labels): void {
    this.counts.set(labels, (this.counts.get(labels) ?? 0) + 1);
  }
}

/** One label set's bucket counts (cumulative only when exported). */
class Buckets {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i += 1;
    if (i < bounds.length) this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/**
 * A Prometheus histogram whose label sets are made once (`series`) and observed with a
 * bucket search and three additions: prom-client's Histogram validates and hashes the
 * labels on every observation, which on the request path costs more than the route. It
 * is registered as a metric of its own; the exposition format is prom-client's.
 */
class QuickHistogram<Labels extends Record<string, string>> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all: { labels: Labels; buckets: Buckets }[] = [];

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  series(labels: Labels): Buckets {
    const buckets = new Buckets(this.bounds);
    this.all.push({ labels, buckets });
    return buckets;
  }

  reset(): void {
    for (const { buckets } of this.all) {
      buckets.counts.fill(0);
      buckets.sum = 0;
      buckets.count = 0;
    }
  }

  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, buckets } of this.all) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += buckets.counts[i]!;
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: buckets.count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: buckets.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: buckets.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/**
 * A counter with one label whose values are known up front: every series exists at 0 from
 * the start (an alert on rate() needs the series before the first event).
 */
function countBy<const L extends string, V extends string>(registry: Registry, name: string, help: string, label: L, values: readonly V[]) {
  const tally = new Tally<Record<L, V>>(registry, name, help, [label]);
  const labels = new Map(values.map((v) => [v, { [label]: v } as Record<L, V>]));
  for (const l of labels.values()) tally.set(l, 0);
  return (value: V) => tally.add(labels.get(value)!);
}

/**
 * Prometheus metrics at GET /metrics: process and event-loop metrics (prom-client's
 * defaults, e.g. bastion_nodejs_eventloop_lag_p99_seconds), requests by route pattern
 * (never the raw URL: unbounded label values) and status, and what an operator alerts on:
 * login outcomes, access-token verifications, refreshes and reuse detections, revocation
 * lag between instances, the PostgreSQL pool.
 *
 * Kept off the public port by METRICS_TOKEN (a bearer token the scraper sends) and/or
 * METRICS_PORT (/metrics is then served only by a listener of its own on 127.0.0.1, started
 * when the app listens and closed with it; the public port answers 404).
 */
export function registerMetrics(app: FastifyInstance, services: Pick<Services, 'config' | 'revocations' | 'sessions' | 'store'>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bastion_' });
  const requests = new Tally<{ method: string; route: string; status: number }>(registry, 'bastion_http_requests_total', 'HTTP requests by method, route pattern and status', [
    'method',
    'route',
    'status',
  ]);
  const duration = new QuickHistogram(registry, 'bastion_http_request_duration_seconds', 'HTTP request duration by method and route pattern', [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  ]);

  // One outcome for a wrong password and for an unknown account (see LoginOutcome):
  // a scraper must not learn which account names exist.
  const login = countBy(registry, 'bastion_logins_total', 'Login attempts by outcome (success counts completed logins, after the second factor when there is one)', 'outcome', LOGIN_OUTCOMES);
  const verify = countBy(registry, 'bastion_token_verifications_total', 'Access-token verifications by result', 'result', VERIFY_RESULTS);
  const refresh = countBy(registry, 'bastion_refresh_total', 'Refresh-token uses by result (reused: a replay was detected and the session revoked)', 'result', REFRESH_RESULTS);
  services.sessions.observe({ login, verify, refresh });

  const lag = new Histogram({
    name: 'bastion_revocation_lag_seconds',
    help: 'Time from a revocation written by another instance until this one applied it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  services.revocations.observeLag((ms) => lag.observe(Math.max(0, ms) / 1000));
  new Gauge({
    name: 'bastion_db_pool_connections',
    help: 'PostgreSQL pool connections by state (in use, idle, clients waiting for one)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = services.store.pool();
      if (!pool) return;
      this.set({ state: 'in_use' }, pool.total - pool.idle);
      this.set({ state: 'idle' }, pool.idle);
      this.set({ state: 'waiting' }, pool.waiting);
    },
  });

  // Label objects made once per method+route(+status) and reused: no allocation per request.
  type Labels = { method: string; route: string };
  const byRoute = new Map<string, { labels: Labels; durations: Buckets; statuses: Map<number, Labels & { status: number }> }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = request.method + route;
    let entry = byRoute.get(key);
    if (!entry) {
      const labels = { method: request.method, route };
      byRoute.set(key, (entry = { labels, durations: duration.series(labels), statuses: new Map() }));
    }
    let labels = entry.statuses.get(reply.statusCode);
    if (!labels) entry.statuses.set(reply.statusCode, (labels = { ...entry.labels, status: reply.statusCode }));
    requests.add(labels);
    entry.durations.observe(reply.elapsedTime / 1000);
    done();
  });

  const { token, port } = services.config.metrics;
  // compared as hashes: equal lengths, so the comparison leaks neither content nor length
  const tokenHash = token === null ? null : sha256Hex(token);
  const refusal = (authorization: string | undefined): AppError | null => {
    if (tokenHash === null) return null;
    if (authorization === undefined) return new AppError('missing_token');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match && constantTimeEqual(sha256Hex(match[1]!), tokenHash) ? null : new AppError('invalid_token', 'The metrics token is not valid');
  };

  if (port === null) {
    app.get('/metrics', {
      schema: { hide: true },
      preHandler: async (request) => {
        const refused = refusal(request.headers.authorization);
        if (refused) throw refused;
      },
    }, async (_request, reply) => {
      reply.type(registry.contentType).header('cache-control', 'no-store');
      return registry.metrics();
    });
  } else {
    serveSeparately(app, port, registry, refusal);
  }
  return registry;
}

/**
 * METRICS_PORT: /metrics on 127.0.0.1:port only, from when the app listens until it
 * closes. Everything else there is 404; errors in the one shape. A port that cannot be
 * bound is one error line naming METRICS_PORT (the API itself keeps serving).
 */
function serveSeparately(app: FastifyInstance, port: number, registry: Registry, refusal: (authorization: string | undefined) => AppError | null): void {
  let server: Server | null = null;
  let closed = false;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return writeRawError(res, 'not_found');
    const refused = refusal(req.headers.authorization);
    if (refused) {
      res.setHeader('www-authenticate', `Bearer realm="${REALM}"`);
      return writeRawError(res, refused.code, refused.message);
    }
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  app.addHook('onListen', async () => {
    const listener = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        app.log.error({ err }, 'metrics listener: request failed');
        if (!res.headersSent) writeRawError(res, 'internal');
        else res.destroy();
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(port, '127.0.0.1', () => {
          listener.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      app.log.error(`config: METRICS_PORT cannot listen on 127.0.0.1:${port} (${reason}); /metrics is not served`);
      return;
    }
    if (closed) {
      listener.close(); // the app closed while the port was being bound
      return;
    }
    server = listener;
    const bound = (listener.address() as AddressInfo).port;
    app.log.info({ metricsPort: bound }, `metrics listening at http://127.0.0.1:${bound}/metrics`);
  });

  app.addHook('onClose', async () => {
    closed = true;
    const listener = server;
    server = null;
    if (!listener) return;
    await new Promise<void>((resolve) => {
      listener.close(() => resolve());
      listener.closeAllConnections();
    });
  });
}
