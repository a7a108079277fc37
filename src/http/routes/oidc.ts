/**
 * Log in with an OpenID Connect provider (issue #11):
 *   GET    /api/auth/oidc/providers            [{id, name}] for the login page's buttons
 *   GET    /api/auth/oidc/:id/start            -> 303 to the provider (sets the flow cookie)
 *   GET    /api/auth/oidc/:id/callback         -> 303 to return_to, logged in (cookie mode)
 *   DELETE /api/auth/identities/:identity      unlink (not the last way to log in)
 * start and callback are browser navigations: every failure is a 303 to the web app's
 * login page (/#/login?error=<code>), or for a link flow to the Account page, never a
 * JSON error page, a 500 or a stack trace. The domain lives in src/oidc/.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors/app-error.ts';
import { asOidcError, OidcFailure, safeReturnTo } from '../../oidc/service.ts';
import type { Services } from '../../services.ts';
import { ACCESS_COOKIE, setSessionCookies } from '../cookies.ts';
import { AUTH_WINDOW_MS } from '../plugins/security.ts';
import { auditContext, clientInfo } from './login.ts';

const tags = ['auth'];
/** The flow cookie: only ever sent to these routes. */
export const FLOW_COOKIE = 'bastion_oidc';
const FLOW_PATH = '/api/auth/oidc';

const ProviderParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 32 }) });
const Text = Type.String({ maxLength: 2048 });

/** "/cb?code=abc&state=xyz" -> "/cb?code=…&state=…" */
const withoutQueryValues = (url: string): string => {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const names = url.slice(q + 1).split('&').map((pair) => `${pair.split('=')[0]!.slice(0, 32)}=…`);
  return `${url.slice(0, q)}?${names.join('&')}`;
};

export function oidcRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { config, oidc, sessions, audit, clock } = services;
  const publicUrl = config.mail.publicUrl;
  // start and callback count against the per-IP flood limit of the auth routes (one shared counter)
  const rateLimit = { rateLimit: { max: config.throttle.authRatePerMinute, timeWindow: AUTH_WINDOW_MS } };

  /** The flow cookie (RFC 9700 §2.1: state and PKCE bound to this browser): HttpOnly, Lax so the provider's redirect back carries it. */
  const flowCookie = { path: FLOW_PATH, httpOnly: true, sameSite: 'lax', secure: config.cookie.secure } as const;

  /** A path of this web app, under PUBLIC_URL: the only places these routes send a browser. */
  const goTo = (reply: FastifyReply, path: string) => {
    reply.header('cache-control', 'no-store');
    return reply.redirect(`${publicUrl}${safeReturnTo(path)}`, 303);
  };

  const failTo = (reply: FastifyReply, error: AppError, intent: 'login' | 'link' | null) => {
    reply.clearCookie(FLOW_COOKIE, flowCookie);
    const page = intent === 'link' ? '/account' : '/login';
    return goTo(reply, `/#${page}?error=${encodeURIComponent(error.code)}`);
  };

  const logFailure = (request: FastifyRequest, providerId: string, error: AppError) => {
    const cause = error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}`.slice(0, 300) : undefined;
    // the code and the library's one-line reason; never a token, a secret or the query string
    const level = error.code === 'internal' ? 'error' : 'info';
    request.log[level]({ provider: providerId.slice(0, 32), code: error.code, ...(cause ? { reason: cause } : {}) }, 'oidc login failed');
  };

  /** The session cookie's verified claims, or null: link flows are bound to a session. */
  const sessionOf = async (request: FastifyRequest) => {
    const token = request.cookies[ACCESS_COOKIE];
    if (!token) return null;
    try {
      const claims = await sessions.verify(token);
      return { userId: claims.sub, sessionId: claims.sid ?? null };
    } catch {
      return null;
    }
  };

  return async (app) => {
    app.get(
      '/api/auth/oidc/providers',
      {
        schema: {
          tags,
          summary: 'OpenID Connect providers to log in with (OIDC_PROVIDERS)',
          response: { 200: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })) },
        },
      },
      async () => oidc.providers.list(),
    );

    app.get(
      '/api/auth/oidc/:id/start',
      {
        config: rateLimit,
        schema: {
          tags,
          summary: 'Start logging in (or linking, intent=link) with a provider: 303 to its authorization endpoint',
          description:
            'return_to: a path of the web app (e.g. /#/people); anything else becomes /. Failures redirect to /#/login?error=<code>.',
          params: ProviderParams,
          querystring: Type.Object(
            {
              return_to: Type.Optional(Type.String({ maxLength: 512 })),
              intent: Type.Optional(Type.Union([Type.Literal('login'), Type.Literal('link')])),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const intent = request.query.intent ?? 'login';
        const providerId = request.params.id;
        try {
          let linkTo: { userId: string; sessionId: string | null } | undefined;
          if (intent === 'link') {
            // Linking adds a way into the account the session belongs to: it needs that session.
            const session = await sessionOf(request);
            if (!session) throw new AppError('oidc_link_session_lost');
            linkTo = session;
          }
          const started = await oidc.start({ providerId, returnTo: request.query.return_to, intent, ...(linkTo ? { linkTo } : {}) });
          reply.setCookie(FLOW_COOKIE, started.flowKey, { ...flowCookie, maxAge: started.maxAgeSec });
          reply.header('cache-control', 'no-store');
          return reply.redirect(started.url, 303);
        } catch (err) {
          const error = asOidcError(err);
          logFailure(request, providerId, error);
          await audit.record('oidc_login_failed', { ...auditContext(request), details: { provider: providerId.slice(0, 32), code: error.code, intent, step: 'start' } });
          return failTo(reply, error, intent);
        }
      },
    );

    app.get(
      '/api/auth/oidc/:id/callback',
      {
        config: rateLimit,
        // the query carries the authorization code and state: the request log names the parameters only
        logSerializers: { req: (req: FastifyRequest) => ({ method: req.method, url: withoutQueryValues(req.url) }) },
        schema: {
          tags,
          summary: 'Where the provider sends the browser back (the redirect URI to register): 303 to return_to, logged in',
          params: ProviderParams,
          // the provider's answer (RFC 6749 §4.1.2, RFC 9207); openid-client reads it from the raw query
          querystring: Type.Object(
            {
              code: Type.Optional(Text),
              state: Type.Optional(Text),
              iss: Type.Optional(Text),
              error: Type.Optional(Text),
              error_description: Type.Optional(Text),
            },
            { additionalProperties: Type.Optional(Text) },
          ),
        },
      },
      async (request, reply) => {
        const providerId = request.params.id;
        const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
        const flowKey = request.cookies[FLOW_COOKIE];
        reply.clearCookie(FLOW_COOKIE, flowCookie);
        try {
          const session = await sessionOf(request);
          const result = await oidc.finish({ providerId, flowKey, query, session }, auditContext(request));
          if (result.kind === 'link') return goTo(reply, result.returnTo);
          const client = clientInfo(request);
          const pair = await sessions.start(result.user, client, true);
          await audit.record('login_ok', { ...client, userId: result.user.id, details: { provider: providerId } });
          setSessionCookies(reply, pair, config.cookie, clock.now());
          return goTo(reply, result.returnTo);
        } catch (err) {
          const failure = err instanceof OidcFailure ? err : new OidcFailure(asOidcError(err), null, null);
          if (failure.error.code === 'account_disabled') sessions.noteLogin('disabled');
          logFailure(request, providerId, failure.error);
          return failTo(reply, failure.error, failure.intent);
        }
      },
    );

    app.delete(
      '/api/auth/identities/:identity',
      {
        preHandler: app.requireUser,
        schema: {
          tags: ['account'],
          summary: 'Unlink a provider identity from my account (refused when it is the last way to log in)',
          params: Type.Object({ identity: Type.String({ minLength: 1, maxLength: 64 }) }),
        },
      },
      async (request, reply) => {
        await oidc.unlink(request.auth!.sub, request.params.identity, auditContext(request));
        return reply.code(204).send();
      },
    );
  };
}
