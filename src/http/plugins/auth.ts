/**
 * The guard, as a Fastify plugin usable by Bastion's routes and by routes a team adds:
 *
 *   app.get('/reports', { preHandler: app.requireAuth }, handler)
 *   app.get('/admin', { preHandler: app.requireRoles('admin') }, handler)
 *   app.get('/reports', { preHandler: app.requireScopes('reports:read') }, handler)
 *
 * Steps (DESIGN.md §2): extract the token (Authorization "Bearer"/"JWT", or the jwt
 * cookie) -> verify (signature, alg, iss, aud, typ, exp) -> revocation -> CSRF when the
 * token came from a cookie and the method is unsafe -> roles, or scopes. A machine client's
 * token (client credentials, issue #12) passes requireAuth and requireScopes, never
 * requireRoles (it has no roles), requireUser or requireFreshAuth. With LEGACY_JWT_* set,
 * a token not typed as Bastion's (at+jwt) is verified as the old Flask app's instead and
 * stands for the imported account it names (sessions/legacy.ts, issue #12).
 */
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../errors/app-error.ts';
import { toSeconds, type Clock } from '../../lib/clock.ts';
import { constantTimeEqual } from '../../lib/random.ts';
import type { LegacyTokens } from '../../sessions/legacy.ts';
import type { SessionService } from '../../sessions/service.ts';
import { isScopeToken } from '../../oauth/scopes.ts';
import { isClientToken, scopesOf, type AccessClaims } from '../../tokens/claims.ts';
import { ACCESS_COOKIE } from '../cookies.ts';
import { ErrorBody } from '../schemas.ts';

export type TokenSource = 'header' | 'cookie';

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: a valid, unrevoked access token is required */
    requireAuth: preHandlerHookHandler;
    /** preHandler: requireAuth, then at least one of the roles */
    requireRoles(...roles: string[]): preHandlerHookHandler;
    /** preHandler: requireUser, and the password was proved within FRESH_LOGIN_WINDOW (FJE's fresh tokens) */
    requireFreshAuth: preHandlerHookHandler;
    /** preHandler: requireAuth, and a user's token, not a machine client's (routes about "my" account) */
    requireUser: preHandlerHookHandler;
    /** preHandler: requireAuth, and every listed scope in the token's `scope` (RFC 6750 §3.1: 403 insufficient_scope) */
    requireScopes(...scopes: string[]): preHandlerHookHandler;
  }
  interface FastifyRequest {
    /** the verified claims, set by requireAuth */
    auth: AccessClaims | null;
    authSource: TokenSource | null;
  }
}

/** Marks guard functions, so the OpenAPI document can show the padlock on their routes. */
const GUARD = Symbol('bastion.guard');
const SCHEMES = /^(Bearer|JWT)\s+(\S+)\s*$/i;
const BARE_JWT = /^[\w-]+\.[\w-]+\.[\w-]*$/;
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const SECURITY_SCHEME = 'jsonWebToken';

/** The header wins over the cookie: a header-borne token needs no CSRF check. */
export function extractToken(request: FastifyRequest): { token: string; source: TokenSource } {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = SCHEMES.exec(header);
    if (match) return { token: match[2]!, source: 'header' };
    // Swagger UI users sometimes paste the bare token (seed 000: "or the token").
    if (BARE_JWT.test(header.trim())) return { token: header.trim(), source: 'header' };
    throw new AppError('invalid_token', 'The Authorization header must use the Bearer scheme');
  }
  const cookie = request.cookies[ACCESS_COOKIE];
  if (cookie) return { token: cookie, source: 'cookie' };
  throw new AppError('missing_token');
}

function checkCsrf(request: FastifyRequest, claims: AccessClaims): void {
  const sent = request.headers['x-csrf-token'];
  if (typeof sent !== 'string' || !claims.csrf || !constantTimeEqual(sent, claims.csrf)) throw new AppError('csrf_failed');
}

interface AuthOptions {
  readonly sessions: SessionService;
  readonly freshLoginSec: number;
  readonly clock: Clock;
  /** LEGACY_JWT_*: an old Flask app's tokens, for imported accounts, until the cut-over date (null: off) */
  readonly legacy?: LegacyTokens | null;
}

async function authPlugin(app: FastifyInstance, opts: AuthOptions): Promise<void> {
  app.decorateRequest('auth', null);
  app.decorateRequest('authSource', null);

  /**
   * The request's claims: at once when the token is in the verified cache (no promise on
   * the hot path), else once its signature is checked. Throws or rejects with an AppError.
   */
  const authenticate = (request: FastifyRequest): AccessClaims | Promise<AccessClaims> => {
    const { token, source } = extractToken(request);
    const settle = (claims: AccessClaims): AccessClaims => {
      if (source === 'cookie' && UNSAFE.has(request.method)) checkCsrf(request, claims);
      request.auth = claims;
      request.authSource = source;
      return claims;
    };
    const cached = opts.sessions.verifyCached(token);
    if (cached) return settle(cached);
    // a cache miss: a token not typed as Bastion's own (at+jwt) may be the old app's (issue #12)
    if (opts.legacy?.accepts(token)) {
      return opts.legacy.verify(token, { ip: request.ip ?? null, userAgent: request.headers['user-agent']?.slice(0, 512) ?? null }).then(settle);
    }
    return opts.sessions.verifySignature(token).then(settle);
  };

  /** A guard: authentication, then `check` on the claims; callback style, so a cached token costs no promise. */
  const guard = (check: (request: FastifyRequest, claims: AccessClaims) => void): preHandlerHookHandler => {
    const handler: preHandlerHookHandler = (request, _reply, done) => {
      let result: AccessClaims | Promise<AccessClaims>;
      try {
        result = authenticate(request);
        if (!(result instanceof Promise)) check(request, result);
      } catch (err) {
        return done(err as Error);
      }
      // `done` outside the try: whatever runs after the guard never lands in its catch
      if (!(result instanceof Promise)) return done();
      result.then((claims) => {
        let refused: Error | undefined;
        try {
          check(request, claims);
        } catch (err) {
          refused = err as Error;
        }
        done(refused);
      }, done);
    };
    return Object.assign(handler, { [GUARD]: true });
  };

  const requireAuth = guard(() => undefined);

  const requireRoles = (...roles: string[]): preHandlerHookHandler => {
    if (roles.length === 0) throw new TypeError('requireRoles needs at least one role');
    return guard((_request, claims) => {
      if (!claims.roles.some((r) => roles.includes(r))) throw new AppError('forbidden');
    });
  };

  /** A machine client is not a user: it has no account, sessions or password (issue #12). */
  const userOnly = (claims: AccessClaims): void => {
    if (isClientToken(claims)) throw new AppError('user_token_required');
  };

  const requireUser = guard((_request, claims) => userOnly(claims));

  const requireScopes = (...scopes: string[]): preHandlerHookHandler => {
    if (scopes.length === 0 || !scopes.every(isScopeToken)) throw new TypeError('requireScopes needs one or more scope tokens (RFC 6749 §3.3)');
    const needed = scopes.join(' ');
    return guard((_request, claims) => {
      const granted = scopesOf(claims);
      if (!scopes.every((s) => granted.includes(s))) throw new AppError('insufficient_scope', undefined, { details: { scope: needed } });
    });
  };

  const requireFreshAuth = guard((_request, claims) => {
    userOnly(claims);
    const authTime = claims.auth_time;
    if (authTime === undefined || toSeconds(opts.clock.now()) - authTime > opts.freshLoginSec) {
      throw new AppError('fresh_login_required');
    }
  });

  app.decorate('requireAuth', requireAuth);
  app.decorate('requireRoles', requireRoles);
  app.decorate('requireFreshAuth', requireFreshAuth);
  app.decorate('requireUser', requireUser);
  app.decorate('requireScopes', requireScopes);

  // Guarded routes get the padlock in OpenAPI without each route saying so.
  app.addHook('onRoute', (route) => {
    const handlers = ([] as unknown[]).concat(route.preHandler ?? []);
    if (!handlers.some((h) => typeof h === 'function' && GUARD in h)) return;
    const response = (route.schema?.response ?? {}) as Record<string, unknown>;
    route.schema = {
      ...route.schema,
      security: route.schema?.security ?? [{ [SECURITY_SCHEME]: [] }],
      response: { 401: ErrorBody, 403: ErrorBody, ...response },
    };
  });
}

export default fp(authPlugin, { fastify: '5.x', name: 'bastion-auth', dependencies: ['@fastify/cookie'] });
