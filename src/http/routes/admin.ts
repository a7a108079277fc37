/** /api/admin/*: user administration, role admin only. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/app-error.ts';
import type { Services } from '../../services.ts';
import { toPublicUser } from '../../users/service.ts';
import { PublicUser } from '../schemas.ts';
import { auditContext } from './login.ts';

const tags = ['admin'];
const UserId = Type.Object({ id: Type.String({ maxLength: 64 }) });
const AdminUser = Type.Object({ ...PublicUser.properties, sessions: Type.Integer({ description: 'active sessions' }) });

const KeyInfo = Type.Object({
  kid: Type.String(),
  alg: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('verifying'), Type.Literal('retired')]),
  created_at: Type.Union([Type.String(), Type.Null()]),
  retired_at: Type.Union([Type.String(), Type.Null()]),
  verify_until: Type.Union([Type.String(), Type.Null()]),
});

const AuditEvent = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  type: Type.String(),
  user_id: Type.Union([Type.String(), Type.Null()]),
  actor_id: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

export function adminRoutes(services: Services): FastifyPluginAsyncTypebox {
  const { users, sessions, keys, audit } = services;
  return async (app) => {
    const admin = app.requireRoles('admin');
    /** An admin cannot lock themselves out (the last way back in would be the CLI). */
    const notSelf = (actor: string, target: string) => {
      if (actor === target) throw new AppError('self_lockout');
    };

    app.get(
      '/api/admin/users',
      { preHandler: admin, schema: { tags, summary: 'Every user, with active session counts', response: { 200: Type.Array(AdminUser) } } },
      async () => {
        const counts = await sessions.countSessions();
        return (await users.list()).map((u) => ({ ...toPublicUser(u), sessions: counts.get(u.id) ?? 0 }));
      },
    );

    app.post(
      '/api/admin/users/:id/roles',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: "Add a role (the user's tokens are revoked; they pick up the role on refresh)",
          params: UserId,
          body: Type.Object({ role: Type.String({ minLength: 1, maxLength: 32 }) }, { additionalProperties: false }),
          response: { 200: PublicUser },
        },
      },
      async (request) =>
        toPublicUser(await users.changeRole((await users.get(request.params.id)).id, 'add', request.body.role, auditContext(request))),
    );

    app.delete(
      '/api/admin/users/:id/roles/:role',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Remove a role',
          params: Type.Object({ id: Type.String({ maxLength: 64 }), role: Type.String({ maxLength: 32 }) }),
          response: { 200: PublicUser },
        },
      },
      async (request) => {
        if (request.params.role === 'admin') notSelf(request.auth!.sub, request.params.id);
        return toPublicUser(await users.changeRole((await users.get(request.params.id)).id, 'remove', request.params.role, auditContext(request)));
      },
    );

    for (const action of ['disable', 'enable'] as const) {
      app.post(
        `/api/admin/users/:id/${action}`,
        {
          preHandler: admin,
          schema: {
            tags,
            summary: action === 'disable' ? 'Disable a user and end all their sessions' : 'Enable a user',
            params: UserId,
            response: { 200: PublicUser },
          },
        },
        async (request) => {
          if (action === 'disable') notSelf(request.auth!.sub, request.params.id);
          const user = await users.setDisabled(request.params.id, action === 'disable', auditContext(request));
          if (action === 'disable') await sessions.revokeAll(user.id, 'disabled', auditContext(request));
          return toPublicUser(user);
        },
      );
    }

    app.get(
      '/api/admin/keys',
      { preHandler: admin, schema: { tags, summary: 'Signing keys and their state', response: { 200: Type.Array(KeyInfo) } } },
      async () => keys.list(),
    );

    app.post(
      '/api/admin/keys/rotate',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Make a new signing key active; the old one verifies until its tokens expire',
          response: { 200: Type.Object({ kid: Type.String() }) },
        },
      },
      async (request) => {
        const key = await keys.rotate();
        await audit.record('key_rotation', { ...auditContext(request), details: { kid: key.kid } });
        return { kid: key.kid };
      },
    );

    app.get(
      '/api/admin/audit',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: 'Security events, newest first; page with `before` = the last id of the previous page',
          querystring: Type.Object(
            {
              limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })),
              before: Type.Optional(Type.String({ maxLength: 64 })),
              user_id: Type.Optional(Type.String({ maxLength: 64 })),
              type: Type.Optional(Type.String({ maxLength: 64 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ events: Type.Array(AuditEvent), next: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => {
        const limit = Math.min(Math.max(Number(request.query.limit ?? 50), 1), 200);
        const events = await audit.list({
          limit,
          ...(request.query.before ? { before: request.query.before } : {}),
          ...(request.query.user_id ? { userId: request.query.user_id } : {}),
          ...(request.query.type ? { type: request.query.type } : {}),
        });
        return { events, next: events.length === limit ? events[events.length - 1]!.id : null };
      },
    );

    app.post(
      '/api/admin/users/:id/sessions/revoke',
      {
        preHandler: admin,
        schema: {
          tags,
          summary: "End all of a user's sessions and access tokens",
          params: UserId,
          response: { 200: Type.Object({ revoked: Type.Integer() }) },
        },
      },
      async (request) => ({
        revoked: await sessions.revokeAll((await users.get(request.params.id)).id, 'admin_revoke', auditContext(request)),
      }),
    );
  };
}
