import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services.ts';
import { ageOn } from '../../users/model.ts';

const Person = Type.Object({
  name: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  age: Type.Union([Type.Integer(), Type.Null()]),
});

/** Seed 001's people table: every active user's profile, age from the date of birth. */
export function personRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/person/',
      {
        preHandler: app.requireUser,
        schema: { tags: ['people'], summary: 'People: name, email and age', response: { 200: Type.Array(Person) } },
      },
      async () => {
        const today = new Date(services.clock.now());
        return (await services.users.list())
          .filter((u) => u.disabled_at === null)
          .map((u) => ({ name: u.display_name ?? u.username, email: u.email, age: u.dob ? ageOn(u.dob, today) : null }));
      },
    );
  };
}
