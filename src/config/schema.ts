/**
 * Every setting Bastion reads: its environment variable, its CLI flag (the variable in
 * kebab case: DATABASE_URL -> --database-url), its default and what it allows.
 * This table is the documentation: README's configuration section mirrors it.
 */
import { isIP } from 'node:net';
import { decodeKek } from '../keys/wrap.ts';
import { parseOidcProviders } from '../oidc/config.ts';
import { parseDurationMs } from './duration.ts';

export const JWT_ALGS = ['EdDSA', 'ES256', 'RS256', 'HS256'] as const;
export type JwtAlg = (typeof JWT_ALGS)[number];
export const SAME_SITE = ['lax', 'strict', 'none'] as const;
export type SameSite = (typeof SAME_SITE)[number];
/** HMAC only: the old Flask apps' shared-secret tokens (Flask-JWT-Extended, Flask-JWT) */
export const LEGACY_JWT_ALGS = ['HS256', 'HS384', 'HS512'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A parser returns the value, or a string saying what is allowed. */
type Parse<T> = (raw: string) => T | { invalid: string };

export interface Setting<T> {
  readonly doc: string;
  readonly default?: string;
  /** boolean settings are also plain CLI switches: `--demo` */
  readonly flagKind: 'string' | 'boolean';
  readonly parse: Parse<T>;
}

const oneOf =
  <const V extends readonly string[]>(values: V, caseInsensitive = false): Parse<V[number]> =>
  (raw) => {
    const found = values.find((v) => (caseInsensitive ? v.toLowerCase() === raw.toLowerCase() : v === raw));
    return found ?? { invalid: `must be one of ${values.join(', ')} (got "${raw}")` };
  };

const integer =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    return Number.isSafeInteger(n) && n >= min && n <= max
      ? n
      : { invalid: `must be a whole number from ${min} to ${max} (got "${raw}")` };
  };

/** Durations resolve to milliseconds. */
const duration =
  (minMs: number, maxMs: number): Parse<number> =>
  (raw) => {
    const ms = parseDurationMs(raw);
    return ms !== null && ms >= minMs && ms <= maxMs
      ? ms
      : { invalid: `must be a duration like 20s, 15m, 14d between ${minMs / 1000}s and ${maxMs / 1000}s (got "${raw}")` };
  };

const bool: Parse<boolean> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return { invalid: `must be true or false (got "${raw}")` };
};

const nonEmpty =
  (max = 512): Parse<string> =>
  (raw) =>
    raw.trim() !== '' && raw.length <= max ? raw.trim() : { invalid: `must be non-empty text of at most ${max} characters` };

/** A database URL with its password masked, fit for an error line or a log. */
export const maskUrl = (url: string): string => url.replace(/(\/\/[^:/@]*:)[^/]*@/, '$1***@');

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** sqlite:<path>, or postgres(ql)://user:pass@host:port/db?sslmode=…&sslrootcert=<CA file> */
const databaseUrl: Parse<string> = (raw) => {
  if (/^sqlite:.+/.test(raw)) return raw;
  if (/^postgres(ql)?:\/\//.test(raw)) {
    let url: URL | null = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (!url || url.hostname === '') return { invalid: `must be postgres://user:password@host:port/database (got "${maskUrl(raw)}")` };
    const mode = url.searchParams.get('sslmode');
    if (mode !== null && !SSL_MODES.includes(mode)) return { invalid: `sslmode must be one of ${SSL_MODES.join(', ')} (got "${mode}")` };
    return raw;
  }
  return { invalid: `must be sqlite:<path> or postgres://… (got "${maskUrl(raw)}")` };
};

const listenUrl: Parse<string> = (raw) => (raw.trim().toLowerCase() === 'off' ? 'off' : databaseUrl(raw));

/** Exact origins only: a wildcard cannot be combined with credentials (Fetch standard, CORS protocol). */
const origins: Parse<readonly string[]> = (raw) => {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const origin of list) {
    if (origin === 'null') continue; // only ever allowed when listed literally
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = null;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
      return { invalid: `must be a comma list of exact origins like https://app.example.com (got "${origin}")` };
    }
  }
  return list;
};

/** false | true | hop count | list of proxy addresses, as Fastify's trustProxy takes them. */
const trustProxy: Parse<boolean | number | string[]> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (v === 'false' || v === '0' || v === '') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return Number(v);
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  return list.every((s) => /^[0-9a-f.:]+(\/\d{1,3})?$/.test(s))
    ? list
    : { invalid: 'must be false, true, a hop count, or a comma list of IP addresses/CIDRs' };
};

/** Secrets are never echoed in the error. */
const secretList: Parse<readonly string[]> = (raw) => {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  return list.every((s) => Buffer.byteLength(s) >= 32) ? list : { invalid: 'must be a comma list of secrets of at least 32 bytes each' };
};

/**
 * PUBLIC_URL is also the default issuer (`iss`), and an issuer is a URL with no query,
 * fragment or user info (RFC 8414 §2): those are refused rather than published. The
 * trailing slash goes, so `iss` is one exact string whichever way the URL was written.
 */
const httpUrl: Parse<string> = (raw) => {
  try {
    const url = new URL(raw);
    if (/^https?:$/.test(url.protocol)) {
      if (url.search !== '' || url.hash !== '' || raw.includes('?') || raw.includes('#')) return { invalid: `must have no query or fragment (got "${raw}")` };
      if (url.username !== '' || url.password !== '') return { invalid: 'must not hold a user name or password' };
      return raw.replace(/\/+$/, '');
    }
  } catch {
    // fall through
  }
  return { invalid: `must be an http(s) URL (got "${raw}")` };
};

/**
 * A WebAuthn relying-party id is a domain (W3C WebAuthn L3 §5.1.3 step 8, "valid domain
 * string"): never an IP address, which browsers refuse as an RP id.
 */
const rpId: Parse<string> = (raw) => {
  const v = raw.trim().toLowerCase();
  if (isIP(v.replace(/^\[|\]$/g, '')) !== 0) return { invalid: `must be a host name, not an IP address: browsers refuse an IP address as a WebAuthn relying-party id (got "${raw}")` };
  return /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(v)
    ? v
    : { invalid: `must be a host name like example.com (got "${raw}")` };
};

/** An instant: YYYY-MM-DD (00:00 UTC that day) or an ISO 8601 date and time with its offset; epoch ms. */
const instant: Parse<number> = (raw) => {
  const v = raw.trim();
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(v);
  const ms = dateOnly || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v) ? Date.parse(dateOnly ? `${v}T00:00:00Z` : v) : NaN;
  if (Number.isNaN(ms) || (dateOnly && new Date(ms).toISOString().slice(0, 10) !== v)) {
    return { invalid: `must be a date like 2026-03-01 or 2026-03-01T18:00:00+01:00 (got "${raw}")` };
  }
  return ms;
};

const smtpUrl: Parse<string> = (raw) => (/^smtps?:\/\/.+/.test(raw) ? raw : { invalid: 'must be smtp://… or smtps://…' });

/** `auto`, or a whole number from 1 to max (how many of something, e.g. processes or threads). */
const countOrAuto =
  (max: number) =>
  (raw: string): number | 'auto' | { invalid: string } => {
    const v = raw.trim().toLowerCase();
    if (v === 'auto') return 'auto';
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    return n >= 1 && n <= max ? n : { invalid: `must be auto or a whole number from 1 to ${max} (got "${raw}")` };
  };

/** `idle`, or a nice value from 0 to 19. */
const niceOrIdle = (raw: string): number | 'idle' | { invalid: string } => {
  const v = raw.trim().toLowerCase();
  if (v === 'idle') return 'idle';
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  return n >= 0 && n <= 19 ? n : { invalid: `must be idle or a whole number from 0 to 19 (got "${raw}")` };
};

export const SETTINGS = {
  HOST: { doc: 'Interface to listen on', default: '127.0.0.1', flagKind: 'string', parse: nonEmpty(255) },
  PORT: { doc: 'TCP port to listen on (0 picks a free one)', default: '8085', flagKind: 'string', parse: integer(0, 65535) },
  TLS_CERT: {
    doc: 'PEM certificate (then its intermediates): with TLS_KEY, Bastion serves HTTPS itself, cookies are always Secure, SIGHUP re-reads both files',
    flagKind: 'string',
    parse: nonEmpty(4096),
  },
  TLS_KEY: { doc: 'PEM private key of TLS_CERT, unencrypted', flagKind: 'string', parse: nonEmpty(4096) },
  DATABASE_URL: {
    doc: 'sqlite:<path>, or postgres://user:pass@host:port/db (sslmode=require|verify-ca|verify-full, sslrootcert=<CA file>)',
    default: 'sqlite:./data/bastion.db',
    flagKind: 'string',
    parse: databaseUrl,
  },
  DATABASE_POOL_MAX: { doc: 'PostgreSQL: connections per instance', default: '10', flagKind: 'string', parse: integer(1, 1000) },
  DATABASE_STATEMENT_TIMEOUT: {
    doc: 'PostgreSQL: statement_timeout for every statement, sent at connect (pgbouncer must ignore it: set it on the role there)',
    default: '5s',
    flagKind: 'string',
    parse: duration(0, 600_000),
  },
  DATABASE_LISTEN_URL: {
    doc: 'PostgreSQL: connection for LISTEN, which wakes instances at once on a revocation (default DATABASE_URL; point it past a transaction pooler, or "off")',
    flagKind: 'string',
    parse: listenUrl,
  },
  CORS_ORIGINS: { doc: 'Comma list of origins allowed to call the API with credentials', default: '', flagKind: 'string', parse: origins },
  JWT_ALG: { doc: 'Access-token signature algorithm', default: 'EdDSA', flagKind: 'string', parse: oneOf(JWT_ALGS) },
  JWT_SECRET: { doc: 'Shared secret for HS256, at least 32 bytes', flagKind: 'string', parse: nonEmpty(4096) },
  JWT_ISSUER: {
    doc: 'iss claim of issued tokens, checked on verify; default PUBLIC_URL, the issuer other services find by discovery (/.well-known/oauth-authorization-server); every instance must agree on it',
    flagKind: 'string',
    parse: nonEmpty(255),
  },
  JWT_AUDIENCE: { doc: 'aud claim of issued tokens, checked on verify', default: 'bastion', flagKind: 'string', parse: nonEmpty(255) },
  JWT_LEEWAY: { doc: 'Clock skew tolerated on exp/nbf', default: '5s', flagKind: 'string', parse: duration(0, 300_000) },
  ACCESS_TTL: { doc: 'Access-token lifetime', default: '15m', flagKind: 'string', parse: duration(1000, 86_400_000) },
  REFRESH_TTL: { doc: 'Refresh-token lifetime', default: '14d', flagKind: 'string', parse: duration(60_000, 365 * 86_400_000) },
  COOKIE_SECURE: { doc: 'Secure attribute on cookies', default: 'true', flagKind: 'string', parse: bool },
  COOKIE_SAMESITE: { doc: 'SameSite attribute on cookies', default: 'lax', flagKind: 'string', parse: oneOf(SAME_SITE, true) },
  DEMO: { doc: 'Seed demo accounts (kyle/p1, sherpa/everest, admin@example.com/password)', default: 'false', flagKind: 'boolean', parse: bool },
  LOG_LEVEL: { doc: 'pino log level', default: 'info', flagKind: 'string', parse: oneOf(LOG_LEVELS) },
  LOG_FORMAT: { doc: 'json: one JSON object per line; pretty: readable lines (pino-pretty, a dev dependency); auto: pretty when stdout is a terminal', default: 'auto', flagKind: 'string', parse: oneOf(['json', 'pretty', 'auto'] as const) },
  ARGON2_MEMORY: { doc: 'argon2id memory cost in KiB (OWASP: 19456)', default: '19456', flagKind: 'string', parse: integer(64, 4_194_304) },
  ARGON2_ITERATIONS: { doc: 'argon2id time cost (OWASP: 2)', default: '2', flagKind: 'string', parse: integer(1, 100) },
  ARGON2_PARALLELISM: { doc: 'argon2id lanes (OWASP: 1)', default: '1', flagKind: 'string', parse: integer(1, 16) },
  ARGON2_NICE: {
    doc: "CPU priority of the password-hashing threads: idle (Linux's SCHED_IDLE at nice 19: a hash runs only on a core no other thread wants), or a nice value from 0 (the event loop's own) to 19 (the lowest); under a login flood, logins then wait rather than every other request",
    default: 'idle',
    flagKind: 'string',
    parse: niceOrIdle,
  },
  ARGON2_CONCURRENCY: {
    doc: 'argon2id computations at once (the rest queue): a number from 1 to 64, or auto (CPU cores - 1, at least 1), which leaves a core to serve requests during a login flood',
    default: 'auto',
    flagKind: 'string',
    parse: countOrAuto(64),
  },
  BODY_LIMIT: { doc: 'Largest request body in bytes', default: '65536', flagKind: 'string', parse: integer(1024, 10_485_760) },
  TRUST_PROXY: {
    doc: 'Trust X-Forwarded-For from: false, true, a hop count, or a comma list of proxy IPs/CIDRs',
    default: 'false',
    flagKind: 'string',
    parse: trustProxy,
  },
  JWT_SECRET_PREVIOUS: { doc: 'Comma list of earlier HS256 secrets still accepted for verification', default: '', flagKind: 'string', parse: secretList },
  SESSION_IDLE_TTL: { doc: 'A session unused this long ends (refresh idle timeout)', default: '7d', flagKind: 'string', parse: duration(60_000, 365 * 86_400_000) },
  REFRESH_REUSE_GRACE: { doc: 'A spent refresh token may be retried this soon (client lost the response)', default: '10s', flagKind: 'string', parse: duration(0, 300_000) },
  FRESH_LOGIN_WINDOW: { doc: 'Sensitive actions need a password login this recent', default: '10m', flagKind: 'string', parse: duration(60_000, 86_400_000) },
  LOGIN_MAX_FAILURES: { doc: 'Failed logins per account before a lockout', default: '5', flagKind: 'string', parse: integer(1, 1000) },
  LOGIN_IP_MAX_FAILURES: { doc: 'Failed logins per client IP before a lockout', default: '30', flagKind: 'string', parse: integer(1, 100_000) },
  LOGIN_LOCKOUT: { doc: 'First lockout; each further lockout doubles it', default: '30s', flagKind: 'string', parse: duration(1000, 86_400_000) },
  LOGIN_LOCKOUT_MAX: { doc: 'Longest lockout', default: '15m', flagKind: 'string', parse: duration(1000, 7 * 86_400_000) },
  AUTH_RATE_LIMIT: { doc: 'Requests per minute per client IP on auth routes (generic flood limit)', default: '120', flagKind: 'string', parse: integer(1, 1_000_000) },
  PUBLIC_URL: { doc: 'The address clients use (default http://HOST:PORT): base of links in mails and of the endpoints discovery publishes, and the default issuer (JWT_ISSUER); no query or fragment', flagKind: 'string', parse: httpUrl },
  WEBAUTHN_RP_ID: {
    doc: 'Passkeys: the relying-party id, a host name (never an IP address) equal to, or a parent domain of, the host of each WEBAUTHN_ORIGIN; default the host of PUBLIC_URL (a loopback address becomes localhost)',
    flagKind: 'string',
    parse: rpId,
  },
  WEBAUTHN_ORIGIN: {
    doc: 'Passkeys: comma list of exact origins of the pages that register and use passkeys, when the page is not served from PUBLIC_URL (default: the origin of PUBLIC_URL, a loopback address as localhost)',
    flagKind: 'string',
    parse: origins,
  },
  SMTP_URL: { doc: 'smtp(s)://user:pass@host:port for outgoing mail; unset writes mail to OUTBOX_DIR', flagKind: 'string', parse: smtpUrl },
  MAIL_FROM: { doc: 'From address of outgoing mail', default: 'Bastion <no-reply@localhost>', flagKind: 'string', parse: nonEmpty(255) },
  OUTBOX_DIR: { doc: 'Where mail goes when SMTP_URL is unset', default: './data/outbox', flagKind: 'string', parse: nonEmpty(1024) },
  RESET_TOKEN_TTL: { doc: 'Lifetime of a password-reset link', default: '30m', flagKind: 'string', parse: duration(60_000, 86_400_000) },
  CONFIRM_TOKEN_TTL: { doc: 'Lifetime of an email-confirmation link', default: '24h', flagKind: 'string', parse: duration(60_000, 30 * 86_400_000) },
  REVOCATION_POLL: { doc: 'How often revocations made elsewhere are read from the database (the fallback when no NOTIFY arrives)', default: '500ms', flagKind: 'string', parse: duration(100, 60_000) },
  TOKEN_CACHE_SIZE: { doc: 'Access tokens whose signature check is remembered (about 0.6 KB each; 0 turns the cache off); revocation is still checked on every request', default: '10000', flagKind: 'string', parse: integer(0, 1_000_000) },
  WORKERS: {
    doc: 'Server processes sharing the port (node:cluster): a number from 1 to 64, or auto (one per CPU core); 1 runs no cluster',
    default: '1',
    flagKind: 'string',
    parse: countOrAuto(64),
  },
  SHUTDOWN_TIMEOUT: { doc: 'On SIGTERM/SIGINT, requests in flight get this long to finish before their connections are closed', default: '10s', flagKind: 'string', parse: duration(0, 600_000) },
  METRICS_TOKEN: {
    doc: 'GET /metrics needs Authorization: Bearer <this> (at least 32 characters)',
    flagKind: 'string',
    // a secret: never echoed in the error
    parse: (raw) => (/^[\x21-\x7e]{32,4096}$/.test(raw.trim()) ? raw.trim() : { invalid: 'must be 32 to 4096 printable characters without spaces' }),
  },
  METRICS_PORT: {
    doc: 'Serve /metrics only on 127.0.0.1:<this>, a listener of its own, and not on the public port (0 picks a free one)',
    flagKind: 'string',
    parse: integer(0, 65535),
  },
  KEY_ENCRYPTION_KEY: {
    doc: 'base64 of 32 random bytes (openssl rand -base64 32): private signing keys are stored encrypted under it (AES-256-GCM)',
    flagKind: 'string',
    // a secret: never echoed in the error
    parse: (raw) => (decodeKek(raw) ? raw.trim() : { invalid: 'must be base64 of exactly 32 bytes (openssl rand -base64 32)' }),
  },
  KEY_ROTATION_AGE: {
    doc: 'bastion doctor warns when the active signing key is older than this (rotate with bastion keys rotate)',
    default: '90d',
    flagKind: 'string',
    parse: duration(86_400_000, 10 * 365 * 86_400_000),
  },
  OIDC_PROVIDERS: {
    doc: 'OpenID Connect providers to log in with, as a JSON array: [{"id":"corp","name":"Corp SSO","issuer":"https://id.example","client_id":"…","client_secret":"…","scopes":"openid email profile"}]; register <PUBLIC_URL>/api/auth/oidc/<id>/callback as the redirect URI; http:// issuers only on loopback; client_secret is masked wherever settings are printed',
    default: '[]',
    flagKind: 'string',
    parse: parseOidcProviders,
  },
  // Cut-over from a Flask app (issue #12): its HS256 access tokens keep working for imported
  // users until LEGACY_JWT_UNTIL (sessions/legacy.ts). Off unless LEGACY_JWT_SECRET is set.
  LEGACY_JWT_SECRET: {
    doc: "The old Flask app's JWT secret (Flask-JWT-Extended's JWT_SECRET_KEY, Flask-JWT's SECRET_KEY): its access tokens are accepted for imported users until LEGACY_JWT_UNTIL, which is then required; never printed",
    flagKind: 'string',
    // a secret: used exactly as given, never echoed in the error
    parse: (raw) => (raw.length <= 4096 ? raw : { invalid: 'must be at most 4096 characters' }),
  },
  LEGACY_JWT_UNTIL: {
    doc: 'When the old tokens stop working, e.g. 2026-03-01 (00:00 UTC) or 2026-03-01T18:00:00+01:00; from then on they are refused with legacy_token_expired',
    flagKind: 'string',
    parse: instant,
  },
  LEGACY_JWT_ALG: { doc: "The old tokens' algorithm; nothing else is accepted with LEGACY_JWT_SECRET (RFC 8725 §3.1)", default: 'HS256', flagKind: 'string', parse: oneOf(LEGACY_JWT_ALGS) },
  LEGACY_JWT_IDENTITY: {
    doc: "The claim that names the user in the old tokens: sub (Flask-JWT-Extended) or identity (Flask-JWT); matched against the imported id, then the username, then the email",
    default: 'sub',
    flagKind: 'string',
    parse: (raw) => (/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/.test(raw.trim()) ? raw.trim() : { invalid: `must be a claim name like sub or identity (got "${raw}")` }),
  },
  LEGACY_JWT_ISSUER: { doc: "If set, the old tokens' iss must equal it", flagKind: 'string', parse: nonEmpty(255) },
  LEGACY_JWT_AUDIENCE: { doc: "If set, the old tokens' aud must contain it", flagKind: 'string', parse: nonEmpty(255) },
} as const satisfies Record<string, Setting<unknown>>;

export type SettingName = keyof typeof SETTINGS;
export type SettingValue<K extends SettingName> = Exclude<ReturnType<(typeof SETTINGS)[K]['parse']>, { invalid: string }>;
