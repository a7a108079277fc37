import type { FastifyInstance, preValidationHookHandler } from 'fastify';
import { AppError } from '../../errors/app-error.ts';

/** The first path in `value` holding a string with a NUL character, or null. */
function nulPath(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (value === null || typeof value !== 'object' || depth > 32) return null;
  for (const [key, item] of Object.entries(value)) {
    const found = nulPath(item, `${path}/${key}`, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * No text Bastion stores may hold a NUL character: PostgreSQL's text type cannot (and C
 * tools reading a SQLite file stop at it). Refused up front, with the field named, so it
 * never reaches a query as a 500 (ASVS 5.1.4: validate input against an allowed set).
 * Only routes that take input get the check (a body, a query string or path parameters
 * in their schema, or parameters in their URL): the others never read any.
 */
export function rejectNulCharacters(app: FastifyInstance): void {
  const check: preValidationHookHandler = (request, _reply, done) => {
    const where = nulPath(request.body, 'body') ?? nulPath(request.query, 'querystring') ?? nulPath(request.params, 'params');
    done(where ? new AppError('validation_failed', `${where} contains characters that are not allowed`, { details: [{ path: where, message: 'contains characters that are not allowed' }] }) : undefined);
  };
  app.addHook('onRoute', (route) => {
    const schema = route.schema ?? {};
    const takesInput = schema.body !== undefined || schema.querystring !== undefined || schema.params !== undefined || /[:*]/.test(route.url);
    const methods = ([] as string[]).concat(route.method);
    if (!takesInput && methods.every((m) => m === 'GET' || m === 'HEAD')) return;
    route.preValidation = [check, ...([] as preValidationHookHandler[]).concat(route.preValidation ?? [])];
  });
}
