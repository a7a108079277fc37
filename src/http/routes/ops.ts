import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import { AppError } from '../../errors/app-error.ts';
import { SHUTTING_DOWN } from '../../server/gate.ts';
import { ping } from '../../storage/db.ts';
import { jwksMaxAgeSec } from '../../oauth/discovery.ts';

const Status = Type.Object({ status: Type.String() });

/** Health for orchestrators and the JWKS for other services. */
export function opsRoutes(services: Services): FastifyPluginAsyncTypebox {
  // how long a cache may hide a new key after a rotation: under half the retired key's overlap (oauth/discovery.ts)
  const jwksMaxAge = jwksMaxAgeSec(services.config.jwt.accessTtlSec + services.config.jwt.leewaySec);
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['ops'], summary: 'The process is alive', response: { 200: Status } } }, async () => ({
      status: 'ok',
    }));
    app.get(
      '/readyz',
      { schema: { tags: ['ops'], summary: 'The database answers and the server is not shutting down (503 not_ready otherwise)', response: { 200: Status } } },
      async (request) => {
        // the drain gate answers first during a shutdown; this holds even if a hook ran late
        if (request.server.drainGate.draining) throw new AppError('not_ready', SHUTTING_DOWN);
        await ping(services.store.db);
        return { status: 'ready' };
      },
    );
    app.get(
      '/.well-known/jwks.json',
      {
        schema: {
          tags: ['ops'],
          summary: 'Public keys that verify access tokens (empty under HS256: a shared secret is never published)',
          response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
        },
      },
      async (_request, reply) => {
        reply.header('cache-control', `public, max-age=${jwksMaxAge}`);
        return services.keys.ring.jwks();
      },
    );
  };
}
