/**
 * `bastion doctor`: every check, each shown reporting its finding and staying silent on
 * the clean case. The checks run in-process (runDoctor) against real databases (a SQLite
 * file, or a PostgreSQL database in the PostgreSQL pass) and, for --url, a real Bastion
 * listening on 127.0.0.1; the CLI itself is spawned three times (exit codes and output).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config/load.ts';
import { filesystemOf, sqliteOnNetworkFilesystem } from '../../src/doctor/database.ts';
import { formatJson, formatText, type CheckId, type Finding } from '../../src/doctor/findings.ts';
import { runDoctor } from '../../src/doctor/run.ts';
import { ManualClock, systemClock, type Clock } from '../../src/lib/clock.ts';
import { buildTestApp, FAST_ARGON2, tempDir, testConfig, type TestApp } from '../helpers/app.ts';
import { DIALECT } from '../helpers/db.ts';
import { psql } from '../helpers/postgres.ts';
import { runCli, type CliResult } from '../helpers/server.ts';

const DAY_MS = 86_400_000;
const KEK = randomBytes(32).toString('base64');
const OTHER_KEK = randomBytes(32).toString('base64');
const METRICS_TOKEN = randomBytes(24).toString('hex');
/** A clean base: keys encrypted at rest, /metrics behind a token. */
const CLEAN = { KEY_ENCRYPTION_KEY: KEK, METRICS_TOKEN };

const show = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const ids = (findings: readonly Finding[]): CheckId[] => findings.map((f) => f.check);
const of = (findings: readonly Finding[], check: CheckId): Finding[] => findings.filter((f) => f.check === check);
const printed = (findings: readonly Finding[]): string => formatText(findings) + formatJson(findings);

function ownDir(t: TestContext): string {
  const { dir, remove } = tempDir('bastion-doctor-');
  t.after(remove);
  return dir;
}

/**
 * A configuration whose database does not exist (a SQLite file never made): only the
 * settings are checked. Loaded directly, not through testConfig, which would make a
 * PostgreSQL database for nothing in that pass.
 */
function settings(t: TestContext, env: Record<string, string> = {}): Config {
  const dir = ownDir(t);
  return loadConfig({ ...FAST_ARGON2, LOG_LEVEL: 'silent', OUTBOX_DIR: join(dir, 'outbox'), ...CLEAN, DATABASE_URL: `sqlite:${join(dir, 'absent.db')}`, ...env });
}

/** A Bastion on this test's database, listening on 127.0.0.1 (real HTTP). */
async function instance(t: TestContext, env: Record<string, string> = {}, clock?: Clock): Promise<TestApp & { url: string }> {
  const running = await buildTestApp({ ...CLEAN, ...env }, clock ? { clock } : {});
  t.after(() => running.close());
  await running.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = running.app.server.address() as AddressInfo;
  return { ...running, url: `http://127.0.0.1:${port}` };
}

/** This machine's clock, off by `ms`. */
const skewed = (ms: number): Clock => ({ now: () => Date.now() + ms, sleep: systemClock.sleep });

describe('bastion doctor', { concurrency: true }, () => {
  test('a sound configuration, its database and its running instance: no findings', async (t) => {
    const running = await instance(t, { PUBLIC_URL: 'https://bastion.example.com', CORS_ORIGINS: 'https://app.example.com' });
    const findings = await runDoctor(running.config, { url: running.url });
    assert.deepEqual(findings, []);
    assert.equal(formatText(findings), 'doctor: no findings\n');
    assert.deepEqual(JSON.parse(formatJson(findings)), { findings: [], errors: 0, warnings: 0 });
  });

  test('cookie-secure: cookies without Secure on an https PUBLIC_URL; Secure cookies on a plain-http remote PUBLIC_URL', async (t) => {
    const insecure = await runDoctor(settings(t, { PUBLIC_URL: 'https://bastion.example.com', COOKIE_SECURE: 'false' }));
    assert.deepEqual(of(insecure, 'cookie-secure').map((f) => f.level), ['error']);
    assert.match(of(insecure, 'cookie-secure')[0]!.message, /COOKIE_SECURE=false while PUBLIC_URL is https:\/\/bastion\.example\.com/);
    assert.match(of(insecure, 'cookie-secure')[0]!.fix, /COOKIE_SECURE=true/);

    const plainHttp = await runDoctor(settings(t, { PUBLIC_URL: 'http://bastion.example.com' }));
    assert.deepEqual(of(plainHttp, 'cookie-secure').map((f) => f.level), ['warning']);

    // clean: Secure on https; and on this machine (http://127.0.0.1, where browsers keep Secure cookies)
    assert.deepEqual(of(await runDoctor(settings(t, { PUBLIC_URL: 'https://bastion.example.com' })), 'cookie-secure'), []);
    assert.deepEqual(of(await runDoctor(settings(t)), 'cookie-secure'), []);
    assert.deepEqual(of(await runDoctor(settings(t, { COOKIE_SECURE: 'false' })), 'cookie-secure'), []);
  });

  test('cookie-samesite: None needs Secure and a cross-site origin; a cross-site front end needs None', async (t) => {
    const https = { PUBLIC_URL: 'https://api.example.com', COOKIE_SECURE: 'true' };
    // loadConfig refuses None without Secure; the doctor still says why for a config built otherwise
    assert.throws(() => settings(t, { COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'false' }), /COOKIE_SAMESITE none requires COOKIE_SECURE=true/);
    const base = settings(t, https);
    const noSecure = await runDoctor({ ...base, cookie: { secure: false, sameSite: 'none' } });
    assert.deepEqual(of(noSecure, 'cookie-samesite').map((f) => f.level), ['error']);

    const pointless = await runDoctor(settings(t, { ...https, COOKIE_SAMESITE: 'none', CORS_ORIGINS: 'https://app.example.com' }));
    assert.deepEqual(of(pointless, 'cookie-samesite').map((f) => f.level), ['warning'], 'app.example.com is the same site as api.example.com');
    assert.match(of(pointless, 'cookie-samesite')[0]!.fix, /COOKIE_SAMESITE=lax/);

    const withheld = await runDoctor(settings(t, { ...https, CORS_ORIGINS: 'https://front.example.org' }));
    assert.deepEqual(of(withheld, 'cookie-samesite').map((f) => f.level), ['warning']);
    assert.match(of(withheld, 'cookie-samesite')[0]!.message, /https:\/\/front\.example\.org/);

    // clean: None for a front end on another site; Lax with same-site front ends
    assert.deepEqual(of(await runDoctor(settings(t, { ...https, COOKIE_SAMESITE: 'none', CORS_ORIGINS: 'https://front.example.org' })), 'cookie-samesite'), []);
    assert.deepEqual(of(await runDoctor(settings(t, { ...https, CORS_ORIGINS: 'https://app.example.com' })), 'cookie-samesite'), []);
  });

  test('cors-origins: null, plain http to an https API, not an exact origin (errors); a dev origin, PUBLIC_URL itself (warnings)', async (t) => {
    const https = { PUBLIC_URL: 'https://api.example.com' };
    const levels = async (origins: string) => of(await runDoctor(settings(t, { ...https, CORS_ORIGINS: origins })), 'cors-origins').map((f) => f.level);
    assert.deepEqual(await levels('null'), ['error']);
    assert.deepEqual(await levels('http://app.example.com'), ['error']);
    assert.deepEqual(await levels('https://*.example.com'), ['error']);
    assert.deepEqual(await levels('http://localhost:5173'), ['warning']);
    assert.deepEqual(await levels('https://api.example.com'), ['warning']);
    // a path is refused at load (so `doctor` reports it as a config finding); for a config built otherwise:
    assert.throws(() => settings(t, { CORS_ORIGINS: 'https://app.example.com/path' }), /CORS_ORIGINS must be a comma list of exact origins/);
    const withPath = await runDoctor({ ...settings(t, https), corsOrigins: ['https://app.example.com/path'] });
    assert.deepEqual(of(withPath, 'cors-origins').map((f) => f.level), ['error']);

    // clean: https front ends on an https API; a dev origin beside a dev API
    assert.deepEqual(await levels('https://app.example.com,https://front.example.org'), []);
    assert.deepEqual(of(await runDoctor(settings(t, { CORS_ORIGINS: 'http://localhost:5173' })), 'cors-origins'), []);
  });

  test('demo-mode: demo accounts reachable from other machines', async (t) => {
    const onNetwork = await runDoctor(settings(t, { DEMO: 'true', HOST: '0.0.0.0' }));
    assert.deepEqual(of(onNetwork, 'demo-mode').map((f) => f.level), ['error']);
    assert.match(of(onNetwork, 'demo-mode')[0]!.message, /HOST=0\.0\.0\.0/);
    // behind a proxy: HOST is loopback but PUBLIC_URL is not
    const proxied = await runDoctor(settings(t, { DEMO: 'true', PUBLIC_URL: 'https://demo.example.com' }));
    assert.deepEqual(of(proxied, 'demo-mode').map((f) => f.level), ['error']);

    assert.deepEqual(of(await runDoctor(settings(t, { DEMO: 'true' })), 'demo-mode'), [], 'demo on 127.0.0.1 is what npm run demo does');
    assert.deepEqual(of(await runDoctor(settings(t, { HOST: '0.0.0.0' })), 'demo-mode'), []);
  });

  test('issuer: the default issuer names an unspecified address or port 0', async (t) => {
    const everywhere = await runDoctor(settings(t, { HOST: '0.0.0.0' }));
    assert.deepEqual(of(everywhere, 'issuer').map((f) => f.level), ['warning']);
    assert.match(of(everywhere, 'issuer')[0]!.message, /http:\/\/0\.0\.0\.0:/);
    assert.deepEqual(of(await runDoctor(settings(t, { PORT: '0' })), 'issuer').map((f) => f.level), ['warning']);

    assert.deepEqual(of(await runDoctor(settings(t, { HOST: '0.0.0.0', PUBLIC_URL: 'https://auth.example.com' })), 'issuer'), []);
    assert.deepEqual(of(await runDoctor(settings(t, { HOST: '0.0.0.0', JWT_ISSUER: 'bastion' })), 'issuer'), []);
    assert.deepEqual(of(await runDoctor(settings(t)), 'issuer'), [], 'the default 127.0.0.1:8085 is a real address');
  });

  test('jwt-secret: HS256 with a short, dictionary or low-entropy secret; never printed', async (t) => {
    const hs = (secret: string, previous?: string) => settings(t, { JWT_ALG: 'HS256', JWT_SECRET: secret, ...(previous ? { JWT_SECRET_PREVIOUS: previous } : {}) });
    const cases: Array<[string, 'error' | 'warning']> = [
      ['your_secret_key_your_secret_key_2024', 'error'], // seed 001's secret, padded to length
      ['sherpaSecret-sherpaSecret-sherpaSecret', 'error'], // seed 002's
      ['Sup3r-S3cr3t-K3y-Ch4ng3M3-Pl34s3-!!', 'error'], // leetspeak
      ['s'.repeat(40), 'error'],
      ['abcdefghabcdefghabcdefghabcdefgX', 'warning'], // 8 letters: about 96 bits
    ];
    for (const [secret, level] of cases) {
      const findings = await runDoctor(hs(secret));
      assert.deepEqual(of(findings, 'jwt-secret').map((f) => f.level), [level], secret);
      assert.ok(!printed(findings).includes(secret), 'the secret is never printed');
    }
    // a previous secret too, named by its place
    const random = randomBytes(32).toString('base64');
    const previous = await runDoctor(hs(random, 'changeme-changeme-changeme-changeme'));
    assert.deepEqual(of(previous, 'jwt-secret').map((f) => f.message.split(' is ')[0]), ['JWT_SECRET_PREVIOUS entry 1']);
    // shorter than RFC 7518 §3.2 (loadConfig refuses it; a config built otherwise)
    const short = await runDoctor({ ...hs(random), jwt: { ...hs(random).jwt, secret: 'changeme' } });
    assert.match(of(short, 'jwt-secret')[0]!.message, /shorter than 32 bytes/);
    assert.ok(!printed(short).includes('changeme'));

    // clean: 32 random bytes; and no HS256 at all
    assert.deepEqual(of(await runDoctor(hs(random)), 'jwt-secret'), []);
    assert.deepEqual(of(await runDoctor(hs(randomBytes(32).toString('hex'))), 'jwt-secret'), []);
    assert.deepEqual(of(await runDoctor(settings(t, { JWT_SECRET: 'changeme' })), 'jwt-secret'), [], 'JWT_SECRET is unused under EdDSA');
  });

  test('key-age: the active signing key older than KEY_ROTATION_AGE (read from the database)', async (t) => {
    // an instance whose clock made its key 100 days ago
    const clock = new ManualClock(Date.now() - 100 * DAY_MS);
    const old = await instance(t, {}, clock);
    const kid = (await old.app.services.keys.list())[0]!.kid;
    const findings = await runDoctor(old.config);
    assert.deepEqual(of(findings, 'key-age').map((f) => f.level), ['warning']);
    assert.match(of(findings, 'key-age')[0]!.message, new RegExp(`key ${kid} is 100 days old, older than KEY_ROTATION_AGE \\(90 days\\)`));
    assert.match(of(findings, 'key-age')[0]!.fix, /bastion keys rotate/);
    // a longer rotation age, or a rotation (today), clears it
    assert.deepEqual(of(await runDoctor(testConfig({ ...CLEAN, KEY_ROTATION_AGE: '120d' }, old.dir)), 'key-age'), []);
    clock.advance(100 * DAY_MS);
    await old.app.services.keys.rotate();
    assert.deepEqual(of(await runDoctor(old.config), 'key-age'), []);
  });

  test('keys-at-rest: no KEK; stored keys encrypted but no KEK or another KEK (errors); plain keys under a KEK (warning)', async (t) => {
    const sealed = await instance(t); // keys stored under KEK
    const at = (dir: string, env: Record<string, string>) => runDoctor(testConfig({ METRICS_TOKEN, ...env }, dir));

    const noKek = await at(sealed.dir, {});
    assert.deepEqual(of(noKek, 'keys-at-rest').map((f) => f.level), ['warning', 'error']);
    assert.match(of(noKek, 'keys-at-rest')[1]!.message, /encrypted, and KEY_ENCRYPTION_KEY is not set: the server will not start/);
    const wrongKek = await at(sealed.dir, { KEY_ENCRYPTION_KEY: OTHER_KEK });
    assert.deepEqual(of(wrongKek, 'keys-at-rest').map((f) => f.level), ['error']);
    assert.match(of(wrongKek, 'keys-at-rest')[0]!.message, /does not decrypt 1 of the stored signing keys/);
    for (const f of [...noKek, ...wrongKek]) assert.ok(!printed([f]).includes(KEK) && !printed([f]).includes(OTHER_KEK), 'no key is printed');

    const plain = await instance(t, { KEY_ENCRYPTION_KEY: '' });
    const notYet = await at(plain.dir, { KEY_ENCRYPTION_KEY: KEK });
    assert.deepEqual(of(notYet, 'keys-at-rest').map((f) => f.level), ['warning']);
    assert.match(of(notYet, 'keys-at-rest')[0]!.message, /1 of the stored signing keys is not encrypted yet/);

    // clean: the KEK that sealed them; HS256 (nothing stored); demo mode (the server does not warn either)
    assert.deepEqual(of(await at(sealed.dir, { KEY_ENCRYPTION_KEY: KEK }), 'keys-at-rest'), []);
    assert.deepEqual(of(await runDoctor(settings(t, { KEY_ENCRYPTION_KEY: '', JWT_ALG: 'HS256', JWT_SECRET: randomBytes(32).toString('base64') })), 'keys-at-rest'), []);
    assert.deepEqual(of(await runDoctor(settings(t, { KEY_ENCRYPTION_KEY: '', DEMO: 'true' })), 'keys-at-rest'), []);
  });

  test('clock-skew: this machine against the database (PostgreSQL; SQLite has no clock of its own)', async (t) => {
    const dir = ownDir(t);
    const config = testConfig(CLEAN, dir);
    const ahead = await runDoctor(config, { clock: skewed(60_000) });
    const slightly = await runDoctor(config, { clock: skewed(-3_000) });
    const inStep = await runDoctor(config);
    if (DIALECT === 'postgres') {
      assert.deepEqual(of(ahead, 'clock-skew').map((f) => f.level), ['error']);
      assert.match(of(ahead, 'clock-skew')[0]!.message, /this machine's clock and the database's differ by 60\.\d s, more than JWT_LEEWAY \(5 s\)/);
      assert.deepEqual(of(slightly, 'clock-skew').map((f) => f.level), ['warning']);
    } else {
      assert.deepEqual(of(ahead, 'clock-skew'), []);
      assert.deepEqual(of(slightly, 'clock-skew'), []);
    }
    assert.deepEqual(of(inStep, 'clock-skew'), []);
  });

  test('clock-skew: a running instance against this machine (its Date header)', async (t) => {
    const running = await instance(t);
    // the doctor reads a SQLite configuration here, so the instance is compared with this machine in both passes
    const config = settings(t);
    const far = await runDoctor(config, { url: running.url, clock: skewed(-60_000) });
    assert.deepEqual(of(far, 'clock-skew').map((f) => f.level), ['error']);
    assert.match(of(far, 'clock-skew')[0]!.message, new RegExp(`the instance at ${running.url} and this machine have clocks that differ by`));
    const near = await runDoctor(config, { url: running.url, clock: skewed(3_000) });
    assert.deepEqual(of(near, 'clock-skew').map((f) => f.level), ['warning']);
    assert.deepEqual(of(await runDoctor(config, { url: running.url }), 'clock-skew'), []);
    if (DIALECT === 'postgres') {
      // on PostgreSQL the instance is compared with the database: this machine's clock drops out
      const viaDb = await runDoctor(running.config, { url: running.url, clock: skewed(-60_000) });
      assert.deepEqual(of(viaDb, 'clock-skew').map((f) => f.message.split(' differ')[0]), ["this machine's clock and the database's"]);
    }
  });

  test('trust-proxy: an instance that takes this client for its proxy (--url); risky TRUST_PROXY settings', async (t) => {
    const trusting = await instance(t, { TRUST_PROXY: '1' });
    const findings = await runDoctor(trusting.config, { url: trusting.url });
    assert.deepEqual(of(findings, 'trust-proxy').map((f) => f.level), ['error']);
    assert.match(of(findings, 'trust-proxy')[0]!.message, /trusts this client as its proxy/);

    // clean: no TRUST_PROXY; or TRUST_PROXY naming this client's address (the doctor runs on the proxy's host)
    const direct = await instance(t);
    assert.deepEqual(of(await runDoctor(direct.config, { url: direct.url }), 'trust-proxy'), []);
    const named = await instance(t, { TRUST_PROXY: '127.0.0.1' });
    assert.deepEqual(of(await runDoctor(named.config, { url: named.url }), 'trust-proxy'), []);

    // from the settings alone
    assert.deepEqual(of(await runDoctor(settings(t, { TRUST_PROXY: 'true' })), 'trust-proxy').map((f) => f.level), ['warning']);
    assert.deepEqual(of(await runDoctor(settings(t, { TRUST_PROXY: '1', HOST: '0.0.0.0' })), 'trust-proxy').map((f) => f.level), ['warning']);
    assert.deepEqual(of(await runDoctor(settings(t, { TRUST_PROXY: '1' })), 'trust-proxy'), [], 'a hop count on loopback: the proxy is on this machine');
    assert.deepEqual(of(await runDoctor(settings(t, { TRUST_PROXY: '10.0.0.5', HOST: '0.0.0.0' })), 'trust-proxy'), []);
  });

  test('metrics-public: /metrics answering on the public port (--url); neither METRICS_PORT nor METRICS_TOKEN', async (t) => {
    const open = await instance(t, { METRICS_TOKEN: '' });
    const findings = await runDoctor(open.config, { url: open.url });
    assert.deepEqual(of(findings, 'metrics-public').map((f) => f.level), ['error'], 'the instance shows it: the warning from the settings gives way');
    assert.match(of(findings, 'metrics-public')[0]!.fix, /METRICS_PORT/);
    assert.deepEqual(of(await runDoctor(open.config), 'metrics-public').map((f) => f.level), ['warning']);

    // clean: a token (401 on the public port), or a port of its own (404 there)
    const tokened = await instance(t);
    assert.deepEqual(of(await runDoctor(tokened.config, { url: tokened.url }), 'metrics-public'), []);
    const ported = await instance(t, { METRICS_TOKEN: '', METRICS_PORT: '0' });
    assert.deepEqual(of(await runDoctor(ported.config, { url: ported.url }), 'metrics-public'), []);
    assert.deepEqual(of(await runDoctor(ported.config), 'metrics-public'), []);
  });

  test('sqlite-scale: workers on SQLite; an in-memory database with workers; a SQLite file on a network filesystem', async (t) => {
    const dir = ownDir(t);
    const workers = await runDoctor(settings(t, { DATABASE_URL: `sqlite:${join(dir, 'b.db')}`, WORKERS: '4' }));
    assert.deepEqual(of(workers, 'sqlite-scale').map((f) => f.level), ['warning']);
    const memory = await runDoctor(settings(t, { DATABASE_URL: 'sqlite::memory:', WORKERS: '2' }));
    assert.deepEqual(of(memory, 'sqlite-scale').map((f) => f.level), ['error']);

    // the mount table, as /proc/self/mountinfo has it, with the data directory on NFS
    const config = settings(t, { DATABASE_URL: 'sqlite:/srv/bastion/data/bastion.db' });
    const mounts = [
      '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
      '40 22 0:45 / /srv/bastion rw,relatime - nfs4 files.example:/export/bastion rw,vers=4.2',
      '41 22 0:46 / /srv/bastion2 rw,relatime - ext4 /dev/sdb1 rw',
    ].join('\n');
    assert.equal(filesystemOf('/srv/bastion/data', mounts), 'nfs4');
    assert.equal(filesystemOf('/srv/bastion2/data', mounts), 'ext4');
    assert.deepEqual(sqliteOnNetworkFilesystem(config, mounts).map((f) => f.level), ['error']);

    // clean: one process; PostgreSQL; this machine's real mount table for a temp directory
    assert.deepEqual(of(await runDoctor(settings(t, { DATABASE_URL: `sqlite:${join(dir, 'b.db')}` })), 'sqlite-scale'), []);
    assert.deepEqual(sqliteOnNetworkFilesystem(settings(t, { DATABASE_URL: `sqlite:${join(dir, 'b.db')}` }), readFileSync('/proc/self/mountinfo', 'utf8')), []);
    assert.deepEqual(sqliteOnNetworkFilesystem(settings(t, { DATABASE_URL: 'postgres://u@db.example/b' }), mounts), []);
  });

  test('database and instance out of reach: one finding each, the password masked', async (t) => {
    const password = 'pw-' + randomBytes(8).toString('hex');
    const findings = await runDoctor(settings(t, { DATABASE_URL: `postgres://bastion:${password}@127.0.0.1:1/bastion` }), { url: 'http://127.0.0.1:1' });
    assert.deepEqual(ids(findings).filter((id) => id === 'database' || id === 'instance'), ['database', 'instance']);
    assert.match(of(findings, 'database')[0]!.message, /cannot read DATABASE_URL postgres:\/\/bastion:\*\*\*@127\.0\.0\.1:1\/bastion/);
    assert.match(of(findings, 'instance')[0]!.message, /cannot reach http:\/\/127\.0\.0\.1:1: ECONNREFUSED/);
    assert.ok(!printed(findings).includes(password));
  });

  test('reads the database without writing: no file made, nothing migrated, an existing database left as it was', async (t) => {
    if (DIALECT === 'postgres') {
      const config = testConfig(CLEAN, ownDir(t)); // a new, empty database
      await runDoctor(config);
      assert.equal(psql(config.databaseUrl, "select count(*) from information_schema.tables where table_schema = 'public'").trim(), '0', 'nothing migrated');
      return;
    }
    const dir = ownDir(t);
    const absent = join(dir, 'never.db');
    await runDoctor(settings(t, { DATABASE_URL: `sqlite:${absent}` }));
    assert.equal(existsSync(absent), false);
    // a database a server made, and closed (so no one else writes to it meanwhile)
    const config = testConfig(CLEAN, dir);
    await (await buildApp(config)).close();
    const file = config.databaseUrl.slice('sqlite:'.length);
    const digest = () => createHash('sha256').update(readFileSync(file)).update(existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`) : '').digest('hex');
    const before = digest();
    const findings = await runDoctor(config);
    assert.deepEqual(findings, [], 'and it was read: its keys were checked');
    assert.equal(digest(), before);
  });

  test('the CLI: findings one per line, exit 0 on warnings alone, nothing created', async (t) => {
    const dir = ownDir(t);
    const file = join(dir, 'never.db');
    const r = await runCli(['doctor'], { DATABASE_URL: `sqlite:${file}`, KEY_ENCRYPTION_KEY: '', METRICS_TOKEN: '', METRICS_PORT: '', DEMO: '', JWT_ALG: '' });
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, -1).map((l) => /^(error|warning) {2}([a-z-]+) {2}\S.* — fix: \S.*$/.exec(l)?.slice(1, 3)), [
      ['warning', 'keys-at-rest'],
      ['warning', 'metrics-public'],
    ]);
    assert.equal(lines.at(-1), 'doctor: 0 errors, 2 warnings');
    assert.equal(r.stderr, '');
    assert.equal(existsSync(file), false, 'the doctor never creates the database');
  });

  test('the CLI: --json, exit 1 on an error with one line on stderr, secrets never printed; a bad setting is a finding', async (t) => {
    const dir = ownDir(t);
    const secret = 'your_secret_key-your_secret_key-123';
    const r = await runCli(['doctor', '--json', '--public-url', 'https://bastion.example.com'], {
      DATABASE_URL: `sqlite:${join(dir, 'never.db')}`,
      COOKIE_SECURE: 'false',
      JWT_ALG: 'HS256',
      JWT_SECRET: secret,
      METRICS_TOKEN,
    });
    assert.equal(r.code, 1, show(r));
    const report = JSON.parse(r.stdout) as { findings: Finding[]; errors: number; warnings: number };
    assert.deepEqual(report.findings.map((f) => [f.level, f.check]), [
      ['error', 'cookie-secure'],
      ['error', 'jwt-secret'],
    ]);
    assert.deepEqual([report.errors, report.warnings], [2, 0]);
    assert.equal(r.stderr, 'bastion: doctor: 2 errors, 0 warnings\n');
    assert.ok(!(r.stdout + r.stderr).includes(secret) && !(r.stdout + r.stderr).includes(METRICS_TOKEN));

    const bad = await runCli(['doctor', '--json'], { DATABASE_URL: `sqlite:${join(dir, 'never.db')}`, JWT_ALG: 'HS256', JWT_SECRET: 'too-short' });
    assert.equal(bad.code, 1, show(bad));
    const config = JSON.parse(bad.stdout) as { findings: Finding[] };
    assert.deepEqual(config.findings.map((f) => [f.level, f.check, f.message]), [['error', 'config', 'config: JWT_SECRET must be at least 32 bytes for HS256']]);
    assert.ok(!(bad.stdout + bad.stderr).includes('too-short'));
  });
});
