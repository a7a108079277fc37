/**
 * GET /api/revocations?after=<cursor>&limit=<n>: the ordered revocation feed, for verifiers
 * in other services (bastion/verify) that honour a logout without asking Bastion on every
 * request. Client-authenticated by HTTP Basic (oauth/client-auth.ts). See oauth/feed.ts.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/app-error.ts';
import { authenticateClient } from '../../oauth/client-auth.ts';
import { OAUTH_PATHS } from '../../oauth/discovery.ts';
import { FEED_MAX_LIMIT, readFeed } from '../../oauth/feed.ts';
import type { Services } from '../../services.ts';

const FeedPage = Type.Object({
  revocations: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      kind: Type.Union([Type.Literal('jti'), Type.Literal('session'), Type.Literal('user'), Type.Literal('keys')]),
      subject: Type.String({ description: 'jti | session id (the tokens’ sid) | user or client id (the tokens’ sub) | kid' }),
      not_before: Type.Union([Type.Integer(), Type.Null()], { description: 'kind user: tokens of that sub with iat below this are revoked (seconds)' }),
      expires_at: Type.Integer({ description: 'seconds; after this the entry can be forgotten' }),
    }),
  ),
  cursor: Type.Integer({ description: 'pass as ?after= next time; never goes backwards' }),
  more: Type.Boolean({ description: 'another page is ready now: ask again at once' }),
});

export function revocationFeedRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { store, clock } = services;
  return async (app) => {
    app.get(
      OAUTH_PATHS.revocationFeed,
      {
        schema: {
          tags: ['oauth'],
          summary: 'Revocations in force, in order, after a cursor (0 or absent: all of them); client-authenticated by HTTP Basic',
          querystring: Type.Object(
            {
              after: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
              limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: `1 to ${FEED_MAX_LIMIT} (default)` })),
            },
            { additionalProperties: false },
          ),
          response: { 200: FeedPage },
        },
      },
      async (request, reply) => {
        await authenticateClient(request);
        const limit = request.query.limit === undefined ? FEED_MAX_LIMIT : Number(request.query.limit);
        if (limit < 1 || limit > FEED_MAX_LIMIT) {
          const message = `must be between 1 and ${FEED_MAX_LIMIT}`;
          throw new AppError('validation_failed', `querystring/limit ${message}`, { details: [{ path: 'querystring/limit', message }] });
        }
        reply.header('cache-control', 'no-store');
        return readFeed(store.db, clock.now(), Number(request.query.after ?? 0), limit);
      },
    );
  };
}
