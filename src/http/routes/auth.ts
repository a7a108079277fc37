/** /api/auth/*: sign up, log in, refresh, log out, who am I; and the seed's cookie login. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { FastifyRequest, preValidationAsyncHookHandler } from 'fastify';
import { AppError } from '../../errors/app-error.ts';
import { isAllowedOrigin } from '../plugins/cors.ts';
import type { Services } from '../../services.ts';
import { toPublicUser } from '../../users/service.ts';
import { hasPassword } from '../../users/model.ts';
import { clearSessionCookies, cookieSession, REFRESH_COOKIE } from '../cookies.ts';
import { CookieSession, EmptyBody, LinkedIdentity, LoginBody, PublicUser, RefreshBody, SignupBody, TokenPair as TokenPairSchema } from '../schemas.ts';
import { auditContext, clientInfo, login, tokenBody } from './login.ts';

/** "An empty body is fine": a POST without a body validates as `{}`. */
export const emptyBodyAsObject: preValidationAsyncHookHandler = async (request) => {
  request.body ??= {};
};

const tags = ['auth'];

/** GET /api/auth/me: the user, and how they can log in (issue #11). */
const Me = Type.Intersect([
  PublicUser,
  Type.Object({
    has_password: Type.Boolean({ description: 'false for an account made through a provider until a password is set' }),
    identities: Type.Array(LinkedIdentity),
  }),
]);

/**
 * A refresh driven by the cookie alone cannot carry the CSRF token (the page may have
 * lost it), so it is protected the other ways the OWASP CSRF Cheat Sheet lists: the
 * Origin must be this server or an allowed one, and the body must be JSON, which a
 * cross-site form cannot send without a CORS preflight.
 */
function checkCookieRefresh(request: FastifyRequest, origins: readonly string[]): void {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== `${request.protocol}://${request.host}` && !isAllowedOrigin(origins, origin)) {
    throw new AppError('origin_not_allowed');
  }
  if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
    throw new AppError('csrf_failed', 'A cookie refresh must be sent with Content-Type: application/json');
  }
}

export function authRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { config, users, sessions, clock } = services;

  return async (app) => {
    app.post(
      '/api/auth/signup',
      {
        schema: { tags, summary: 'Create an account', body: SignupBody, response: { 201: PublicUser } },
      },
      async (request, reply) => {
        const user = await users.create(request.body, { enforcePolicy: true }, clientInfo(request));
        services.recovery.sendSignupConfirmation(user, request.log); // after the response; the account works unconfirmed
        return reply.code(201).send(toPublicUser(user));
      },
    );

    app.post(
      '/api/auth/login',
      {
        schema: {
          tags,
          summary: 'Log in with username or email and password',
          body: LoginBody,
          response: { 200: TokenPairSchema },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store'); // RFC 6749 §5.1
        return tokenBody(await login(services, request, request.body, false));
      },
    );

    app.post(
      '/authenticate',
      {
        schema: {
          tags,
          summary: 'Log in and receive the session in HttpOnly cookies (seed 001)',
          body: LoginBody,
          response: { 200: CookieSession },
        },
      },
      async (request, reply) => {
        return cookieSession(reply, await login(services, request, request.body, true), config.cookie, clock.now(), 'Authenticated');
      },
    );

    app.post(
      '/api/auth/refresh',
      {
        preValidation: emptyBodyAsObject,
        schema: {
          tags,
          summary: 'Trade a refresh token (body, or the refresh cookie) for a new pair',
          body: RefreshBody,
          response: { 200: Type.Union([TokenPairSchema, CookieSession]) },
        },
      },
      async (request, reply) => {
        const fromBody = request.body.refresh_token;
        const fromCookie = request.cookies[REFRESH_COOKIE];
        const cookieMode = fromBody === undefined && fromCookie !== undefined;
        if (cookieMode) checkCookieRefresh(request, config.corsOrigins);
        const presented = fromBody ?? fromCookie ?? '';
        reply.header('cache-control', 'no-store');
        const pair = await sessions.refresh(presented, cookieMode, clientInfo(request));
        if (!cookieMode) return tokenBody(pair);
        return cookieSession(reply, pair, config.cookie, clock.now(), 'Refreshed');
      },
    );

    app.post(
      '/api/auth/logout',
      {
        preValidation: emptyBodyAsObject,
        preHandler: app.requireUser,
        schema: { tags, summary: 'End this session and revoke the presented access token', body: EmptyBody },
      },
      async (request, reply) => {
        await sessions.logout(request.auth!, auditContext(request));
        clearSessionCookies(reply, config.cookie);
        return reply.code(204).send();
      },
    );

    app.get(
      '/api/auth/me',
      { preHandler: app.requireUser, schema: { tags, summary: 'The logged-in user, with the provider identities linked to it', response: { 200: Me } } },
      async (request) => {
        const user = await users.get(request.auth!.sub);
        // has_password: an account made through a provider has none until it sets one (reset flow)
        return { ...toPublicUser(user), has_password: hasPassword(user), identities: await services.oidc.identities(user.id) };
      },
    );
  };
}
