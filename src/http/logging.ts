/**
 * Logs and request ids.
 *  - LOG_FORMAT=json: one JSON object per line (production); Fastify's own request lines.
 *  - LOG_FORMAT=pretty: pino-pretty, one readable line per log call and one short line per
 *    completed request (method, url, status, time). pino-pretty is a development
 *    dependency: loaded only here, and when it is missing (a production install) the logs
 *    stay JSON with one warning line.
 *  - LOG_FORMAT=auto: pretty when stdout is a terminal, else JSON.
 * Every line logged for a request carries `req_id`, and every response echoes it as
 * X-Request-Id. An incoming X-Request-Id is taken only from a proxy that TRUST_PROXY names,
 * and only when it is printable ASCII of at most 128 characters; otherwise a UUID is made.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv6 } from 'node:net';
import { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'fastify/types/logger.js';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from '../config/load.ts';

export const REQUEST_ID_HEADER = 'x-request-id';
/** the field that carries the request id on every log line of a request */
export const REQUEST_ID_LOG_LABEL = 'req_id';

/** No spaces or control characters: safe in a header and on a log line. */
const VALID_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Whether the direct peer is a proxy TRUST_PROXY names (the hop Fastify's trustProxy calls 0):
 * `true`, a hop count of at least 1, or an address in the list.
 */
export function trustsPeer(trustProxy: Config['trustProxy']): (address: string | undefined) => boolean {
  if (typeof trustProxy === 'boolean') return () => trustProxy;
  if (typeof trustProxy === 'number') return () => trustProxy > 0;
  const list = new BlockList();
  for (const entry of trustProxy) {
    const [ip = '', bits] = entry.split('/');
    const family = isIPv6(ip) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(bits), family);
  }
  return (address) => {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    return mapped ? list.check(mapped, 'ipv4') : list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  };
}

/** Fastify's genReqId: the trusted proxy's X-Request-Id when it is valid, else a new UUID. */
export function requestIdGenerator(trustProxy: Config['trustProxy']): (req: IncomingMessage) => string {
  const trusted = trustsPeer(trustProxy);
  return (req) => {
    const incoming = req.headers[REQUEST_ID_HEADER];
    if (typeof incoming === 'string' && VALID_REQUEST_ID.test(incoming) && trusted(req.socket?.remoteAddress)) return incoming;
    return randomUUID();
  };
}

export interface Logging {
  /** spread into Fastify's options */
  readonly options: Pick<FastifyServerOptions, 'logger' | 'logController' | 'genReqId' | 'requestIdHeader' | 'childLoggerFactory'>;
  /** said once through the logger when it exists */
  readonly warning: string | null;
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LogFn = (...args: unknown[]) => void;

/**
 * A request's logger, made when it first writes. Fastify gives every request a pino
 * child carrying its req_id; making one costs more than the rest of a cached, guarded
 * request (pino serialises and redacts the bindings), and at LOG_LEVEL=warn most requests
 * never write a line. Levels below the logger's are dropped without making the child.
 */
class LazyChildLogger {
  #child: Logger | null = null;
  constructor(
    private readonly parent: Logger,
    private readonly bindingsOf: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get real(): Logger {
    return (this.#child ??= this.parent.child(this.bindingsOf, this.options));
  }

  private write(level: Level, args: unknown[]): void {
    if (this.isLevelEnabled(level)) (this.real[level] as LogFn)(...args);
  }

  get level(): string {
    return this.#child?.level ?? this.options.level ?? this.parent.level;
  }
  set level(value: string) {
    this.real.level = value;
  }
  isLevelEnabled(level: string): boolean {
    return this.#child ? this.#child.isLevelEnabled(level) : this.parent.isLevelEnabled(level);
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real.child(bindings, options);
  }
  bindings(): Bindings {
    return this.real.bindings();
  }
}

function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  // a route's own logLevel (e.g. /metrics) makes a real child: its level differs from the parent's
  if (options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options);
  return new LazyChildLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger;
}

/** Pretty mode: no "incoming request" line, and one short line per completed request. */
class ShortRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    // the path only: a query string may carry secrets (an OIDC callback's code and state)
    const path = request.url.split('?', 1)[0];
    const line = `${request.method} ${path} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`;
    if (error) reply.log.error({ err: error }, line);
    else reply.log.info(line);
  }
}

type PrettyFactory = (options: Record<string, unknown>) => DestinationStream;

/** pino-pretty, or null when it is not installed. */
async function loadPretty(): Promise<PrettyFactory | null> {
  try {
    const mod = (await import('pino-pretty')) as unknown as { default: PrettyFactory };
    return mod.default;
  } catch {
    return null;
  }
}

/**
 * Logger options for Fastify. `redactPaths` never reach a log line, in either format (pino
 * redacts before pino-pretty sees the line). `logStream` (tests) replaces stdout and makes
 * `auto` mean JSON.
 */
export async function loggingOptions(config: Config, redactPaths: readonly string[], logStream?: DestinationStream): Promise<Logging> {
  const wanted = config.logFormat === 'auto' ? (!logStream && process.stdout.isTTY ? 'pretty' : 'json') : config.logFormat;
  const pretty = wanted === 'pretty' ? await loadPretty() : null;
  const base = { level: config.logLevel, redact: { paths: [...redactPaths], censor: '[redacted]' } };
  const ids = {
    childLoggerFactory: lazyChildLogger,
    genReqId: requestIdGenerator(config.trustProxy),
    // the header is read by genReqId, which checks who sent it
    requestIdHeader: false as const,
  };
  if (pretty) {
    const stream = pretty({
      destination: logStream ?? 1,
      sync: true,
      ...(logStream ? { colorize: false } : {}),
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: `pid,hostname,${REQUEST_ID_LOG_LABEL}`,
      messageFormat: `{if ${REQUEST_ID_LOG_LABEL}}[{${REQUEST_ID_LOG_LABEL}}] {end}{msg}`,
      singleLine: true,
    });
    const logController = new ShortRequestLog({ requestIdLogLabel: REQUEST_ID_LOG_LABEL });
    return { options: { logger: { ...base, stream }, logController, ...ids }, warning: null };
  }
  return {
    options: {
      logger: { ...base, ...(logStream ? { stream: logStream } : {}) },
      logController: new LogController({ requestIdLogLabel: REQUEST_ID_LOG_LABEL }),
      ...ids,
    },
    // `auto` falls back quietly; an explicit pretty says why it did not happen
    warning:
      wanted === 'pretty' && config.logFormat === 'pretty'
        ? 'LOG_FORMAT=pretty: pino-pretty is not installed (a production install leaves out dev dependencies); logging JSON'
        : null,
  };
}

/** Says the fallback warning, if any. (The request id is echoed by http/plugins/security.ts with the other headers.) */
export function installRequestLogging(app: FastifyInstance, logging: Logging): void {
  if (logging.warning) app.log.warn(logging.warning);
}
