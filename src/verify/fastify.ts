/**
 * The Fastify plugin: Bastion's guard for a team's other Fastify services.
 *
 *   await app.register(fastifyVerifier, { issuer: 'https://auth.example.com', clientId, clientSecret });
 *   app.get('/reports', { preHandler: app.requireScopes('reports:read') }, async (request) => request.claims!.sub);
 *
 * Decorates `app.verifier`, `app.requireAuth`, `app.requireScopes(...)` (every scope),
 * `app.requireRoles(...)` (any role) and `request.claims` (the verified claims, or null).
 * The request property is `claims`, not Bastion's own `auth`, so the two guards' types
 * can live in one program. A refusal answers in Bastion's shape, `{code, message}`, with
 * the RFC 6750 challenge (`WWW-Authenticate: Bearer error="invalid_token"`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { VerifyError } from './errors.ts';
import { authorize, errorResponse, type GuardPolicy } from './guard.ts';
import { createVerifier, type AccessTokenClaims, type Verifier, type VerifierOptions } from './verifier.ts';

export type FastifyVerifierOptions = (VerifierOptions | { readonly verifier: Verifier }) & {
  /** the realm of the `WWW-Authenticate` challenge (RFC 6750 §3); default none */
  readonly realm?: string;
};

declare module 'fastify' {
  interface FastifyInstance {
    /** bastion/verify: the verifier the guards use */
    verifier: import('./verifier.ts').Verifier;
    /** preHandler: a valid, unrevoked access token is required */
    requireAuth: preHandlerHookHandler;
    /** preHandler: requireAuth, then at least one of the roles */
    requireRoles(...roles: string[]): preHandlerHookHandler;
    /** preHandler: requireAuth, then every one of the scopes */
    requireScopes(...scopes: string[]): preHandlerHookHandler;
  }
  interface FastifyRequest {
    /** bastion/verify: the verified claims, set by the guards */
    claims: import('./verifier.ts').AccessTokenClaims | null;
  }
}

async function verifierPlugin(app: FastifyInstance, options: FastifyVerifierOptions): Promise<void> {
  const own = !('verifier' in options);
  const verifier = 'verifier' in options ? options.verifier : await createVerifier(options);
  if (own) app.addHook('onClose', async () => verifier.close());
  app.decorate('verifier', verifier);
  app.decorateRequest('claims', null);

  const guard = (policy: GuardPolicy): preHandlerHookHandler =>
    async function bastionGuard(request: FastifyRequest, reply: FastifyReply) {
      let claims: AccessTokenClaims;
      try {
        claims = await authorize(verifier, request.headers.authorization, policy);
      } catch (err) {
        if (!(err instanceof VerifyError)) throw err;
        const { status, headers, body } = errorResponse(err, options.realm, policy);
        return reply.code(status).headers(headers).send(body);
      }
      request.claims = claims;
    };

  app.decorate('requireAuth', guard({}));
  app.decorate('requireRoles', (...roles: string[]) => {
    if (roles.length === 0) throw new TypeError('requireRoles needs at least one role');
    return guard({ roles });
  });
  app.decorate('requireScopes', (...scopes: string[]) => {
    if (scopes.length === 0) throw new TypeError('requireScopes needs at least one scope');
    return guard({ scopes });
  });
}

export const fastifyVerifier = fp(verifierPlugin, { name: 'bastion-verify', fastify: '5.x' });
