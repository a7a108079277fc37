/**
 * Client authentication for the token, introspection and revocation endpoints and the
 * revocation feed (RFC 6749 §2.3.1): HTTP Basic with the form-urlencoded client id and
 * secret, or `client_id` and `client_secret` in the form body; one method per request
 * (§2.3). Failures are 401 `invalid_client` (with `WWW-Authenticate: Basic`, errors/http.ts).
 *
 * Wrong credentials are throttled like failed logins (throttle/login.ts): they count
 * against the client IP, and after LOGIN_IP_MAX_FAILURES that IP's failing attempts get
 * 429 until the lockout ends. The count is kept apart from the login routes' (a service
 * left with a rotated-out secret must not lock people out of logging in from a shared
 * address), and right credentials are still served from a locked address: a lockout
 * exists to stop password guessing (OWASP Authentication Cheat Sheet), nobody guesses a
 * 256-bit secret, and blocking them would let one misconfigured service, or anybody, cut
 * every service behind the same address off its tokens and the revocation feed. There
 * is no per-client lockout for the same reason: client ids are not secret.
 */
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors/app-error.ts';
import type { Client } from './clients.ts';
import { CLIENT_ID } from './scopes.ts';

const BASIC = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i;
/** No client id or secret is longer; longer input is refused before any hashing. */
const MAX_CREDENTIAL = 512;

interface Presented {
  readonly id: string;
  readonly secret: string;
}

/** application/x-www-form-urlencoded decoding (RFC 6749 §2.3.1, Appendix B): '+' is a space. */
function formDecode(text: string): string | null {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

const wrong = (message?: string) => new AppError('invalid_client', message);

/** The credentials the request presents, or null when it presents none. Throws on malformed or doubled ones. */
function presented(request: FastifyRequest): Presented | null {
  const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>;
  const formId = body['client_id'];
  const formSecret = body['client_secret'];
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = BASIC.exec(header);
    if (!match) throw wrong('Authenticate the client with HTTP Basic, or with client_id and client_secret in the form');
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const id = colon < 0 ? null : formDecode(decoded.slice(0, colon));
    const secret = colon < 0 ? null : formDecode(decoded.slice(colon + 1));
    if (id === null || secret === null) throw wrong('The Basic credentials must be client_id:client_secret, each form-urlencoded');
    // §2.3: one method only. A client_id parameter naming the same client only identifies it
    // (§3.2.1; some libraries send it next to Basic), so it is tolerated.
    if (formSecret !== undefined || (formId !== undefined && formId !== id)) {
      throw new AppError('invalid_request', 'Use one client authentication method: HTTP Basic or the form parameters, not both (RFC 6749 section 2.3)');
    }
    return { id, secret };
  }
  if (formId === undefined && formSecret === undefined) return null;
  if (typeof formId !== 'string' || typeof formSecret !== 'string') throw wrong('Send both client_id and client_secret');
  return { id: formId, secret: formSecret };
}

/**
 * The authenticated client of a request to an OAuth endpoint or the feed, or AppError
 * 401 invalid_client (429 too_many_attempts for wrong credentials from a locked-out
 * address). Needs the form body parsed when the endpoint takes one.
 */
export async function authenticateClient(request: FastifyRequest): Promise<Client> {
  const { clients, throttle, audit } = request.server.services;
  const ip = `client-ip:${request.ip}`;
  let credentials: Presented | null;
  try {
    credentials = presented(request);
  } catch (err) {
    if (err instanceof AppError && err.code === 'invalid_client') await failed(request, null);
    throw err;
  }
  if (!credentials) throw wrong('Client authentication is required: HTTP Basic with the client id and secret');
  const { id, secret } = credentials;
  const client = id.length <= MAX_CREDENTIAL && secret.length <= MAX_CREDENTIAL ? await clients.authenticate(id, secret) : null;
  if (!client) {
    await failed(request, id);
    throw wrong();
  }
  return client;

  /** Counts a failed attempt; while the address is locked out, answers 429 instead (and counts nothing more). */
  async function failed(req: FastifyRequest, presentedId: string | null): Promise<void> {
    await throttle.check([ip]);
    await throttle.failIp(ip);
    // the id only when it has a client id's shape: people paste secrets into the wrong field
    const clientId = presentedId !== null && CLIENT_ID.test(presentedId) ? presentedId : null;
    await audit.record('client_auth_failed', {
      ip: req.ip,
      userAgent: req.headers['user-agent'] ?? null,
      details: { client_id: clientId, path: req.routeOptions.url ?? null },
    });
  }
}
