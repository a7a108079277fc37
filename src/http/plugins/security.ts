import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';

/** Routes that take credentials or mint tokens: the targets of guessing and flooding. */
export const AUTH_WINDOW_MS = 60_000;
const AUTH_ROUTE = /^\/(api\/auth\/|authenticate|api\/login$|login$|auth$)/;

/**
 * Security headers (OWASP Secure Headers; the CSP allows only this origin's scripts, which
 * the built front end and Swagger UI both are) and a generic per-IP request limit on auth
 * routes, shared by every instance. The per-account lockout lives in throttle/login.ts;
 * this only blunts floods.
 */
export async function registerSecurity(app: FastifyInstance, authPerMinute: number, store: FastifyRateLimitStoreCtor): Promise<void> {
  await app.register(helmet, {
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
  });

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
