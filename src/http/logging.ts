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
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { DestinationStream } from 'pino';
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
  readonly options: Pick<FastifyServerOptions, 'logger' | 'logController' | 'genReqId' | 'requestIdHeader'>;
  /** said once through the logger when it exists */
  readonly warning: string | null;
}

/** Pretty mode: no "incoming request" line, and one short line per completed request. */
class ShortRequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const line = `${request.method} ${request.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`;
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

/**
 * Says the fallback warning, if any, and echoes the request id on every response (also
 * errors, 404s and rate-limited answers: onSend runs for each).
 */
export function installRequestLogging(app: FastifyInstance, logging: Logging): void {
  if (logging.warning) app.log.warn(logging.warning);
  app.addHook('onSend', (request, reply, payload, done) => {
    echoRequestId(request, reply);
    done(null, payload);
  });
}

export function echoRequestId(request: FastifyRequest, reply: FastifyReply): void {
  reply.header(REQUEST_ID_HEADER, request.id);
}
