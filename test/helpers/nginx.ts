/**
 * What the TLS and reverse-proxy tests share: certificates made with Debian's openssl (a
 * test CA and leaf certificates for 127.0.0.1/localhost), an HTTPS client that trusts
 * that CA and can connect from a chosen loopback address, and Debian's nginx run on a
 * private prefix with the configuration printed in docs/deploy.md (issue #9 part 5).
 */
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, type Agent } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { stopProcess, waitForPort } from './process.ts';
import { ROOT } from './server.ts';

// ---------------------------------------------------------------------------------------
// Certificates

export interface IssuedCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** SHA-256 fingerprint as node prints it (AB:CD:…) */
  readonly fingerprint256: string;
}

export interface TestCa {
  /** the CA certificate (PEM) clients trust */
  readonly ca: Buffer;
  readonly caFile: string;
  /** a new key and a certificate for 127.0.0.1 and localhost, signed by the CA: `<dir>/<name>.pem|.key` */
  issue(name: string): IssuedCert;
}

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** A throw-away CA in `dir` (P-256 keys: quick to make). */
export function makeTestCa(dir: string): TestCa {
  const caFile = join(dir, 'test-ca.pem');
  const caKey = join(dir, 'test-ca.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=bastion-test-ca', '-keyout', caKey, '-out', caFile);
  const ext = join(dir, 'leaf.ext');
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  return {
    ca: readFileSync(caFile),
    caFile,
    issue(name) {
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.pem`);
      const csr = join(dir, `${name}.csr`);
      openssl('req', ...ec, '-subj', `/CN=${name}`, '-keyout', keyFile, '-out', csr);
      openssl('x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', certFile);
      chmodSync(keyFile, 0o600);
      return { certFile, keyFile, fingerprint256: new X509Certificate(readFileSync(certFile)).fingerprint256 };
    },
  };
}

// ---------------------------------------------------------------------------------------
// HTTPS client (node:https: global fetch cannot be given a CA or a local address)

export interface HttpsInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** sent as JSON */
  readonly json?: unknown;
  /** the CA to trust (nothing else is) */
  readonly ca: Buffer;
  /** the loopback address to connect from (default: the kernel's choice, 127.0.0.1) */
  readonly localAddress?: string;
  /** a keep-alive agent to reuse connections; default: a new connection, closed after */
  readonly agent?: Agent;
}

export interface HttpsResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** name/value pairs as received, duplicates kept */
  readonly rawHeaders: readonly string[];
  readonly text: string;
  json(): any;
  readonly setCookies: readonly string[];
  /** the certificate the server presented on this connection */
  readonly peerFingerprint256: string;
  /** whether the request went over a connection opened earlier */
  readonly reusedSocket: boolean;
}

export function httpsCall(url: string, init: HttpsInit): Promise<HttpsResult> {
  const body = init.json === undefined ? undefined : JSON.stringify(init.json);
  const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: init.method ?? 'GET',
        headers,
        ca: init.ca,
        agent: init.agent ?? false,
        ...(init.localAddress ? { localAddress: init.localAddress } : {}),
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            text,
            json: () => JSON.parse(text),
            setCookies: res.headers['set-cookie'] ?? [],
            peerFingerprint256: peer.fingerprint256,
            reusedSocket: req.reusedSocket,
          });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${init.method ?? 'GET'} ${url}: no answer within 30 s`)));
    req.end(body);
  });
}

/** How many times a header was sent (node joins most duplicates into one value). */
export const headerCount = (res: HttpsResult, name: string): number =>
  res.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === name.toLowerCase()).length;

// ---------------------------------------------------------------------------------------
// nginx

export const NGINX = '/usr/sbin/nginx';
export const DEPLOY_DOC = join(ROOT, 'docs/deploy.md');

/** The one ```nginx block of docs/deploy.md, exactly as printed there. */
export function deployNginxConfig(): string {
  const blocks = [...readFileSync(DEPLOY_DOC, 'utf8').matchAll(/^```nginx\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  if (blocks.length !== 1) throw new Error(`docs/deploy.md must hold exactly one \`\`\`nginx block (found ${blocks.length})`);
  return blocks[0]!;
}

/** Fills every {{NAME}}; a placeholder without a value, or a value without a placeholder, is an error. */
export function fillPlaceholders(template: string, values: Readonly<Record<string, string>>): string {
  const names = new Set([...template.matchAll(/\{\{([A-Z_]+)\}\}/g)].map((m) => m[1]!));
  const missing = [...names].filter((n) => !(n in values));
  const unused = Object.keys(values).filter((n) => !names.has(n));
  if (missing.length > 0 || unused.length > 0) {
    throw new Error(`nginx template placeholders: missing values for ${missing.join(', ') || '-'}; unknown ${unused.join(', ') || '-'}`);
  }
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_m, name: string) => values[name]!);
}

export interface RunningNginx {
  /** its prefix: nginx.conf, pid, logs, temp paths */
  readonly dir: string;
  /** the configuration it runs */
  readonly config: string;
  /** error.log and what nginx printed */
  log(): string;
  /** SIGTERM (nginx's fast shutdown), SIGKILL after 10 s; removes its directory */
  stop(): Promise<void>;
}


/**
 * Runs `template` (placeholders filled from `values`, plus {{RUN_DIR}}: a new private
 * prefix) in the foreground, as root, as DESIGN.md §5 says; resolves once every port in
 * `ports` accepts connections.
 */
export async function startNginx(template: string, values: Readonly<Record<string, string>>, ports: readonly number[]): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-nginx-'));
  // workers drop root (user nobody): they must reach the temp paths inside
  chmodSync(dir, 0o755);
  const config = fillPlaceholders(template, { ...values, RUN_DIR: dir });
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, config);
  let out = '';
  const log = () => {
    let errorLog = '';
    try {
      errorLog = readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      errorLog = '';
    }
    return `${out}${errorLog}`;
  };
  try {
    execFileSync(NGINX, ['-t', '-q', '-p', dir, '-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx -t refused the configuration from docs/deploy.md:\n${stderr}\n${config}`);
  }
  const child = spawn(NGINX, ['-p', dir, '-c', confFile, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // never outlive the test file (a left-over master would keep its ports); SIGTERM, not
  // SIGKILL: the master takes its workers down with it
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    await stopProcess(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await waitForPort('nginx', port, child, log, 15_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, config, log, stop };
}
