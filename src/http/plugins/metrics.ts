import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Services } from '../../services.ts';

/**
 * Prometheus metrics at GET /metrics: process and event-loop metrics, and requests by
 * route pattern (never the raw URL: unbounded label values) and status. Meant for the
 * operator's scraper; keep the path off the public internet at the proxy.
 */
export function registerMetrics(app: FastifyInstance, services: Pick<Services, 'revocations' | 'store'>): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bastion_' });
  const requests = new Counter({
    name: 'bastion_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'bastion_http_request_duration_seconds',
    help: 'HTTP request duration by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

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

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: reply.statusCode });
    duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
  return registry;
}
