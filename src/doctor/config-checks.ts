/**
 * The checks that need only the configuration, as `serve` would load it. Each returns its
 * findings; none opens a file, the database or a socket.
 */
import type { Config } from '../config/load.ts';
import { error, warning, type Finding } from './findings.ts';
import { isHttps, isLoopbackHost, originOf, siteOf } from './hosts.ts';
import { secretWeakness } from './secrets.ts';

const publicHost = (config: Config): string => new URL(config.mail.publicUrl).hostname;

/**
 * Cookies carry the session (the `jwt` access token, the refresh token). On an https
 * PUBLIC_URL without Secure, a browser also sends them over plain http, to anyone on the
 * path who makes it request an http:// URL of this host (RFC 6265 §8.6, OWASP Session
 * Management Cheat Sheet, "Secure attribute"). The other way round, an http PUBLIC_URL on
 * another machine with Secure cookies: browsers do not store Secure cookies set over
 * http (RFC 6265bis §5.7, except on localhost), so cookie logins silently fail.
 */
export function cookieSecure(config: Config): Finding[] {
  const url = config.mail.publicUrl;
  if (isHttps(url) && !config.cookie.secure) {
    return [
      error(
        'cookie-secure',
        `COOKIE_SECURE=false while PUBLIC_URL is ${url}: browsers also send the session cookies (jwt, bastion_refresh) over plain http, where anyone on the network path reads them`,
        'set COOKIE_SECURE=true (the default)',
      ),
    ];
  }
  if (!isHttps(url) && config.cookie.secure && config.tls === null && !isLoopbackHost(publicHost(config))) {
    return [
      warning(
        'cookie-secure',
        `PUBLIC_URL is ${url}, plain http on another machine, and cookies are Secure: browsers drop Secure cookies set over http, so cookie logins (/authenticate, the web app) fail`,
        'serve over https (TLS_CERT/TLS_KEY, or a TLS proxy) and set PUBLIC_URL=https://…; never turn COOKIE_SECURE off on a network',
      ),
    ];
  }
  return [];
}

/**
 * SameSite=None makes browsers send the session cookies on cross-site requests too: a
 * browser refuses it without Secure (RFC 6265bis §5.7 step 14), and it is needed only
 * when a front end on another site calls the API with credentials. Without such an
 * origin, Lax (the default) keeps cross-site forms and fetches cookieless: CSRF defence in
 * depth (OWASP CSRF Cheat Sheet, "SameSite Cookie Attribute"). The reverse, a cross-site
 * front end with Lax or Strict, gets no cookies: its cookie login cannot work.
 */
export function cookieSameSite(config: Config): Finding[] {
  const { sameSite, secure } = config.cookie;
  const own = siteOf(config.mail.publicUrl);
  const crossSite = config.corsOrigins.filter((o) => o !== 'null' && originOf(o) !== null && siteOf(o) !== own);
  if (sameSite === 'none' && !secure) {
    return [error('cookie-samesite', 'COOKIE_SAMESITE=none without Secure cookies: browsers reject such cookies, so cookie logins fail', 'set COOKIE_SECURE=true, or COOKIE_SAMESITE=lax')];
  }
  if (sameSite === 'none' && crossSite.length === 0) {
    return [
      warning(
        'cookie-samesite',
        `COOKIE_SAMESITE=none, but no origin in CORS_ORIGINS is on another site than PUBLIC_URL (${own}): the session cookies ride along on every cross-site request for nothing`,
        'set COOKIE_SAMESITE=lax (the default); keep none only for a front end on another site, listed in CORS_ORIGINS',
      ),
    ];
  }
  if (sameSite !== 'none' && crossSite.length > 0) {
    return [
      warning(
        'cookie-samesite',
        `COOKIE_SAMESITE=${sameSite} and CORS_ORIGINS lists ${crossSite.join(', ')}, on another site than PUBLIC_URL: browsers withhold ${sameSite} cookies from its requests, so its cookie login cannot work`,
        'set COOKIE_SAMESITE=none (cookies stay Secure) if that front end logs in with cookies; if it sends bearer tokens, nothing to do',
      ),
    ];
  }
  return [];
}

/**
 * CORS_ORIGINS, each origin allowed to read answers with the user's credentials:
 *  - errors: what grants access it should not, or can never match. `null` is the origin
 *    of sandboxed iframes and file: pages, which any site can produce (PortSwigger, "CORS
 *    misconfigurations"; OWASP HTML5 Security Cheat Sheet); an http:// origin when the
 *    API is https lets a network attacker who rewrites that page act as the user; an entry
 *    that is not an exact origin (a path, a wildcard) never equals a browser's Origin.
 *  - warnings: what is harmless or plausible but worth a look. A loopback origin (a dev
 *    server) on a deployed API lets whatever runs at that port on a user's machine call
 *    it with their cookies; PUBLIC_URL's own origin is same-origin and needs no CORS.
 */
export function corsOrigins(config: Config): Finding[] {
  const findings: Finding[] = [];
  const publicUrl = config.mail.publicUrl;
  const own = originOf(publicUrl);
  const deployed = !isLoopbackHost(publicHost(config));
  for (const origin of config.corsOrigins) {
    if (origin === 'null') {
      findings.push(
        error('cors-origins', 'CORS_ORIGINS lists "null": sandboxed iframes and local files send Origin: null, so any web page can call the API with the user\'s credentials', 'remove "null" from CORS_ORIGINS; serve the front end from a real origin and list that'),
      );
      continue;
    }
    const exact = originOf(origin);
    if (exact === null || exact !== origin || origin.includes('*')) {
      findings.push(
        error('cors-origins', `CORS_ORIGINS entry "${origin}" is not an exact origin (scheme://host[:port], no path, no wildcard): it never matches what a browser sends`, 'list each front end\'s exact origin, e.g. https://app.example.com'),
      );
      continue;
    }
    const host = new URL(origin).hostname;
    if (origin === own) {
      findings.push(warning('cors-origins', `CORS_ORIGINS lists PUBLIC_URL's own origin ${origin}: pages served from it are same-origin and need no CORS`, `remove ${origin} from CORS_ORIGINS (harmless, but the list should name only the real cross-origin front ends)`));
    } else if (isLoopbackHost(host) && deployed) {
      findings.push(
        warning('cors-origins', `CORS_ORIGINS lists ${origin}, a development origin on the user's own machine, while PUBLIC_URL is ${publicUrl}: whatever serves that port on a user's machine can call the API with their cookies`, `remove ${origin} from the deployed CORS_ORIGINS`),
      );
    } else if (!isHttps(origin) && isHttps(publicUrl) && !isLoopbackHost(host)) {
      findings.push(
        error('cors-origins', `CORS_ORIGINS lists ${origin}, plain http, while PUBLIC_URL is https: anyone who can rewrite that page in transit can call the API as its user`, `serve that front end over https and list https://${new URL(origin).host}`),
      );
    }
  }
  return findings;
}

/**
 * Demo mode creates accounts whose passwords are published in the README (kyle/p1,
 * admin@example.com/password with role admin). Only on this machine is that harmless.
 */
export function demoMode(config: Config): Finding[] {
  if (!config.demo) return [];
  const exposed = [!isLoopbackHost(config.host) ? `HOST=${config.host}` : null, !isLoopbackHost(publicHost(config)) ? `PUBLIC_URL=${config.mail.publicUrl}` : null].filter(
    (s): s is string => s !== null,
  );
  if (exposed.length === 0) return [];
  return [
    error(
      'demo-mode',
      `demo mode (DEMO=true / serve --demo) is on and reachable from other machines (${exposed.join(', ')}): anyone can log in as admin with the published demo password`,
      'turn demo mode off (unset DEMO, drop --demo); the demo accounts already made stay: disable them (POST /api/admin/users/:id/disable) or start from a new database',
    ),
  ];
}

/** HS256 signs with a shared secret: JWT_SECRET and each JWT_SECRET_PREVIOUS (see secrets.ts). */
export function jwtSecret(config: Config): Finding[] {
  if (config.jwt.alg !== 'HS256') return [];
  const secrets = [
    ...(config.jwt.secret === null ? [] : [{ name: 'JWT_SECRET', value: config.jwt.secret }]),
    ...config.jwt.previousSecrets.map((value, i) => ({ name: `JWT_SECRET_PREVIOUS entry ${i + 1}`, value })),
  ];
  const fix = 'make a random one (openssl rand -base64 32), roll it in through JWT_SECRET_PREVIOUS (docs/deploy.md), or move to an asymmetric JWT_ALG (EdDSA)';
  const findings: Finding[] = [];
  for (const { name, value } of secrets) {
    const weakness = secretWeakness(value);
    if (weakness === null) continue;
    if (weakness.level === 'warning') {
      findings.push(warning('jwt-secret', `${name} has low entropy (about ${weakness.bits} bits by its characters, under 128): it may be guessable`, fix));
    } else if (weakness.reason === 'short') {
      findings.push(error('jwt-secret', `${name} is shorter than 32 bytes: RFC 7518 §3.2 asks for an HS256 key of at least 256 bits`, fix));
    } else {
      findings.push(error('jwt-secret', `${name} is made of common words and numbers, or a short repeated pattern: a dictionary attack on one token finds it, and then any token can be forged`, fix));
    }
  }
  return findings;
}

/**
 * No KEK: the private signing keys sit in the database as plain JWKs, so a copy of it (a
 * backup, a dump) forges tokens. The server says so at start-up with a warning (outside
 * demo mode and HS256, whose secret is never stored); so does the doctor: disk or backup
 * encryption may cover it. What the stored keys say is checked in database.ts.
 */
export function keysAtRestConfig(config: Config): Finding[] {
  if (config.keyEncryptionKey !== null || config.jwt.alg === 'HS256' || config.demo) return [];
  return [
    warning(
      'keys-at-rest',
      'KEY_ENCRYPTION_KEY is not set: private signing keys are stored unencrypted, and a copy of the database can forge tokens',
      'set KEY_ENCRYPTION_KEY=$(openssl rand -base64 32) on every instance (the next start encrypts the stored keys; README "Keys at rest")',
    ),
  ];
}

/**
 * TRUST_PROXY, from the configuration alone (a running instance is probed in instance.ts).
 * `true` believes the leftmost X-Forwarded-For entry, which the client wrote, even behind a
 * proxy that appends to it; `true` or a hop count trusts whatever connects, so an instance
 * that clients can reach without the proxy (HOST on every interface) takes their word for
 * their address (docs/deploy.md, "Behind nginx"). With TLS_CERT set, Bastion terminates
 * TLS itself, which usually means clients connect to it directly.
 */
export function trustProxyConfig(config: Config): Finding[] {
  const trust = config.trustProxy;
  if (trust === false || trust === 0 || (Array.isArray(trust) && trust.length === 0)) return [];
  const findings: Finding[] = [];
  const namesAddresses = Array.isArray(trust);
  const fix = 'set TRUST_PROXY to the proxy\'s own address (e.g. TRUST_PROXY=10.0.0.5), or TRUST_PROXY=false when clients connect directly';
  if (trust === true) {
    findings.push(warning('trust-proxy', 'TRUST_PROXY=true takes the leftmost X-Forwarded-For entry, which a client can write itself, unless every proxy in front replaces the header', fix));
  } else if (!namesAddresses && !isLoopbackHost(config.host)) {
    findings.push(warning('trust-proxy', `TRUST_PROXY=${String(trust)} trusts whatever connects, and HOST=${config.host} accepts connections from other machines: a client that reaches the instance without the proxy chooses its own address`, fix));
  }
  if (config.tls !== null) {
    findings.push(warning('trust-proxy', 'TRUST_PROXY is set while Bastion serves HTTPS itself (TLS_CERT): clients then usually connect directly, with no proxy in front to vouch for X-Forwarded-For', 'set TRUST_PROXY=false unless a proxy that re-encrypts to Bastion sits in front'));
  }
  return findings;
}

/**
 * Neither METRICS_PORT nor METRICS_TOKEN: /metrics answers anyone on the API's port (route
 * names, traffic, login outcomes). Whether that port is public is for --url to show
 * (instance.ts reports that as an error); from the configuration it is a warning.
 */
export function metricsConfig(config: Config): Finding[] {
  if (config.metrics.port !== null || config.metrics.token !== null) return [];
  return [warning('metrics-public', 'neither METRICS_PORT nor METRICS_TOKEN is set: GET /metrics answers anyone who reaches the API port', METRICS_FIX)];
}

export const METRICS_FIX = 'set METRICS_PORT (a listener of its own on 127.0.0.1; the public port then answers 404) or METRICS_TOKEN (a bearer token of 32+ characters)';

/**
 * SQLite is one file on one machine. Several workers share it (WAL, one write lock:
 * tested, but writes queue, so throughput does not grow with workers); an in-memory
 * database is one per process, so workers would not see each other's users or sessions.
 * Several machines cannot share it (checked in database.ts: a network filesystem).
 */
export function sqliteScale(config: Config): Finding[] {
  if (!config.databaseUrl.startsWith('sqlite:') || config.workers <= 1) return [];
  if (config.databaseUrl === 'sqlite::memory:') {
    return [error('sqlite-scale', `WORKERS=${config.workers} on an in-memory SQLite database: each worker has a database of its own, so a session made on one is unknown to the others`, 'use a SQLite file (DATABASE_URL=sqlite:./data/bastion.db) or PostgreSQL, or WORKERS=1')];
  }
  return [
    warning(
      'sqlite-scale',
      `WORKERS=${config.workers} on SQLite: the workers share one database file, whose writes (logins, refreshes, revocations) wait in turn for its one lock, so more workers do not mean more capacity`,
      'for more than one process of load, move to PostgreSQL (bastion db copy --from sqlite:… --to postgres://…); else WORKERS=1',
    ),
  ];
}

/**
 * The tokens' `iss` is PUBLIC_URL unless JWT_ISSUER says otherwise (RFC 8414 §2), and
 * PUBLIC_URL defaults to http://HOST:PORT. With HOST on every interface or PORT=0 that
 * names no address another service can use, and instances on other ports would each name
 * another issuer and refuse each other's tokens.
 */
export function issuer(config: Config): Finding[] {
  let url: URL;
  try {
    url = new URL(config.jwt.issuer);
  } catch {
    return []; // an explicit JWT_ISSUER that is not a URL (e.g. "bastion"): chosen on purpose
  }
  const unspecified = ['0.0.0.0', '[::]'].includes(url.hostname);
  if (!unspecified && url.port !== '0') return [];
  return [
    warning(
      'issuer',
      `the tokens' issuer is ${config.jwt.issuer} (PUBLIC_URL is not set, so it is http://HOST:PORT): no other service can fetch its discovery document there, and instances on other ports name other issuers and refuse each other's tokens`,
      'set PUBLIC_URL to the URL clients and services use (the same on every instance), or JWT_ISSUER',
    ),
  ];
}

export function configFindings(config: Config): Finding[] {
  return [
    ...cookieSecure(config),
    ...cookieSameSite(config),
    ...corsOrigins(config),
    ...demoMode(config),
    ...issuer(config),
    ...jwtSecret(config),
    ...keysAtRestConfig(config),
    ...trustProxyConfig(config),
    ...metricsConfig(config),
    ...sqliteScale(config),
  ];
}
