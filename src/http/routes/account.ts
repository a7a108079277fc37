/** The logged-in user's own account: sessions, log out everywhere, password, token check. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { decodeProtectedHeader } from 'jose';
import { AppError } from '../../errors/app-error.ts';
import type { Services } from '../../services.ts';
import { clearSessionCookies } from '../cookies.ts';
import { Password } from '../schemas.ts';
import { emptyBodyAsObject } from './auth.ts';
import { auditContext } from './login.ts';

const tags = ['account'];

const Session = Type.Object({
  id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time' }),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean({ description: 'the session of the token making this request' }),
});

const VerifyResult = Type.Object({
  valid: Type.Boolean(),
  code: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  header: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  claims: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

const iso = (ms: number) => new Date(ms).toISOString();

export function accountRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { config, users, sessions } = services;
  return async (app) => {
    app.get(
      '/api/auth/sessions',
      { preHandler: app.requireUser, schema: { tags, summary: 'My active sessions', response: { 200: Type.Array(Session) } } },
      async (request) =>
        (await sessions.listSessions(request.auth!.sub)).map((f) => ({
          id: f.id,
          created_at: iso(f.created_at),
          last_used_at: iso(f.last_used_at),
          user_agent: f.user_agent,
          ip: f.ip,
          current: f.id === request.auth!.sid,
        })),
    );

    app.delete(
      '/api/auth/sessions/:id',
      {
        preHandler: app.requireUser,
        schema: { tags, summary: 'Log out one of my sessions', params: Type.Object({ id: Type.String({ maxLength: 64 }) }) },
      },
      async (request, reply) => {
        await sessions.revokeSession(request.auth!.sub, request.params.id, auditContext(request));
        if (request.params.id === request.auth!.sid) clearSessionCookies(reply, config.cookie);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/auth/logout-all',
      { preValidation: emptyBodyAsObject, preHandler: app.requireUser, schema: { tags, summary: 'Log out everywhere' } },
      async (request, reply) => {
        await sessions.revokeAll(request.auth!.sub, 'logout_all', auditContext(request));
        clearSessionCookies(reply, config.cookie);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/auth/password',
      {
        preHandler: app.requireFreshAuth,
        schema: {
          tags,
          summary: 'Change my password; every session ends',
          body: Type.Object({ current_password: Password, new_password: Password }, { additionalProperties: false }),
        },
      },
      async (request, reply) => {
        await users.changePassword(request.auth!.sub, request.body.current_password, request.body.new_password, auditContext(request));
        await sessions.revokeAll(request.auth!.sub, 'password_changed', auditContext(request));
        clearSessionCookies(reply, config.cookie);
        return reply.code(204).send();
      },
    );

    app.post(
      '/api/auth/verify',
      {
        schema: {
          tags,
          summary: 'Would this server accept this access token? (for the token inspector)',
          body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false }),
          response: { 200: VerifyResult },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store');
        try {
          const claims = await sessions.verify(request.body.token);
          return { valid: true, header: { ...decodeProtectedHeader(request.body.token) }, claims: { ...claims } };
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          return { valid: false, code: err.code, message: err.message };
        }
      },
    );
  };
}
