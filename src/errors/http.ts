/**
 * The one place that turns errors into HTTP: AppError, Fastify's own errors (validation,
 * body parsing, limits) and anything unexpected all leave as `{code, message[, details]}`.
 * Unknown errors are logged with their stack and answered with a generic 500.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import FindMyWay from 'find-my-way';
import { isDatabaseUnavailable } from '../storage/errors.ts';
import { AppError } from './app-error.ts';
import { ERRORS, type ErrorCode } from './codes.ts';

/** Fastify's error codes for malformed requests, and what each means to a client. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
  FST_ERR_VALIDATION: 'validation_failed',
};

/** RFC 6750 §3: token failures name the error in the challenge. */
const CHALLENGE_ERROR: Partial<Record<ErrorCode, string>> = {
  invalid_token: 'invalid_token',
  token_expired: 'invalid_token',
  token_revoked: 'invalid_token',
  legacy_token_expired: 'invalid_token',
  forbidden: 'insufficient_scope',
  insufficient_scope: 'insufficient_scope',
  user_token_required: 'insufficient_scope',
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** this route's errors leave in RFC 6749 §5.2 form, `{error, error_description}` (the /oauth/* endpoints) */
    oauthErrors?: boolean;
  }
}

/**
 * The RFC 6749 §5.2 `error` value of codes that have another name on the OAuth endpoints;
 * every other code is its own value (the RFC ones: invalid_client, invalid_scope, …).
 */
const OAUTH_ERROR: Partial<Record<ErrorCode, string>> = {
  bad_request: 'invalid_request',
  validation_failed: 'invalid_request',
  invalid_json: 'invalid_request',
  unsupported_media_type: 'invalid_request',
  payload_too_large: 'invalid_request',
  // RFC 6749 §4.1.2.1's values for a server that cannot answer
  internal: 'server_error',
  not_ready: 'temporarily_unavailable',
};

/** RFC 6749 §5.2: error_description is printable ASCII without " and \\ (the same rule suits a quoted-string). */
const describe = (message: string): string => message.replace(/[^\x20-\x7e]|["\\]/g, "'");

export const REALM = 'bastion';

interface AjvIssue {
  keyword?: string;
  instancePath?: string;
  params?: Record<string, unknown>;
}

/** Our own words for each schema failure: library text never reaches a response. */
function describeValidation(issue: AjvIssue, context: string): { path: string; message: string } {
  const p = issue.params ?? {};
  const where = `${context}${issue.instancePath ?? ''}`;
  switch (issue.keyword) {
    case 'required':
      return { path: `${where}/${String(p['missingProperty'])}`, message: 'is required' };
    case 'additionalProperties':
      return { path: `${where}/${String(p['additionalProperty'])}`, message: 'is not allowed' };
    case 'type':
      return { path: where, message: `must be ${String(p['type'])}` };
    case 'minLength':
      return { path: where, message: `must be at least ${String(p['limit'])} characters` };
    case 'maxLength':
      return { path: where, message: `must be at most ${String(p['limit'])} characters` };
    case 'format':
      return { path: where, message: `must be a valid ${String(p['format'])}` };
    case 'pattern':
      return { path: where, message: 'contains characters that are not allowed' };
    case 'const':
    case 'enum':
      return { path: where, message: 'is not one of the allowed values' };
    default:
      return { path: where, message: 'is not valid' };
  }
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = err as Partial<FastifyError> & { validation?: unknown[]; statusCode?: number };
  if (Array.isArray(e.validation)) {
    const details = e.validation.map((v) => describeValidation(v as AjvIssue, e.validationContext ?? 'body'));
    const first = details[0];
    return new AppError('validation_failed', first ? `${first.path} ${first.message}` : undefined, { details, cause: err });
  }
  const mapped = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return new AppError(mapped, undefined, { cause: err });
  if (err instanceof SyntaxError && e.statusCode === 400) return new AppError('invalid_json', undefined, { cause: err });
  if (e.statusCode === 429) return new AppError('too_many_requests', undefined, { cause: err });
  if (e.statusCode === 404) return new AppError('not_found', undefined, { cause: err });
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new AppError('bad_request', undefined, { cause: err });
  }
  // the database is down or restarting: the client may retry, and it is not a bug
  if (isDatabaseUnavailable(err)) return new AppError('not_ready', undefined, { cause: err });
  // SQLSTATE class 22 (data exception): a value the database cannot store slipped past
  // validation; the statement (and its transaction) failed, nothing was written
  if (typeof e.code === 'string' && /^22[0-9A-Z]{3}$/.test(e.code)) return new AppError('bad_request', undefined, { cause: err });
  return new AppError('internal', undefined, { cause: err });
}

export function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  const { status } = ERRORS[error.code];
  const oauth = reply.request?.routeOptions?.config?.oauthErrors === true;
  if (error.code === 'invalid_client') {
    // RFC 6749 §5.2: the client authentication scheme Bastion takes (form posts are the other)
    reply.header('www-authenticate', `Basic realm="${REALM}"`);
  } else if (!oauth && (status === 401 || CHALLENGE_ERROR[error.code])) {
    const code = CHALLENGE_ERROR[error.code];
    // RFC 6750 §3.1: insufficient_scope names the scope the resource needs
    const scope = (error.details as { scope?: unknown } | undefined)?.scope;
    reply.header(
      'www-authenticate',
      code
        ? `Bearer realm="${REALM}", error="${code}", error_description="${describe(error.message)}"${typeof scope === 'string' ? `, scope="${describe(scope)}"` : ''}`
        : `Bearer realm="${REALM}"`,
    );
  }
  if (status >= 400 && status < 500) reply.header('cache-control', 'no-store');
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  reply.code(status).type('application/json; charset=utf-8');
  if (oauth) return reply.send({ error: OAUTH_ERROR[error.code] ?? error.code, error_description: describe(error.message) });
  return reply.send({ code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) });
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Installs the error and not-found handlers; wrong-method requests get 405 with Allow. */
/** A response Node must send before Fastify sees the request, in the one shape. */
export function writeRawError(res: ServerResponse, code: ErrorCode, message: string = ERRORS[code].message): void {
  const body = JSON.stringify({ code, message });
  res.writeHead(ERRORS[code].status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

export function installErrorHandling(app: FastifyInstance): void {
  // Node answers an unknown Expect with a bare 417 unless someone listens (RFC 9110 §10.1.1).
  app.server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => writeRawError(res, 'expectation_failed'));
  // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's own check would answer without a body.
  // callback style: no promise per request on the hot path
  app.addHook('onRequest', (request, _reply, done) => {
    const missing = request.raw.httpVersion === '1.1' && request.headers.host === undefined;
    done(missing ? new AppError('bad_request', 'The Host header is required') : undefined);
  });

  // A second router that only remembers which method+path pairs exist, to tell 404 from 405;
  // built at the first unmatched request (building it was ~3% of start-up: find-my-way
  // generates a matcher function per static path).
  type Known = ReturnType<typeof FindMyWay>;
  const add = (into: Known, method: (typeof METHODS)[number], url: string) => {
    try {
      into.on(method, url, () => undefined);
    } catch {
      // duplicates (e.g. HEAD added for GET) are fine
    }
  };
  const routes: [(typeof METHODS)[number], string][] = [];
  let router: Known | null = null;
  app.addHook('onRoute', (route) => {
    for (const m of ([] as string[]).concat(route.method)) {
      if (!(METHODS as readonly string[]).includes(m)) continue;
      if (router) add(router, m as (typeof METHODS)[number], route.url);
      else routes.push([m as (typeof METHODS)[number], route.url]);
    }
  });
  const known = (): Known => {
    if (!router) {
      router = FindMyWay({ ignoreTrailingSlash: true });
      for (const [method, url] of routes.splice(0)) add(router, method, url);
    }
    return router;
  };

  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const error = toAppError(err);
    if (error.status >= 500) request.log.error({ err: error.cause ?? err }, 'request failed');
    else request.log.info({ code: error.code }, 'request refused');
    return sendError(reply, error);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    if (request.method === 'OPTIONS') {
      // A preflight from an origin outside the allowlist: a plain answer, no CORS headers.
      return reply.code(204).header('allow', METHODS.join(', ')).send();
    }
    // A route that matches this very method (a static folder without that file) is a 404.
    const ownMatch = (METHODS as readonly string[]).includes(request.method) && known().find(request.method as (typeof METHODS)[number], path) !== null;
    const allow = ownMatch ? [] : METHODS.filter((m) => m !== request.method && known().find(m, path) !== null);
    if (allow.length > 0) {
      reply.header('allow', allow.join(', '));
      return sendError(reply, new AppError('method_not_allowed', `Method ${request.method} is not allowed here`));
    }
    return sendError(reply, new AppError('not_found', `No route for ${request.method} ${path.slice(0, 200)}`));
  });
}
