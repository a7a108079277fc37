/**
 * The seed contract (DESIGN.md §3): the routes the three original tutorials call,
 * answering as their clients expect.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import { LoginBody, Message, TokenPair } from '../schemas.ts';
import { login, tokenBody } from './login.ts';

export function seedRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tokenLogin = (summary: string) =>
      ({
        schema: { tags: ['seeds'], summary, body: LoginBody, response: { 200: TokenPair } },
      }) as const;

    // seed 000 (flask-restx + Flask-JWT-Extended)
    app.get(
      '/api/unsecure',
      { schema: { tags: ['seeds'], summary: 'Open data, no token needed', response: { 200: Message } } },
      async () => ({ message: 'This is unsecured data: anyone may read it.' }),
    );
    app.get(
      '/api/secure',
      {
        preHandler: app.requireAuth,
        schema: {
          tags: ['seeds'],
          summary: 'Secured data: needs an access token',
          response: { 200: Type.Object({ message: Type.String(), user_id: Type.String(), roles: Type.Array(Type.String()) }) },
        },
      },
      async (request) => ({
        message: 'This is secured data: only logged-in users see it.',
        user_id: request.auth!.sub,
        roles: [...request.auth!.roles],
      }),
    );
    for (const [url, summary] of [
      ['/api/login', 'Log in (seed 000): {username, password} -> access token'],
      ['/login', 'Log in (seed 001): {email, password} -> access token'],
      ['/auth', 'Log in (seed 002, Flask-JWT): {username, password} -> access token'],
    ] as const) {
      app.post(url, tokenLogin(summary), async (request, reply) => {
        reply.header('cache-control', 'no-store');
        return tokenBody(await login(services, request, request.body, false));
      });
    }

    // seed 001 (Flask-Security roles)
    app.get(
      '/protected',
      { preHandler: app.requireAuth, schema: { tags: ['seeds'], summary: 'Any logged-in user', response: { 200: Message } } },
      async () => ({ message: 'This is a protected endpoint!' }),
    );
    app.get(
      '/admin',
      {
        preHandler: app.requireRoles('admin'),
        schema: { tags: ['seeds'], summary: 'Users with the admin role only', response: { 200: Message } },
      },
      async () => ({ message: 'This is a secured endpoint for users with the admin role only!' }),
    );

    // seed 002 (Flask-RESTful + Flask-JWT: "Authorization: JWT <token>")
    app.get(
      '/mountain/:name',
      {
        preHandler: app.requireAuth,
        schema: {
          tags: ['seeds'],
          summary: 'Echoes the mountain (seed 002)',
          params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }),
          response: { 200: Type.Object({ mountain: Type.String() }) },
        },
      },
      async (request) => ({ mountain: request.params.name }),
    );
  };
}
