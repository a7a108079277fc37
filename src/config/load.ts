import { isIPv4, isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { readTlsPair, type TlsFiles } from '../http/tls.ts';
import { ConfigError } from './errors.ts';
import type { OidcProviderConfig } from '../oidc/config.ts';
import type { HashPriority } from '../passwords/hasher.ts';
import { LEGACY_JWT_ALGS, SETTINGS, type JwtAlg, type Setting, type LogLevel, type SameSite, type SettingName, type SettingValue } from './schema.ts';

export interface Config {
  readonly host: string;
  readonly port: number;
  /** TLS_CERT/TLS_KEY (absolute paths): Bastion serves HTTPS itself; null: plain HTTP (e.g. behind a TLS-terminating proxy) */
  readonly tls: TlsFiles | null;
  readonly databaseUrl: string;
  readonly database: {
    readonly poolMax: number;
    readonly statementTimeoutMs: number;
    /** PostgreSQL LISTEN connection; null: none (SQLite, or turned off) */
    readonly listenUrl: string | null;
  };
  readonly corsOrigins: readonly string[];
  readonly jwt: {
    readonly alg: JwtAlg;
    readonly secret: string | null;
    readonly issuer: string;
    readonly audience: string;
    readonly leewaySec: number;
    readonly accessTtlSec: number;
    /** earlier HS256 secrets, still accepted for verification */
    readonly previousSecrets: readonly string[];
    /** sensitive actions need a password login at most this old */
    readonly freshLoginSec: number;
  };
  /** absolute lifetime of a session (refresh family) */
  readonly refreshTtlSec: number;
  readonly session: { readonly idleTtlSec: number; readonly reuseGraceSec: number };
  readonly trustProxy: boolean | number | readonly string[];
  readonly throttle: {
    readonly maxAccountFailures: number;
    readonly maxIpFailures: number;
    readonly lockoutMs: number;
    readonly lockoutMaxMs: number;
    readonly authRatePerMinute: number;
  };
  readonly mail: {
    readonly publicUrl: string;
    readonly smtpUrl: string | null;
    readonly from: string;
    readonly outboxDir: string;
    readonly resetTtlSec: number;
    readonly confirmTtlSec: number;
  };
  /**
   * Passkeys (WebAuthn): the relying-party id and the page origins an assertion may come
   * from. rpId null: PUBLIC_URL names a host by IP address, which cannot be an RP id;
   * the passkey routes then answer passkeys_unavailable (the rest of Bastion runs).
   */
  readonly webauthn: { readonly rpId: string | null; readonly origins: readonly string[] };
  readonly cookie: { readonly secure: boolean; readonly sameSite: SameSite };
  readonly demo: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: SettingValue<'LOG_FORMAT'>;
  readonly argon2: { readonly memoryCost: number; readonly timeCost: number; readonly parallelism: number; readonly concurrency: number; readonly nice: HashPriority };
  readonly bodyLimit: number;
  readonly revocationPollMs: number;
  /** TOKEN_CACHE_SIZE: verified access tokens remembered */
  readonly tokenCacheSize: number;
  /** WORKERS: server processes (1: no cluster; auto resolved to the core count) */
  readonly workers: number;
  /** SHUTDOWN_TIMEOUT: how long requests in flight get to finish on SIGTERM/SIGINT */
  readonly shutdownTimeoutMs: number;
  /** METRICS_TOKEN: bearer token /metrics needs; METRICS_PORT: /metrics only on 127.0.0.1:port */
  readonly metrics: { readonly token: string | null; readonly port: number | null };
  /** KEY_ENCRYPTION_KEY (base64 of 32 bytes): private signing keys are stored wrapped under it */
  readonly keyEncryptionKey: string | null;
  /** KEY_ROTATION_AGE: `bastion doctor` warns about an active signing key older than this */
  readonly keyRotationAgeMs: number;
  /** OIDC_PROVIDERS: OpenID Connect providers people may log in with (src/oidc/config.ts) */
  readonly oidcProviders: readonly OidcProviderConfig[];
  /** LEGACY_JWT_*: an old Flask app's tokens accepted for imported users until `until`; null: off */
  readonly legacyJwt: LegacyJwtConfig | null;
}

export interface LegacyJwtConfig {
  readonly secret: string;
  readonly alg: (typeof LEGACY_JWT_ALGS)[number];
  /** the claim naming the user: `sub` (Flask-JWT-Extended) or `identity` (Flask-JWT) */
  readonly identityClaim: string;
  /** epoch ms from which the old tokens are refused */
  readonly until: number;
  readonly issuer: string | null;
  readonly audience: string | null;
}

/** DATABASE_URL -> --database-url */
export const flagName = (name: SettingName): string => name.toLowerCase().replaceAll('_', '-');

/** The parseArgs option table for every setting's flag, for commands that take them. */
export function configFlagOptions(): Record<string, { type: 'string' | 'boolean' }> {
  return Object.fromEntries((Object.keys(SETTINGS) as SettingName[]).map((n) => [flagName(n), { type: SETTINGS[n].flagKind }]));
}

export type FlagValues = Readonly<Record<string, string | boolean | undefined>>;

/**
 * Reads every setting from CLI flags (parsed with configFlagOptions), then the environment, then the default; validates
 * each and the combinations; returns a deep-frozen Config or throws ConfigError naming
 * the variable. Misuse fails here, before listen() (STYLE.md §4.6).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: FlagValues = {}): Config {
  const raw = (name: SettingName): string | undefined => {
    const flag = flags[flagName(name)];
    const v = flag === undefined ? env[name] : String(flag);
    return v === undefined || v === '' ? (SETTINGS[name] as Setting<unknown>).default : v;
  };
  const get = <K extends SettingName>(name: K): SettingValue<K> => {
    const text = raw(name);
    if (text === undefined) throw new ConfigError(name, 'is required');
    const value = SETTINGS[name].parse(text) as SettingValue<K> | { invalid: string };
    if (typeof value === 'object' && value !== null && 'invalid' in value) throw new ConfigError(name, value.invalid);
    return value;
  };
  const optional = <K extends SettingName>(name: K): SettingValue<K> | null => (raw(name) === undefined ? null : get(name));

  const alg = get('JWT_ALG');
  const secret = optional('JWT_SECRET');
  if (alg === 'HS256') {
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output (256 bits).
    if (secret === null) throw new ConfigError('JWT_SECRET', 'is required when JWT_ALG=HS256');
    if (Buffer.byteLength(secret, 'utf8') < 32) throw new ConfigError('JWT_SECRET', 'must be at least 32 bytes for HS256');
  }
  const accessMs = get('ACCESS_TTL');
  const refreshMs = get('REFRESH_TTL');
  if (refreshMs <= accessMs) throw new ConfigError('REFRESH_TTL', 'must be longer than ACCESS_TTL');
  // Both or neither; the files must make a usable pair now, not at the first handshake.
  const tlsCert = optional('TLS_CERT');
  const tlsKey = optional('TLS_KEY');
  if (tlsCert === null && tlsKey !== null) throw new ConfigError('TLS_CERT', 'is required when TLS_KEY is set');
  if (tlsKey === null && tlsCert !== null) throw new ConfigError('TLS_KEY', 'is required when TLS_CERT is set');
  const tls = tlsCert !== null && tlsKey !== null ? { certFile: resolve(tlsCert), keyFile: resolve(tlsKey) } : null;
  if (tls) readTlsPair(tls);
  // Served over HTTPS, cookies are Secure whatever COOKIE_SECURE says.
  const cookieSecure = get('COOKIE_SECURE');
  const secure = tls !== null || cookieSecure;
  const sameSite = get('COOKIE_SAMESITE');
  if (sameSite === 'none' && !secure) {
    throw new ConfigError('COOKIE_SAMESITE', 'none requires COOKIE_SECURE=true (browsers drop such cookies)');
  }

  const concurrency = get('ARGON2_CONCURRENCY');
  const argon2 = {
    memoryCost: get('ARGON2_MEMORY'),
    timeCost: get('ARGON2_ITERATIONS'),
    parallelism: get('ARGON2_PARALLELISM'),
    concurrency: concurrency === 'auto' ? Math.max(1, availableParallelism() - 1) : concurrency,
    nice: get('ARGON2_NICE'),
  };
  if (argon2.memoryCost < 8 * argon2.parallelism) {
    throw new ConfigError('ARGON2_MEMORY', `must be at least 8 KiB per lane (${8 * argon2.parallelism} for ARGON2_PARALLELISM=${argon2.parallelism})`);
  }

  const host = get('HOST');
  const port = get('PORT');
  const lockoutMs = get('LOGIN_LOCKOUT');
  const lockoutMaxMs = get('LOGIN_LOCKOUT_MAX');
  if (lockoutMaxMs < lockoutMs) throw new ConfigError('LOGIN_LOCKOUT_MAX', 'must not be shorter than LOGIN_LOCKOUT');

  const databaseUrl = get('DATABASE_URL');
  const listen = optional('DATABASE_LISTEN_URL');
  if (listen !== null && listen !== 'off' && listen.startsWith('sqlite:')) throw new ConfigError('DATABASE_LISTEN_URL', 'must be a postgres:// URL or "off"');

  const metricsPort = optional('METRICS_PORT');
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === port) throw new ConfigError('METRICS_PORT', 'must differ from PORT');

  const publicUrl = optional('PUBLIC_URL') ?? `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const webauthn = webauthnSettings(optional('WEBAUTHN_RP_ID'), optional('WEBAUTHN_ORIGIN'), publicUrl);

  const config: Config = {
    host,
    port,
    tls,
    databaseUrl,
    database: {
      poolMax: get('DATABASE_POOL_MAX'),
      statementTimeoutMs: get('DATABASE_STATEMENT_TIMEOUT'),
      listenUrl: databaseUrl.startsWith('sqlite:') ? null : listen === 'off' ? null : (listen ?? databaseUrl),
    },
    corsOrigins: get('CORS_ORIGINS'),
    jwt: {
      alg,
      secret: alg === 'HS256' ? secret : null,
      // RFC 8414 §2: the issuer is the server's URL, so by default PUBLIC_URL; JWT_ISSUER still wins
      issuer: optional('JWT_ISSUER') ?? publicUrl,
      audience: get('JWT_AUDIENCE'),
      leewaySec: Math.floor(get('JWT_LEEWAY') / 1000),
      accessTtlSec: Math.floor(accessMs / 1000),
      previousSecrets: alg === 'HS256' ? get('JWT_SECRET_PREVIOUS') : [],
      freshLoginSec: Math.floor(get('FRESH_LOGIN_WINDOW') / 1000),
    },
    refreshTtlSec: Math.floor(refreshMs / 1000),
    session: {
      idleTtlSec: Math.floor(Math.min(get('SESSION_IDLE_TTL'), refreshMs) / 1000),
      reuseGraceSec: Math.floor(get('REFRESH_REUSE_GRACE') / 1000),
    },
    trustProxy: get('TRUST_PROXY'),
    throttle: {
      maxAccountFailures: get('LOGIN_MAX_FAILURES'),
      maxIpFailures: get('LOGIN_IP_MAX_FAILURES'),
      lockoutMs,
      lockoutMaxMs,
      authRatePerMinute: get('AUTH_RATE_LIMIT'),
    },
    mail: {
      publicUrl,
      smtpUrl: optional('SMTP_URL'),
      from: get('MAIL_FROM'),
      outboxDir: get('OUTBOX_DIR'),
      resetTtlSec: Math.floor(get('RESET_TOKEN_TTL') / 1000),
      confirmTtlSec: Math.floor(get('CONFIRM_TOKEN_TTL') / 1000),
    },
    webauthn,
    cookie: { secure, sameSite },
    demo: get('DEMO'),
    logLevel: get('LOG_LEVEL'),
    logFormat: get('LOG_FORMAT'),
    argon2,
    bodyLimit: get('BODY_LIMIT'),
    revocationPollMs: get('REVOCATION_POLL'),
    tokenCacheSize: get('TOKEN_CACHE_SIZE'),
    workers: resolveWorkers(get('WORKERS')),
    shutdownTimeoutMs: get('SHUTDOWN_TIMEOUT'),
    metrics: { token: optional('METRICS_TOKEN'), port: metricsPort },
    keyEncryptionKey: optional('KEY_ENCRYPTION_KEY'),
    keyRotationAgeMs: get('KEY_ROTATION_AGE'),
    oidcProviders: get('OIDC_PROVIDERS'),
    legacyJwt: legacyJwtSettings(optional('LEGACY_JWT_SECRET'), optional('LEGACY_JWT_UNTIL'), () => ({
      alg: get('LEGACY_JWT_ALG'),
      identityClaim: get('LEGACY_JWT_IDENTITY'),
      issuer: optional('LEGACY_JWT_ISSUER'),
      audience: optional('LEGACY_JWT_AUDIENCE'),
    })),
  };
  return deepFreeze(config);
}

/**
 * The cut-over from an old Flask app: off without a secret; with one, a date is required,
 * so that accepting the old tokens always ends (a secret of an app being retired is bound
 * to leak some day). A date alone is a mistake too: it would silently do nothing.
 */
function legacyJwtSettings(
  secret: string | null,
  until: number | null,
  rest: () => Pick<LegacyJwtConfig, 'alg' | 'identityClaim' | 'issuer' | 'audience'>,
): LegacyJwtConfig | null {
  if (secret === null) {
    if (until !== null) throw new ConfigError('LEGACY_JWT_SECRET', 'is required when LEGACY_JWT_UNTIL is set');
    return null;
  }
  if (until === null) throw new ConfigError('LEGACY_JWT_UNTIL', 'is required when LEGACY_JWT_SECRET is set: the date from which the old tokens are refused');
  return { secret, until, ...rest() };
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

/** net.isIP, without compiling Node's large IPv6 pattern (~15 ms at start-up) for a host name that has no colon. */
const isIpAddress = (host: string): boolean => isIPv4(host) || (host.includes(':') && isIPv6(host));

/**
 * The origins passkeys are used from and the relying-party id. By default both come from
 * PUBLIC_URL; a loopback address there (the default http://127.0.0.1:8085) becomes
 * `localhost`, the same machine by name: an IP address cannot be an RP id, while
 * http://localhost is a secure context where browsers allow WebAuthn (W3C Secure Contexts
 * §3.1). Another IP address leaves passkeys off (rpId null) rather than stopping start-up.
 * What is set explicitly must work: every origin's host is the RP id or one of its
 * subdomains (W3C WebAuthn L3 §5.1.3 step 8), else one config line names the variable.
 */
function webauthnSettings(rpId: string | null, origins: readonly string[] | null, publicUrl: string): Config['webauthn'] {
  const byName = (raw: string): URL => {
    const url = new URL(raw);
    if (LOOPBACK.test(url.hostname)) url.hostname = 'localhost';
    return url;
  };
  const pages = (origins ?? [byName(publicUrl).origin]).filter((o) => o !== 'null');
  if (origins !== null && pages.length === 0) throw new ConfigError('WEBAUTHN_ORIGIN', 'must name at least one origin like https://app.example.com');
  const hosts = pages.map((o) => new URL(o).hostname);
  const id = rpId ?? (isIpAddress(hosts[0]!.replace(/^\[|\]$/g, '')) ? null : hosts[0]!);
  if (id === null) {
    if (origins !== null) throw new ConfigError('WEBAUTHN_ORIGIN', `names a host by IP address (${pages[0]}); set WEBAUTHN_RP_ID to a host name the pages are served under`);
    return { rpId: null, origins: pages };
  }
  for (const [i, host] of hosts.entries()) {
    if (host !== id && !host.endsWith(`.${id}`)) {
      const variable = rpId !== null ? 'WEBAUTHN_RP_ID' : 'WEBAUTHN_ORIGIN';
      throw new ConfigError(variable, `"${id}" must be the host of ${pages[i]} or a parent domain of it (W3C WebAuthn: the RP id is a registrable suffix of the page's host)`);
    }
  }
  return { rpId: id, origins: pages };
}

/** WORKERS=auto: one process per core the machine offers (at most 64). */
const resolveWorkers = (value: number | 'auto'): number => (value === 'auto' ? Math.min(64, Math.max(1, availableParallelism())) : value);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
