/**
 * `--url`: what a running instance shows a client. Two plain GETs, neither authenticated
 * nor writing anything: /healthz (reachable? its clock; does it trust this client as a
 * proxy?) and /metrics (public?).
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Config } from '../config/load.ts';
import { maskUrl } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import { METRICS_FIX } from './config-checks.ts';
import { skewFinding } from './database.ts';
import { error, type Finding } from './findings.ts';

const TIMEOUT_MS = 10_000;

export type InstanceProbe =
  | { readonly reachable: false; readonly reason: string }
  | {
      readonly reachable: true;
      /** the instance's clock minus this machine's (ms), from its Date header, and how far off that may be */
      readonly clock: { readonly offsetMs: number; readonly uncertaintyMs: number } | null;
      /** it answered with the X-Request-Id this client made up */
      readonly trustsClientAsProxy: boolean;
      /** GET /metrics without credentials answered 200 with Prometheus text */
      readonly metricsPublic: boolean;
    };

const at = (base: string, path: string): string => `${base.replace(/\/+$/, '')}${path}`;

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One GET, redirects not followed, the certificate verified. node:http rather than fetch:
 * fetch refuses the ports the Fetch standard calls "bad" (1, 6000, 10080, …), which an
 * instance may still listen on.
 */
function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', headers, timeout: TIMEOUT_MS, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        // enough to recognise Prometheus text; the rest is not read into memory
        if (body.length < 65_536) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

const reasonOf = (err: unknown): string => {
  const { code, message } = err as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : typeof message === 'string' ? message : String(err);
};

export async function probeInstance(url: string, clock: Clock): Promise<InstanceProbe> {
  // Made up here, so an echo can only come from the instance taking this client's header.
  const probeId = `bastion-doctor-${randomUUID()}`;
  let health: Answer;
  const sent = clock.now();
  try {
    health = await get(at(url, '/healthz'), { 'x-request-id': probeId });
  } catch (err) {
    return { reachable: false, reason: reasonOf(err) };
  }
  const received = clock.now();
  const date = Date.parse(String(health.headers.date ?? ''));
  let metricsPublic = false;
  try {
    const metrics = await get(at(url, '/metrics'));
    metricsPublic = metrics.status === 200 && /^# (HELP|TYPE) \w+/m.test(metrics.body);
  } catch {
    metricsPublic = false; // reachable a moment ago; a failure here shows nothing about /metrics
  }
  return {
    reachable: true,
    // The Date header has whole seconds, cut down (RFC 9110 §6.6.1): the instance's time
    // was in [date, date + 1 s) when it answered, some time within the round trip.
    clock: Number.isNaN(date) ? null : { offsetMs: date + 500 - (sent + received) / 2, uncertaintyMs: 500 + (received - sent) / 2 },
    trustsClientAsProxy: health.headers['x-request-id'] === probeId,
    metricsPublic,
  };
}

/**
 * Findings from a probe. `dbClock`: the database's clock against this machine's (PostgreSQL);
 * with it the instance is compared with the database, which every instance shares (the
 * clock this machine has then drops out); without it, with this machine.
 */
export function instanceFindings(config: Config, rawUrl: string, probe: InstanceProbe, dbClock: { offsetMs: number; uncertaintyMs: number } | null): Finding[] {
  const url = maskUrl(rawUrl.replace(/\/+$/, '')); // a password in the URL is never printed
  if (!probe.reachable) {
    return [error('instance', `cannot reach ${url}: ${probe.reason}; the checks of the running instance did not run`, 'check the URL, and that the instance is up (GET /healthz answers 200)')];
  }
  const findings: Finding[] = [];
  if (probe.clock) {
    const skew = dbClock
      ? skewFinding(`the instance at ${url} and the database have clocks that`, probe.clock.offsetMs - dbClock.offsetMs, probe.clock.uncertaintyMs + dbClock.uncertaintyMs, config.jwt.leewaySec)
      : skewFinding(`the instance at ${url} and this machine have clocks that`, probe.clock.offsetMs, probe.clock.uncertaintyMs, config.jwt.leewaySec);
    if (skew) findings.push(skew);
  }
  // The instance takes an incoming X-Request-Id only from a peer TRUST_PROXY trusts (the
  // same decision that lets that peer's X-Forwarded-For set the client address; http/
  // logging.ts trustsPeer), and a proxy set up as docs/deploy.md says replaces the header
  // with its own id. So the id this client made up coming back means the instance trusts
  // this client as its proxy: nothing in front, or a proxy passing client headers through.
  // With TRUST_PROXY naming addresses, the echo only says this client runs at one of them
  // (on the proxy's host, say), which is expected there.
  if (probe.trustsClientAsProxy && !Array.isArray(config.trustProxy)) {
    findings.push(
      error(
        'trust-proxy',
        `${url} trusts this client as its proxy (it took the X-Request-Id sent here): TRUST_PROXY is set with no proxy in front, or one that passes client headers through, so any client chooses its own address with X-Forwarded-For and escapes the per-IP lockout and rate limit`,
        'with no proxy, set TRUST_PROXY=false; behind one, make it set X-Forwarded-For $remote_addr and X-Request-Id $request_id (docs/deploy.md, "Behind nginx") and set TRUST_PROXY to its address',
      ),
    );
  }
  if (probe.metricsPublic) {
    findings.push(error('metrics-public', `${url}/metrics answers anyone with the server's metrics (routes, traffic, login outcomes)`, METRICS_FIX));
  }
  return findings;
}
