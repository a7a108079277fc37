/**
 * HTTPS served by Bastion itself (TLS_CERT / TLS_KEY, PEM files): reading and checking the
 * pair, the server options buildApp hands to Fastify, and SIGHUP re-reading the files into
 * the running server. `tls.Server#setSecureContext` changes what new handshakes get;
 * connections already open keep the certificate they negotiated and are never dropped.
 * A new pair that cannot be read or used is refused with one error line and the current
 * certificate stays.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer, ServerOptions as HttpsOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { ConfigError } from '../config/errors.ts';

export interface TlsFiles {
  /** PEM certificate, followed by its intermediates */
  readonly certFile: string;
  /** PEM private key of that certificate (unencrypted) */
  readonly keyFile: string;
}

export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** "ENOENT: no such file or directory, open '/x'" -> "ENOENT: no such file or directory" (the path is in the line already) */
const fsReason = (err: unknown): string => (err instanceof Error ? err.message.replace(/, \w+( '.*')?$/s, '') : String(err));

function readPem(variable: string, path: string, label: RegExp, what: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new ConfigError(variable, `cannot read ${path} (${fsReason(err)})`);
  }
  if (!label.test(data.toString('latin1'))) throw new ConfigError(variable, `${path} holds no PEM ${what}`);
  return data;
}

/**
 * Reads both files and checks that they make a usable pair; throws a ConfigError naming
 * the setting at fault (TLS_CERT for the certificate, TLS_KEY for the key or a mismatch).
 */
export function readTlsPair(files: TlsFiles): TlsPair {
  const cert = readPem('TLS_CERT', files.certFile, /-----BEGIN CERTIFICATE-----/, 'certificate (-----BEGIN CERTIFICATE-----)');
  const key = readPem('TLS_KEY', files.keyFile, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key (-----BEGIN PRIVATE KEY-----)');
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError('TLS_CERT', `${files.certFile} is not a valid certificate (${err instanceof Error ? err.message : String(err)})`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key.toString('latin1'))) {
    throw new ConfigError('TLS_KEY', `${files.keyFile} is encrypted; give an unencrypted key (readable by Bastion only)`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError('TLS_KEY', `${files.keyFile} cannot be used with TLS_CERT (${err instanceof Error ? err.message : String(err)})`);
  }
  return { cert, key };
}

/** What the logs say about a certificate: never the key. */
export function describeCertificate(cert: Buffer): { subject: string; fingerprint256: string; valid_to: string } {
  const x509 = new X509Certificate(cert);
  return { subject: x509.subject.replaceAll('\n', ', '), fingerprint256: x509.fingerprint256, valid_to: x509.validTo };
}

/**
 * Fastify's `https` option: the pair plus the HTTP options the plain server gets (Fastify
 * passes its `http` option only to http.createServer, so what matters is repeated here).
 */
export function httpsOptions(files: TlsFiles, http: Pick<HttpsOptions, 'requireHostHeader'>): HttpsOptions {
  return { ...readTlsPair(files), ...http };
}

/**
 * The servers accepting connections: Fastify's main one, plus the ones it opens for the
 * other addresses a host name resolves to (HOST=localhost: 127.0.0.1 and ::1), which it
 * keeps under this symbol.
 */
function listeningServers(app: FastifyInstance): HttpsServer[] {
  const bindings = Object.getOwnPropertySymbols(app).find((s) => s.description === 'fastify.serverBindings');
  const extra = bindings ? ((app as unknown as Record<symbol, unknown>)[bindings] as HttpsServer[] | undefined) : undefined;
  return [app.server as unknown as HttpsServer, ...(Array.isArray(extra) ? extra : [])];
}

/** Re-reads the pair into the running servers; on any failure logs one error line and keeps the current one. */
export function reloadCertificate(app: FastifyInstance, files: TlsFiles): boolean {
  let pair: TlsPair;
  try {
    pair = readTlsPair(files);
    for (const server of listeningServers(app)) server.setSecureContext(pair);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    app.log.error({ err: { message } }, 'TLS reload failed; still serving the previous certificate');
    return false;
  }
  app.log.info({ tls: describeCertificate(pair.cert) }, 'TLS certificate reloaded');
  return true;
}

/**
 * SIGHUP reloads the certificate while the app listens: the listener is added when it
 * starts listening and removed when it closes, so an app that is only injected into (tests)
 * or has closed leaves no trace on the process.
 */
export function reloadOnSighup(app: FastifyInstance, files: TlsFiles): void {
  const onSighup = () => void reloadCertificate(app, files);
  app.addHook('onListen', async () => {
    process.on('SIGHUP', onSighup);
  });
  app.addHook('onClose', async () => {
    process.off('SIGHUP', onSighup);
  });
}
