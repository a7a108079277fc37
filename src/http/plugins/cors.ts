import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * CORS for an allowlist of exact origins, with credentials (seed 001). A request from any
 * other origin, including `Origin: null` unless listed, gets no CORS headers at all, so
 * the browser refuses to hand the response to the page.
 */
export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  await app.register(cors, {
    origin: (origin, cb) => cb(null, isAllowedOrigin(origins, origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization', 'X-CSRF-Token'],
    exposedHeaders: ['WWW-Authenticate', 'Retry-After'],
    maxAge: 600,
    // A plain OPTIONS (no Access-Control-Request-Method) is not a preflight: let it through.
    strictPreflight: false,
  });
}

export const isAllowedOrigin = (origins: readonly string[], origin: string | undefined): origin is string =>
  origin !== undefined && origins.includes(origin);

/** For answers Fastify gives before any hook runs (bad URLs): the page on an allowed origin can still read them. */
export function addCorsHeaders(reply: FastifyReply, origins: readonly string[], origin: string | undefined): void {
  if (!isAllowedOrigin(origins, origin)) return;
  reply.header('access-control-allow-origin', origin).header('access-control-allow-credentials', 'true').header('vary', 'Origin');
}
