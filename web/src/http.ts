/**
 * The raw HTTP layer: one fetch per call against the configured API, cookies included,
 * the CSRF header on unsafe methods, and every failure turned into ApiError (the
 * server's `{code, message, details}`) or NetworkError (no answer the page may read).
 * No policy lives here: refresh-and-retry and the login prompt are in api.ts.
 */
import type { ErrorBody } from './types.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const UNSAFE: ReadonlySet<Method> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** An answer from the API with an error status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = undefined,
    /** seconds, from Retry-After on a 429 or 503 */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/**
 * No readable answer: the server is down, the network failed, or CORS refused to hand
 * the response to this page (the browser does not say which).
 */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
}

export interface SendOptions {
  readonly body?: unknown;
  readonly signal?: AbortSignal | undefined;
}

export class Http {
  constructor(
    readonly base: string,
    /** the CSRF token to send, read at each request because it rotates on refresh */
    private readonly csrfToken: () => string | null,
  ) {}

  async send<T>(method: Method, path: string, options: SendOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const init: RequestInit = { method, headers, credentials: 'include', cache: 'no-store' };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    const csrf = UNSAFE.has(method) ? this.csrfToken() : null;
    if (csrf) headers['X-CSRF-Token'] = csrf;
    if (options.signal) init.signal = options.signal;

    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, init);
    } catch (err) {
      if (isAbort(err)) throw err;
      throw new NetworkError(`Could not reach the API at ${this.base}. It may be down, or it does not accept this page's origin.`);
    }
    const body = await readJson(response);
    if (!response.ok) throw toApiError(response, body);
    return body as T;
  }
}

async function readJson(response: Response): Promise<unknown> {
  if (response.status === 204) return undefined;
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function toApiError(response: Response, body: unknown): ApiError {
  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
  if (isErrorBody(body)) return new ApiError(response.status, body.code, body.message, body.details, retryAfter);
  return new ApiError(
    response.status,
    'http_error',
    `The server answered ${response.status} ${response.statusText}`.trim(),
    undefined,
    retryAfter,
  );
}

function isErrorBody(body: unknown): body is ErrorBody {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as ErrorBody).code === 'string' &&
    typeof (body as ErrorBody).message === 'string'
  );
}

/** Retry-After is either seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | null): number | null {
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}
