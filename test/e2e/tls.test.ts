/**
 * TLS_CERT / TLS_KEY (issue #9 part 4), on the real `bastion serve`: it answers HTTPS with
 * the configured certificate, its cookies are Secure even with COOKIE_SECURE=false, SIGHUP
 * swaps the certificate without dropping open connections and keeps the current one when
 * the new files are broken, and bad files stop start-up with one line naming the setting.
 * Certificates come from Debian's openssl, for a CA the test makes and trusts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { tempDir } from '../helpers/app.ts';
import { testDatabaseUrl } from '../helpers/db.ts';
import { httpsCall, makeTestCa, type HttpsResult, type IssuedCert, type TestCa } from '../helpers/nginx.ts';
import { launchServer, runCli, type LaunchedServer } from '../helpers/server.ts';

type HttpsServer = LaunchedServer;

interface LogLine {
  level: number;
  msg: string;
  err?: { message: string };
  tls?: { fingerprint256: string; subject: string; valid_to: string };
}

const logLines = (server: HttpsServer): LogLine[] =>
  server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

/** Waits until `count` log lines have this message; returns them. */
async function waitForLog(server: HttpsServer, msg: string, count: number, timeoutMs = 20_000): Promise<LogLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = logLines(server).filter((l) => l.msg === msg);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`no ${count}× "${msg}" within ${timeoutMs} ms:\n${server.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const RELOADED = 'TLS certificate reloaded';
const RELOAD_FAILED = 'TLS reload failed; still serving the previous certificate';

describe('TLS_CERT / TLS_KEY: HTTPS served by Bastion', () => {
  let dir: string;
  let remove: () => void;
  let ca: TestCa;
  let first: IssuedCert;
  let second: IssuedCert;
  /** the files Bastion is pointed at; the test replaces their content */
  let live: { cert: string; key: string };
  let server: HttpsServer;

  /** Puts a pair in place as an operator should: each file under a temporary name, then renamed. */
  const install = (cert: string, key: string) => {
    copyFileSync(key, `${live.key}.new`);
    renameSync(`${live.key}.new`, live.key);
    copyFileSync(cert, `${live.cert}.new`);
    renameSync(`${live.cert}.new`, live.cert);
  };
  const get = (path: string, agent?: Agent): Promise<HttpsResult> => httpsCall(`${server.url}${path}`, { ca: ca.ca, ...(agent ? { agent } : {}) });

  before(async () => {
    ({ dir, remove } = tempDir('bastion-tls-'));
    ca = makeTestCa(dir);
    first = ca.issue('first');
    second = ca.issue('second');
    mkdirSync(join(dir, 'live'));
    live = { cert: join(dir, 'live', 'cert.pem'), key: join(dir, 'live', 'key.pem') };
    install(first.certFile, first.keyFile);
    server = await launchServer(
      { DATABASE_URL: testDatabaseUrl(dir), TLS_CERT: live.cert, TLS_KEY: live.key, COOKIE_SECURE: 'false', OUTBOX_DIR: join(dir, 'outbox') },
      ['--demo'],
    );
  });

  after(async () => {
    await server?.stop();
    remove?.();
  });

  test('answers HTTPS with the certificate of TLS_CERT, valid for 127.0.0.1 under the test CA; plain HTTP gets no answer', async () => {
    assert.match(server.url, /^https:\/\//);
    const res = await get('/healthz');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.peerFingerprint256, first.fingerprint256, 'the certificate served is the one in TLS_CERT');
    assert.match(String(res.headers['strict-transport-security'] ?? ''), /max-age=\d+/, 'HSTS is sent');
    await assert.rejects(fetch(`${server.url.replace('https:', 'http:')}/healthz`), 'a plain-HTTP request on the TLS port fails');
    assert.equal(server.child.exitCode, null, 'and the server is still up');
  });

  test('cookies are Secure although COOKIE_SECURE=false', async () => {
    const res = await httpsCall(`${server.url}/authenticate`, { method: 'POST', json: { email: 'kyle', password: 'p1' }, ca: ca.ca });
    assert.equal(res.status, 200, res.text);
    const names = res.setCookies.map((c) => c.split('=')[0]);
    assert.deepEqual(names.sort(), ['bastion_refresh', 'csrf_token', 'jwt']);
    for (const cookie of res.setCookies) assert.match(cookie, /;\s*Secure(;|$)/i, `Secure: ${cookie.split(';')[0]!.split('=')[0]}`);
  });

  test('SIGHUP after replacing the files: an open keep-alive connection keeps working, new connections get the new certificate', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get('/healthz', agent);
      assert.equal(before.status, 200);
      assert.equal(before.peerFingerprint256, first.fingerprint256);

      install(second.certFile, second.keyFile);
      const pid = server.child.pid;
      server.child.kill('SIGHUP');
      const [reloaded] = await waitForLog(server, RELOADED, 1);
      assert.equal(reloaded!.tls?.fingerprint256, second.fingerprint256, 'the reload logs the new fingerprint');
      assert.equal(reloaded!.level, 30);

      const open = await get('/healthz', agent);
      assert.equal(open.reusedSocket, true, 'the request went over the connection opened before SIGHUP');
      assert.equal(open.status, 200, 'the open connection still works');
      assert.equal(open.peerFingerprint256, first.fingerprint256, 'it keeps the certificate it negotiated');

      const fresh = await get('/healthz');
      assert.equal(fresh.reusedSocket, false);
      assert.equal(fresh.status, 200);
      assert.equal(fresh.peerFingerprint256, second.fingerprint256, 'a new connection sees the new certificate');
      assert.equal(server.child.exitCode, null);
      assert.equal(server.child.pid, pid, 'same process: no restart');
    } finally {
      agent.destroy();
    }
  });

  test('a broken replacement is refused with one error line naming the setting; the current certificate stays', async () => {
    const current = (await get('/healthz')).peerFingerprint256;
    assert.equal(current, second.fingerprint256);
    const attempts: Array<{ what: string; prepare: () => void; names: RegExp }> = [
      { what: 'a certificate file that is not PEM', prepare: () => writeFileSync(live.cert, 'half a certificate'), names: /^config: TLS_CERT .*holds no PEM certificate/ },
      {
        what: 'a key that belongs to another certificate',
        prepare: () => install(first.certFile, second.keyFile),
        names: /^config: TLS_KEY .*cannot be used with TLS_CERT/,
      },
      { what: 'a missing key file', prepare: () => rmSync(live.key), names: /^config: TLS_KEY cannot read .*key\.pem \(ENOENT/ },
    ];
    for (const [i, attempt] of attempts.entries()) {
      attempt.prepare();
      server.child.kill('SIGHUP');
      const failures = await waitForLog(server, RELOAD_FAILED, i + 1);
      const line = failures[i]!;
      assert.equal(line.level, 50, `${attempt.what}: logged as an error`);
      assert.match(line.err?.message ?? '', attempt.names, `${attempt.what}: the reason names the setting`);
      assert.doesNotMatch(line.err?.message ?? '', /\n/, `${attempt.what}: one line`);
      const res = await get('/healthz');
      assert.equal(res.status, 200, `${attempt.what}: still serving`);
      assert.equal(res.peerFingerprint256, second.fingerprint256, `${attempt.what}: still the previous certificate`);
    }
    assert.equal(logLines(server).filter((l) => l.msg === RELOADED).length, 1, 'no reload was reported as done');

    // a good pair afterwards is taken
    install(first.certFile, first.keyFile);
    server.child.kill('SIGHUP');
    await waitForLog(server, RELOADED, 2);
    assert.equal((await get('/healthz')).peerFingerprint256, first.fingerprint256);
  });

  test('a missing or unreadable TLS file stops start-up: exit 1, one line naming the setting', async () => {
    const common = { DATABASE_URL: testDatabaseUrl(dir), PORT: '0' };
    const [missingCert, keyIsDirectory] = await Promise.all([
      runCli(['serve'], { ...common, TLS_CERT: join(dir, 'missing.pem'), TLS_KEY: first.keyFile }),
      runCli(['serve'], { ...common, TLS_CERT: first.certFile, TLS_KEY: dir }),
    ]);
    for (const [run, pattern] of [
      [missingCert, /^config: TLS_CERT cannot read \/.*\/missing\.pem \(ENOENT: no such file or directory\)$/],
      [keyIsDirectory, /^config: TLS_KEY cannot read \/.* \(EISDIR: illegal operation on a directory\)$/],
    ] as const) {
      assert.equal(run.code, 1, `exit 1: ${run.stderr}`);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line: ${run.stderr}`);
      assert.match(lines[0]!, pattern);
    }
  });

  test('loadConfig: both or neither, PEM checked, key must match; TLS forces Secure cookies and an https PUBLIC_URL', () => {
    const configError = (env: Record<string, string>, variable: string, message: RegExp) => {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && err.variable === variable && message.test(err.message),
        `${JSON.stringify(env)} -> ${variable}`,
      );
    };
    configError({ TLS_CERT: first.certFile }, 'TLS_KEY', /^config: TLS_KEY is required when TLS_CERT is set$/);
    configError({ TLS_KEY: first.keyFile }, 'TLS_CERT', /^config: TLS_CERT is required when TLS_KEY is set$/);
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'hello\n');
    configError({ TLS_CERT: text, TLS_KEY: first.keyFile }, 'TLS_CERT', /holds no PEM certificate/);
    configError({ TLS_CERT: first.certFile, TLS_KEY: text }, 'TLS_KEY', /holds no PEM private key/);
    // a certificate where the key should be, and a key where the certificate should be
    configError({ TLS_CERT: first.keyFile, TLS_KEY: first.keyFile }, 'TLS_CERT', /holds no PEM certificate/);
    configError({ TLS_CERT: first.certFile, TLS_KEY: second.keyFile }, 'TLS_KEY', /cannot be used with TLS_CERT/);
    const encrypted = join(dir, 'encrypted.key');
    execFileSync('openssl', ['pkey', '-in', first.keyFile, '-aes256', '-passout', 'pass:secret', '-out', encrypted]);
    configError({ TLS_CERT: first.certFile, TLS_KEY: encrypted }, 'TLS_KEY', /is encrypted/);

    const plain = loadConfig({ COOKIE_SECURE: 'false' });
    assert.equal(plain.tls, null);
    assert.equal(plain.cookie.secure, false);
    assert.equal(plain.mail.publicUrl, 'http://127.0.0.1:8085');

    const tls = loadConfig({ TLS_CERT: first.certFile, TLS_KEY: first.keyFile, COOKIE_SECURE: 'false', COOKIE_SAMESITE: 'none' });
    assert.deepEqual(tls.tls, { certFile: first.certFile, keyFile: first.keyFile });
    assert.equal(tls.cookie.secure, true, 'Secure whatever COOKIE_SECURE says');
    assert.equal(tls.cookie.sameSite, 'none', 'so SameSite=None is allowed');
    assert.equal(tls.mail.publicUrl, 'https://127.0.0.1:8085');
    assert.equal(loadConfig({ TLS_CERT: first.certFile, TLS_KEY: first.keyFile, PUBLIC_URL: 'https://auth.example.com' }).mail.publicUrl, 'https://auth.example.com');
  });
});
