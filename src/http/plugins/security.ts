import type { IncomingMessage, ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import helmet from 'helmet';
import { REQUEST_ID_HEADER } from '../logging.ts';

/** Routes that take credentials or mint tokens: the targets of guessing and flooding. */
export const AUTH_WINDOW_MS = 60_000;
const AUTH_ROUTE = /^\/(api\/auth\/|authenticate|api\/login$|login$|auth$)/;

/**
 * The security headers every response carries (OWASP Secure Headers; the CSP allows only
 * this origin's scripts, which the built front end and Swagger UI both are), as helmet
 * decides them, worked out once: helmet's middleware is run against a recording response
 * at start-up instead of on every request (it would rebuild the same strings each time).
 */
export function securityHeaders(): ReadonlyArray<readonly [string, string]> {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: string) => void headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => void headers.delete(name.toLowerCase()),
  };
  helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'base-uri': ["'self'"],
        'connect-src': ["'self'"],
        'font-src': ["'self'", 'data:'],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        'img-src': ["'self'", 'data:'],
        'object-src': ["'none'"],
        'script-src': ["'self'"],
        // Swagger UI sets style attributes from its bundle; no user data reaches styles
        'style-src': ["'self'", "'unsafe-inline'"],
      },
    },
    // API responses are read cross-origin through CORS by allowed front ends
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  })({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
  });
  return [...headers];
}

/**
 * Security headers and the request id on every response (errors, 404s, 429s and the
 * drain gate's 503s too: this is the first hook), in one callback hook: no promise and no
 * per-request work beyond copying the prepared values. Returns the function that does it,
 * for the answers Fastify gives before any hook runs (bad URLs).
 */
export function installResponseHeaders(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => void {
  const headers = securityHeaders();
  const apply = (request: FastifyRequest, reply: FastifyReply) => {
    for (const [name, value] of headers) reply.header(name, value);
    reply.header(REQUEST_ID_HEADER, request.id);
  };
  app.addHook('onRequest', (request, reply, done) => {
    apply(request, reply);
    done();
  });
  return apply;
}

/**
 * A generic per-IP request limit on auth routes, shared by every instance. The
 * per-account lockout lives in throttle/login.ts; this only blunts floods.
 */
export async function registerAuthRateLimit(app: FastifyInstance, authPerMinute: number, store: FastifyRateLimitStoreCtor): Promise<void> {
  // Must run before the rate-limit plugin's own onRoute hook reads the route config.
  app.addHook('onRoute', (route) => {
    const methods = ([] as string[]).concat(route.method);
    if (!methods.includes('POST') || !AUTH_ROUTE.test(route.url)) return;
    const config = (route.config ?? {}) as Record<string, unknown>;
    // one counter per client IP for every auth route, in the database (throttle/rate-limit-store.ts)
    const limit = { max: authPerMinute, timeWindow: AUTH_WINDOW_MS };
    route.config = { ...config, rateLimit: config['rateLimit'] ?? limit } as typeof route.config;
  });
  await app.register(rateLimit, { global: false, store });
}
