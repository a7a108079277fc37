/**
 * Route schemas compiled on a route's first use instead of at start-up. Fastify compiles
 * every route's request validator (Ajv) and response serializers (fast-json-stringify) while
 * routes are registered: about 80 routes cost a third of Bastion's start-up CPU (profiled,
 * issue #10) and keep code in memory for routes a deployment may never call. The compilers
 * are Fastify's own defaults with the same options; only the moment of compiling moves.
 *
 * A schema that cannot compile would now fail on the route's first request (a 500) rather
 * than at start-up, so `eager` keeps the old behaviour: the test suite builds one app that
 * way and every schema is compiled there (test/http/errors.test.ts).
 */
import { AjvCompiler } from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type Validate = ((data: unknown, context?: unknown) => unknown) & { errors?: unknown };

/**
 * One Ajv validator that compiles on its first call. Fastify reads `.errors` after a failed
 * validation, and passes the parent object as a second argument when the function has a
 * `schemaEnv` (every Ajv validator has one), so that Ajv may replace a root value.
 */
function lazyValidator(compile: () => Validate): Validate {
  let compiled: Validate | undefined;
  const validate = (data: unknown, context?: unknown) => (compiled ??= compile())(data, context);
  Object.defineProperties(validate, {
    errors: { get: () => compiled?.errors ?? null },
    schemaEnv: { value: true },
  });
  return validate;
}

/** Node gives header names in lower case: a schema's `properties` and `required` must match them. */
function lowerCaseHeaderNames(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const { properties, required, ...rest } = schema as { properties?: Record<string, unknown>; required?: unknown };
  return {
    ...rest,
    ...(properties ? { properties: Object.fromEntries(Object.entries(properties).map(([name, value]) => [name.toLowerCase(), value])) } : {}),
    ...(Array.isArray(required) ? { required: required.map((name) => String(name).toLowerCase()) } : {}),
  };
}

export function schemaCompilers(eager: boolean): CompilersFactory {
  const validators = AjvCompiler();
  const serializers = SerializerSelector();
  return {
    buildValidator(externalSchemas, options) {
      const compile = validators(externalSchemas as never, options as never);
      return ((route: Parameters<typeof compile>[0]) => {
        // Fastify lower-cases a headers schema only for its built-in compiler; this one counts as custom
        if (route.httpPart === 'headers') route = { ...route, schema: lowerCaseHeaderNames(route.schema) as typeof route.schema };
        return eager ? compile(route) : lazyValidator(() => compile(route) as Validate);
      }) as never;
    },
    buildSerializer(externalSchemas, options) {
      const compile = serializers(externalSchemas, options as never);
      if (eager) return compile;
      return (route) => {
        let serialize: ((doc: unknown) => string) | undefined;
        return (doc: unknown) => (serialize ??= compile(route))(doc);
      };
    },
  };
}
