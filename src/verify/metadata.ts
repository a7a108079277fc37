/**
 * Finding the issuer's keys and endpoints from its identifier alone (RFC 8414 §3), and
 * refusing anything that does not belong to that issuer (§3.3).
 */

/** The metadata members the verifier reads; anything else in the document is ignored. */
export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly access_token_signing_alg_values_supported?: readonly string[];
  readonly introspection_endpoint?: string;
  readonly revocation_endpoint?: string;
  readonly token_endpoint?: string;
  /** Bastion's revocation feed (`GET ?after=<cursor>` with client credentials) */
  readonly bastion_revocation_feed_endpoint?: string;
  readonly [member: string]: unknown;
}

export type Fetch = typeof fetch;

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * RFC 8414 §2: the issuer is an https URL with no query or fragment. Plain http is taken
 * on a loopback host (tests, a service next to Bastion on one machine), or anywhere when
 * the host says so with `allowInsecureHttp` (a private network it trusts).
 */
export function checkUrl(what: string, raw: string, allowInsecureHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`${what} must be an absolute URL (got "${raw}")`);
  }
  if (url.search !== '' || url.hash !== '') throw new TypeError(`${what} must have no query or fragment (got "${raw}")`);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && (allowInsecureHttp || LOOPBACK_HOST.test(url.hostname))) return url;
  throw new TypeError(`${what} must be an https:// URL (http:// only on a loopback host, or with allowInsecureHttp) (got "${raw}")`);
}

/**
 * Where the metadata may be: first the RFC 8414 §3.1 location (the well-known path put
 * between the host and the issuer's path), then the OpenID Connect Discovery §4 one (the
 * path appended), which is also where a Bastion behind a path prefix answers.
 */
export function metadataUrls(issuer: URL): URL[] {
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/+$/, '');
  const rfc8414 = new URL(`/.well-known/oauth-authorization-server${path}`, issuer.origin);
  const oidc = new URL(`${path}/.well-known/openid-configuration`, issuer.origin);
  return rfc8414.href === oidc.href ? [rfc8414] : [rfc8414, oidc];
}

export class DiscoveryError extends Error {
  override name = 'DiscoveryError';
}

/** GET a JSON document; no redirects followed (the issuer's own answer or nothing). */
export async function getJson(fetchImpl: Fetch, url: URL, timeoutMs: number, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetchImpl(url, { method: 'GET', redirect: 'manual', headers: { accept: 'application/json', ...headers }, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

/**
 * Fetches and checks the issuer's metadata: the document must name exactly this issuer
 * (RFC 8414 §3.3, against a document planted to impersonate another issuer), and publish
 * a `jwks_uri` under the same URL rules.
 */
export async function discover(issuer: string, options: { fetch: Fetch; timeoutMs: number; allowInsecureHttp: boolean }): Promise<IssuerMetadata> {
  const issuerUrl = checkUrl('issuer', issuer, options.allowInsecureHttp);
  const failures: string[] = [];
  for (const url of metadataUrls(issuerUrl)) {
    let answer: { status: number; body: unknown };
    try {
      answer = await getJson(options.fetch, url, options.timeoutMs);
    } catch (err) {
      throw new DiscoveryError(`cannot fetch ${url.href}: ${(err as Error).message}`, { cause: err });
    }
    if (answer.status === 404) {
      failures.push(`${url.href}: 404`);
      continue;
    }
    if (answer.status !== 200) throw new DiscoveryError(`${url.href} answered ${answer.status}, not 200`);
    return checkMetadata(answer.body, issuer, url, options.allowInsecureHttp);
  }
  throw new DiscoveryError(`no authorization server metadata for ${issuer} (${failures.join('; ')})`);
}

function checkMetadata(body: unknown, issuer: string, from: URL, allowInsecureHttp: boolean): IssuerMetadata {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DiscoveryError(`${from.href} is not a JSON object`);
  const doc = body as Record<string, unknown>;
  if (doc['issuer'] !== issuer) {
    throw new DiscoveryError(`${from.href} names the issuer ${JSON.stringify(doc['issuer'])}, not ${JSON.stringify(issuer)} (RFC 8414 §3.3)`);
  }
  if (typeof doc['jwks_uri'] !== 'string') {
    throw new DiscoveryError(`${issuer} publishes no jwks_uri: its tokens cannot be verified with a public key (does it sign with a shared secret, HS256?)`);
  }
  checkUrl('jwks_uri', doc['jwks_uri'], allowInsecureHttp);
  for (const member of ['access_token_signing_alg_values_supported'] as const) {
    const v = doc[member];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) throw new DiscoveryError(`${member} in ${from.href} is not a list of strings`);
  }
  return doc as IssuerMetadata;
}
