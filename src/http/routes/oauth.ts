/**
 * /oauth/*: the token endpoint for machine clients (RFC 6749 §4.4), introspection (RFC
 * 7662) and revocation (RFC 7009). These speak OAuth, not Bastion's JSON API: parameters
 * come form-encoded (RFC 6749 §3.2, Appendix B), and errors leave in RFC 6749 §5.2 form,
 * `{error, error_description}` (route config `oauthErrors`, rendered by errors/http.ts).
 * Every request is client-authenticated (oauth/client-auth.ts).
 */
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { preValidationHookHandler } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors/app-error.ts';
import { authenticateClient } from '../../oauth/client-auth.ts';
import { OAUTH_PATHS } from '../../oauth/discovery.ts';
import type { Services } from '../../services.ts';
import { AUTH_WINDOW_MS } from '../plugins/security.ts';
import { auditContext } from './login.ts';

const tags = ['oauth'];
const FORM = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/** Client authentication in the form (client_secret_post); HTTP Basic is the other way. */
const ClientParams = {
  client_id: Type.Optional(Type.String({ maxLength: 512 })),
  client_secret: Type.Optional(Type.String({ maxLength: 512 })),
};

/** RFC 6749 §3.2: unrecognized parameters are ignored, so other members are allowed. */
const TokenRequest = Type.Object(
  {
    grant_type: Type.String({ minLength: 1, maxLength: 128, description: 'client_credentials' }),
    scope: Type.Optional(Type.String({ maxLength: 4096, description: 'space-separated; a subset of the client’s scopes (default: all of them)' })),
    ...ClientParams,
  },
  { additionalProperties: true },
);

const TokenParameter = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 8192 }),
    token_type_hint: Type.Optional(Type.String({ maxLength: 64, description: 'access_token or refresh_token (not needed: the kind shows in the token)' })),
    ...ClientParams,
  },
  { additionalProperties: true },
);

const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'seconds' }),
  scope: Type.Optional(Type.String()),
});

const IntrospectionResponse = Type.Object({
  active: Type.Boolean(),
  sub: Type.Optional(Type.String()),
  iss: Type.Optional(Type.String()),
  aud: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  jti: Type.Optional(Type.String()),
  token_type: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  roles: Type.Optional(Type.Array(Type.String())),
  sid: Type.Optional(Type.String()),
  auth_time: Type.Optional(Type.Integer()),
});

/** RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were omitted". */
const dropEmptyParameters: preValidationHookHandler = (request, _reply, done) => {
  const body = request.body as Record<string, unknown> | null | undefined;
  if (body && typeof body === 'object') for (const [name, value] of Object.entries(body)) if (value === '') delete body[name];
  done();
};

export function oauthRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { oauth, config } = services;
  return async (app) => {
    // the form parser for these routes only (the rest of the API takes JSON)
    await app.register(formbody, { bodyLimit: config.bodyLimit });
    app.addHook('onRequest', (request, _reply, done) => {
      const type = request.headers['content-type'];
      const refused = type !== undefined && !FORM.test(type);
      done(refused ? new AppError('invalid_request', 'Send the parameters as application/x-www-form-urlencoded (RFC 6749 section 3.2)') : undefined);
    });
    app.addHook('preValidation', dropEmptyParameters);

    app.post(
      OAUTH_PATHS.token,
      {
        // minting tokens: the same per-IP flood limit as the login routes, on the same counter
        config: { oauthErrors: true, rateLimit: { max: config.throttle.authRatePerMinute, timeWindow: AUTH_WINDOW_MS } },
        schema: {
          tags,
          summary: 'An access token for a machine client (client_credentials, RFC 6749 §4.4); client authentication by HTTP Basic or form',
          consumes: ['application/x-www-form-urlencoded'],
          body: TokenRequest,
          response: { 200: TokenResponse },
        },
      },
      async (request, reply) => {
        const client = await authenticateClient(request);
        if (request.body.grant_type !== 'client_credentials') throw new AppError('unsupported_grant_type');
        const issued = await oauth.issueClientToken(client, request.body.scope, auditContext(request));
        // RFC 6749 §5.1
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        return issued;
      },
    );

    app.post(
      OAUTH_PATHS.introspection,
      {
        config: { oauthErrors: true },
        schema: {
          tags,
          summary: 'Is this token active, and its claims (RFC 7662); client-authenticated',
          consumes: ['application/x-www-form-urlencoded'],
          body: TokenParameter,
          response: { 200: IntrospectionResponse },
        },
      },
      async (request, reply) => {
        await authenticateClient(request);
        reply.header('cache-control', 'no-store');
        return oauth.introspect(request.body.token);
      },
    );

    app.post(
      OAUTH_PATHS.revocation,
      {
        config: { oauthErrors: true },
        schema: {
          tags,
          summary: 'Revoke a refresh token (its whole session) or an access token (RFC 7009); 200 also for unknown tokens',
          consumes: ['application/x-www-form-urlencoded'],
          body: TokenParameter,
        },
      },
      async (request, reply) => {
        const client = await authenticateClient(request);
        await oauth.revoke(client, request.body.token, auditContext(request));
        return reply.code(200).header('cache-control', 'no-store').send();
      },
    );
  };
}
