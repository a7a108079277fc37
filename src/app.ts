/**
 * buildApp(config) -> a ready Fastify instance that never listens (fastify Testing.md):
 * `main` listens, tests inject. openServices wires the domain to the store.
 */
import cluster from 'node:cluster';
import cookie from '@fastify/cookie';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { DestinationStream } from 'pino';
import type { Config } from './config/load.ts';
import { AppError } from './errors/app-error.ts';
import { installErrorHandling, sendError, toAppError } from './errors/http.ts';
import authPlugin from './http/plugins/auth.ts';
import { addCorsHeaders, registerCors } from './http/plugins/cors.ts';
import { registerDocs } from './http/plugins/docs.ts';
import { registerMetrics } from './http/plugins/metrics.ts';
import { AUTH_WINDOW_MS, installResponseHeaders, registerAuthRateLimit } from './http/plugins/security.ts';
import { registerWeb } from './http/plugins/web.ts';
import { httpsOptions, reloadOnSighup } from './http/tls.ts';
import { rejectNulCharacters } from './http/plugins/input.ts';
import { schemaCompilers } from './http/schema-compilers.ts';
import { installRequestLogging, loggingOptions } from './http/logging.ts';
import { installDrainGate } from './server/gate.ts';
import { accountRoutes } from './http/routes/account.ts';
import { adminRoutes } from './http/routes/admin.ts';
import { authRoutes } from './http/routes/auth.ts';
import { opsRoutes } from './http/routes/ops.ts';
import { discoveryRoutes } from './http/routes/discovery.ts';
import { personRoutes } from './http/routes/persons.ts';
import { seedRoutes } from './http/routes/seeds.ts';
import { mfaRoutes } from './http/routes/mfa.ts';
import { MfaService } from './mfa/service.ts';
import { PasskeyService } from './passkeys/service.ts';
import { recoveryRoutes } from './http/routes/recovery.ts';
import { passkeyRoutes } from './http/routes/passkeys.ts';
import { oidcRoutes } from './http/routes/oidc.ts';
import { oauthRoutes } from './http/routes/oauth.ts';
import { revocationFeedRoutes } from './http/routes/revocations.ts';
import { OidcProviders } from './oidc/providers.ts';
import { OidcService } from './oidc/service.ts';
import { ClientService } from './oauth/clients.ts';
import { OAuthService } from './oauth/service.ts';
import { createMailer } from './mail/mailer.ts';
import { RecoveryService } from './recovery/service.ts';
import { AuditLog } from './audit/log.ts';
import { KeyService } from './keys/service.ts';
import { KeyEncryptionKey } from './keys/wrap.ts';
import { LoginThrottle } from './throttle/login.ts';
import { databaseRateLimitStore } from './throttle/rate-limit-store.ts';
import { systemClock, type Clock } from './lib/clock.ts';
import type { Services } from './services.ts';
import { LegacyTokens } from './sessions/legacy.ts';
import { RevocationList } from './sessions/revocation.ts';
import { SessionService } from './sessions/service.ts';
import { migrate, openDb, type DbHandle } from './storage/db.ts';
import { connectFailure } from './storage/errors.ts';
import { ConfigError } from './config/errors.ts';
import { maskUrl } from './config/schema.ts';
import { seedDemo } from './users/demo.ts';
import { UserService } from './users/service.ts';

export const VERSION = '0.1.0';

/** How often each instance re-reads the signing keys (rotations made elsewhere, expired overlaps). */
const KEY_RELOAD_MS = 30_000;

export interface ServiceLog {
  warn(obj: object, msg: string): void;
}

const silentLog: ServiceLog = { warn: () => undefined };

/**
 * Opens the database, applies migrations, loads keys and revocations, seeds demo data if
 * asked. A database that cannot be reached stops here with one line naming DATABASE_URL.
 */
export async function openServices(config: Config, clock: Clock = systemClock, log: ServiceLog = silentLog): Promise<Services> {
  const { store } = await openStore(config, log);
  try {
    const revocations = new RevocationList(store.db, clock);
    const kek = config.keyEncryptionKey === null ? null : KeyEncryptionKey.fromBase64(config.keyEncryptionKey);
    // one line per start: a cluster's primary says it, not each worker again
    if (!kek && !config.demo && config.jwt.alg !== 'HS256' && !cluster.isWorker) {
      log.warn({ setting: 'KEY_ENCRYPTION_KEY' }, 'KEY_ENCRYPTION_KEY is not set: private signing keys are stored unencrypted, and a copy of the database can forge tokens');
    }
    const keys = new KeyService(store.db, config.jwt, clock, (kid, tx) => revocations.announceKeys(kid, keyOverlapMs(config), tx), kek);
    await keys.start(KEY_RELOAD_MS);
    await revocations.start({
      pollMs: config.revocationPollMs,
      notify: store.dialect === 'postgres' && config.database.listenUrl !== null,
      listenUrl: config.database.listenUrl,
      onKeysChanged: () => keys.reload(),
      onError: (err) => log.warn({ err: { message: err.message } }, 'revocation feed: read failed; retrying'),
    });
    const audit = new AuditLog(store.db, clock);
    const sessions = new SessionService(store.db, config, keys, revocations, clock, audit);
    const users = new UserService(store.db, config.argon2, clock, (userId) => sessions.revokeAccessTokens(userId), audit);
    const throttle = new LoginThrottle(store.db, clock, config.throttle);
    const passkeys = new PasskeyService(store.db, config, clock, audit, throttle, sessions);
    const mfa = new MfaService(store.db, clock, audit, throttle, passkeys);
    const recovery = new RecoveryService(store.db, config.mail, clock, users, sessions, audit, createMailer(config.mail, clock));
    const oidc = new OidcService(store.db, new OidcProviders(config.oidcProviders, clock), config.mail.publicUrl, clock, audit);
    const clients = new ClientService(store.db, config.jwt, clock, revocations, audit);
    const oauth = new OAuthService(store.db, config, clock, keys, sessions, revocations, clients, audit);
    const legacyTokens = config.legacyJwt ? new LegacyTokens(store.db, config.legacyJwt, config.jwt.leewaySec, revocations, clock, audit) : null;
    if (config.demo) await seedDemo(users);
    return { config, clock, store, keys, revocations, users, sessions, audit, throttle, recovery, mfa, oidc, passkeys, clients, oauth, legacyTokens };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Opens the database and applies pending migrations (returned by name). */
export async function openStore(config: Config, log: ServiceLog = silentLog): Promise<{ store: DbHandle; applied: string[] }> {
  let store: DbHandle;
  try {
    store = openDb(config.databaseUrl, {
      poolMax: config.database.poolMax,
      statementTimeoutMs: config.database.statementTimeoutMs,
      onIdleError: (err) => log.warn({ err: { message: err.message } }, 'database connection lost; reconnecting on next use'),
    });
  } catch (err) {
    // e.g. the sslrootcert file cannot be read, or the SQLite directory cannot be made
    throw new ConfigError('DATABASE_URL', `cannot open ${maskUrl(config.databaseUrl)}: ${connectFailure(config.databaseUrl, err).reason}`);
  }
  try {
    return { store, applied: await migrate(store) };
  } catch (err) {
    await store.close();
    throw unreachable(config.databaseUrl, err) ?? err;
  }
}

/** How long a retired key keeps verifying: every token it signed has expired by then. */
const keyOverlapMs = (config: Config) => (config.jwt.accessTtlSec + config.jwt.leewaySec) * 1000;

/** A start-up failure to reach the database, as one line naming DATABASE_URL (password masked). */
function unreachable(url: string, err: unknown): ConfigError | null {
  const { refused, reason } = connectFailure(url, err);
  return refused ? new ConfigError('DATABASE_URL', `cannot reach ${maskUrl(url)}: ${reason}`) : null;
}

export async function closeServices(services: Services): Promise<void> {
  await services.revocations.stop();
  services.keys.stop();
  await services.users.close();
  await services.store.close();
}

/**
 * What never reaches a log line (OWASP Logging Cheat Sheet): credentials in headers,
 * cookies and any body or object field that could carry a password or token.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.access_token',
  '*.refresh_token',
  '*.csrf_token',
  '*.token',
  '*.secret',
  '*.client_secret',
  '*.current_password',
  '*.new_password',
  '*.challenge_token',
  '*.recovery_code',
];

/** TRUST_PROXY=<n>: trust the nearest n proxies. */
const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops;

export interface BuildOptions {
  readonly clock?: Clock;
  /** where logs go (tests capture them); stdout when absent */
  readonly logStream?: DestinationStream;
  /** a team's own routes, registered with the guard available (see README "Protect your own routes") */
  readonly routes?: FastifyPluginAsync;
  /** compile every route schema while building (tests: a schema that cannot compile fails here, not on first use) */
  readonly eagerSchemas?: boolean;
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  // LOG_FORMAT, redaction, and request ids (X-Request-Id from a trusted proxy, else a UUID)
  const logging = await loggingOptions(config, REDACT_PATHS, options.logStream);
  let responseHeaders: ReturnType<typeof installResponseHeaders> = () => undefined;
  const app = Fastify({
    ...logging.options,
    bodyLimit: config.bodyLimit,
    // request.ip honours X-Forwarded-For only from proxies the operator named
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : typeof config.trustProxy === 'boolean' ? config.trustProxy : [...config.trustProxy],
    // Unknown fields are refused, not silently dropped, and types are not coerced:
    // a request means exactly what it says (ASVS 5.1.3 / 5.1.4).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // schemas compile on a route's first use (start-up time and memory; see the module)
    schemaController: { compilersFactory: schemaCompilers(options.eagerSchemas ?? false) },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    // while closing, requests reach the drain gate (server/gate.ts): 503 in the one shape
    return503OnClosing: false,
    // the missing-Host check is ours (errors/http.ts), so it answers in the one shape
    http: { requireHostHeader: false },
    // TLS_CERT/TLS_KEY: HTTPS served here (the http options above do not reach an https server)
    ...(config.tls ? { https: httpsOptions(config.tls, { requireHostHeader: false }) } : {}),
    // Bad percent-encoding and over-long path segments fail before routing: same shape.
    frameworkErrors: (err, request, reply) => {
      addCorsHeaders(reply, config.corsOrigins, request.headers.origin);
      responseHeaders(request, reply); // these replies skip the hooks
      sendError(reply, toAppError(err));
    },
    // Malformed HTTP (bad header bytes, bad request line) still answers in the one shape.
    clientErrorHandler: (_err, socket) => {
      const body = JSON.stringify({ code: 'bad_request', message: 'Malformed HTTP request' });
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  installRequestLogging(app, logging);
  responseHeaders = installResponseHeaders(app);

  const services = await openServices(config, options.clock ?? systemClock, app.log);
  app.decorate('services', services);
  app.addHook('onClose', async () => closeServices(services));
  try {
    await assemble(app, services, config, options);
    await app.ready();
  } catch (err) {
    // e.g. a route that cannot be registered: the database, its pool and timers must not outlive the failed build
    await closeServices(services).catch(() => undefined);
    throw err;
  }
  return app;
}

/** Hooks, parsers, plugins and routes, on an app whose services are open. */
async function assemble(app: FastifyInstance, services: Services, config: Config, options: BuildOptions): Promise<void> {
  installDrainGate(app);
  installErrorHandling(app);

  // JSON bodies: an empty body is "no body" (logout may be posted bare); the default
  // parser keeps its prototype-poisoning protection.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
    const body = raw.toString();
    if (body.trim() === '') return done(null, undefined);
    return parseJson(request, body, (err, value) => done(err ? new AppError('invalid_json', undefined, { cause: err }) : null, value));
  });

  rejectNulCharacters(app);
  await app.register(cookie);
  await registerAuthRateLimit(app, config.throttle.authRatePerMinute, databaseRateLimitStore(services.store.db, services.clock, AUTH_WINDOW_MS));
  registerMetrics(app, services);
  await registerCors(app, config.corsOrigins);
  await app.register(authPlugin, { sessions: services.sessions, freshLoginSec: config.jwt.freshLoginSec, clock: services.clock, legacy: services.legacyTokens });
  await registerDocs(app, VERSION);

  await app.register(opsRoutes(services));
  await app.register(discoveryRoutes(services));
  await app.register(authRoutes(services));
  await app.register(seedRoutes(services));
  await app.register(mfaRoutes(services));
  await app.register(personRoutes(services));
  await app.register(accountRoutes(services));
  await app.register(recoveryRoutes(services));
  await app.register(passkeyRoutes(services));
  await app.register(oidcRoutes(services));
  await app.register(adminRoutes(services));
  await app.register(oauthRoutes(services));
  await app.register(revocationFeedRoutes(services));
  await registerWeb(app);
  if (options.routes) await app.register(options.routes);
  if (config.tls) reloadOnSighup(app, config.tls);
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}
