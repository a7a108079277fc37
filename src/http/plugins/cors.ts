import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/**
 * CORS for an allowlist of exact origins, with credentials (seed 001). A request from any
 * other origin, including `Origin: null` unless listed, gets no CORS headers at all, so
 * the browser refuses to hand the response to the page.
 */
export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  const allowed = new Set(origins);
  await app.register(cors, {
    origin: (origin, cb) => cb(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization', 'X-CSRF-Token'],
    exposedHeaders: ['WWW-Authenticate', 'Retry-After'],
    maxAge: 600,
    strictPreflight: true,
  });
}
