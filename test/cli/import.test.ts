/**
 * `bastion import` (issue #12 part 6): users from the tutorials' Flask stacks, with hashes
 * made at test time by the real libraries (Debian's python3-werkzeug, python3-passlib,
 * python3-bcrypt, python3-argon2) and Flask-Security databases built with Python's sqlite3,
 * their passwords hashed by passlib over Flask-Security's HMAC pre-hash. The many record
 * cases run in-process (imports/*); the CLI itself is spawned for a few end-to-end runs.
 * Every imported account then logs in through Bastion's API, and its hash becomes argon2id.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { readFlaskSecurityDb } from '../../src/imports/flask-security.ts';
import { readRecords, UnreadableInput, type RawRecord } from '../../src/imports/records.ts';
import { importUsers, type ImportOptions, type ImportReport } from '../../src/imports/service.ts';
import { buildTestApp, tempDir, testConfig, type TestApp } from '../helpers/app.ts';
import { testDatabaseUrl } from '../helpers/db.ts';
import { runCli, type CliResult } from '../helpers/server.ts';

const PYTHON = '/usr/bin/python3';
const FS_SALT = 'seed-001-password-salt';

const show = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/**
 * One interpreter run: hashes for the JSON-lines cases, and two Flask-Security databases —
 * Flask-Security-Too's fsqla_v3 schema, and the seed 001 tutorial's own User/Role models.
 */
const SCRIPT = String.raw`
import base64, hashlib, hmac, json, sqlite3, sys, unicodedata, uuid
from werkzeug.security import generate_password_hash
from passlib.hash import pbkdf2_sha512, bcrypt as passlib_bcrypt, argon2 as passlib_argon2
import bcrypt

args = json.loads(sys.stdin.read())
salt = args['salt']
fast_argon2 = passlib_argon2.using(memory_cost=512, rounds=1, parallelism=1)

def fs_hash(password, scheme):
    # flask_security.utils.hash_password: the passlib scheme over get_hmac(normalized password)
    signed = base64.b64encode(hmac.new(salt.encode(), unicodedata.normalize('NFKD', password).encode(), hashlib.sha512).digest()).decode('ascii')
    return scheme.hash(signed)

hashes = {
    'werkzeug': generate_password_hash('werkzeug-pass-1', method='pbkdf2:sha256:5000'),
    'scrypt': 'scrypt:16384:8:1$' + 'tLq0ZsW1' + '$' + hashlib.scrypt(b'scrypt-pass-1', salt=b'tLq0ZsW1', n=16384, r=8, p=1, maxmem=64 * 1024 * 1024).hex(),
    'passlib': pbkdf2_sha512.using(rounds=5000).hash('passlib-pass-1'),
    'bcrypt': bcrypt.hashpw(b'bcrypt-pass-1', bcrypt.gensalt(5)).decode(),
    'argon2': fast_argon2.hash('argon2-pass-1'),
    'fs_bcrypt': fs_hash('fs-file-pass-1', passlib_bcrypt.using(rounds=5)),
    'old_werkzeug': generate_password_hash('x', method='sha256'),
    # over the import's cap: written out, as deriving 5,000,000 rounds here would only cost time
    'too_many_iterations': '$pbkdf2-sha256$5000000$c2FsdHNhbHQ$' + 'A' * 43,
}

# Flask-Security-Too (fsqla_v3), as SQLAlchemy creates it in SQLite
too = sqlite3.connect(args['too'])
too.executescript('''
CREATE TABLE role (id INTEGER NOT NULL, name VARCHAR(80) NOT NULL, description VARCHAR(255), permissions TEXT,
  update_datetime DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE user (id INTEGER NOT NULL, email VARCHAR(255) NOT NULL, username VARCHAR(255), password VARCHAR(255),
  active BOOLEAN NOT NULL, fs_uniquifier VARCHAR(64) NOT NULL, confirmed_at DATETIME, last_login_at DATETIME,
  current_login_at DATETIME, last_login_ip VARCHAR(64), current_login_ip VARCHAR(64), login_count INTEGER,
  tf_primary_method VARCHAR(64), tf_totp_secret VARCHAR(255), tf_phone_number VARCHAR(128),
  create_datetime DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, update_datetime DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
  PRIMARY KEY (id), UNIQUE (email), UNIQUE (fs_uniquifier), CHECK (active IN (0, 1)));
CREATE TABLE roles_users (user_id INTEGER, role_id INTEGER, FOREIGN KEY(user_id) REFERENCES user (id), FOREIGN KEY(role_id) REFERENCES role (id));
''')
too.executemany('INSERT INTO role (id, name, description) VALUES (?, ?, ?)', [(1, 'admin', 'Administrator'), (2, 'Editor', 'Edits')])
users = [
    (1, 'ada@example.com', 'ada', fs_hash('ada-too-pass', fast_argon2), 1, '2024-01-02 10:00:00'),
    (2, 'grace@example.com', None, fs_hash('grace-too-pass', passlib_bcrypt.using(rounds=5)), 1, None),
    (3, 'linus@example.com', 'linus', fs_hash('linus-too-pass', pbkdf2_sha512.using(rounds=5000)), 0, None),
    (4, 'nopass@example.com', 'nopass', None, 1, None),
    (5, 'ren\u00e9@example.com', None, fs_hash('caf\u00e9-\u00e9t\u00e9', passlib_bcrypt.using(rounds=5)), 1, None),
]
for (i, email, username, password, active, confirmed) in users:
    too.execute('INSERT INTO user (id, email, username, password, active, fs_uniquifier, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
                (i, email, username, password, active, uuid.uuid4().hex, confirmed))
too.executemany('INSERT INTO roles_users (user_id, role_id) VALUES (?, ?)', [(1, 1), (1, 2), (2, 2)])
too.commit()

# seed 001's models: User(id, email, password, active, confirmed_at), Role(id, name, description), roles_users;
# Flask-Security's own example admin, admin@example.com / password
seed = sqlite3.connect(args['seed'])
seed.executescript('''
CREATE TABLE role (id INTEGER NOT NULL, name VARCHAR(80), description VARCHAR(255), PRIMARY KEY (id), UNIQUE (name));
CREATE TABLE user (id INTEGER NOT NULL, email VARCHAR(255), password VARCHAR(255), active BOOLEAN, confirmed_at DATETIME,
  PRIMARY KEY (id), UNIQUE (email));
CREATE TABLE roles_users (user_id INTEGER, role_id INTEGER, FOREIGN KEY(user_id) REFERENCES user (id), FOREIGN KEY(role_id) REFERENCES role (id));
''')
seed.execute("INSERT INTO role (id, name, description) VALUES (1, 'admin', 'Administrator')")
seed.execute('INSERT INTO user (id, email, password, active) VALUES (1, ?, ?, 1)', ('admin@example.com', fs_hash('password', passlib_bcrypt.using(rounds=5))))
seed.execute('INSERT INTO user (id, email, password, active) VALUES (2, ?, ?, 1)', ('jm1021@gmail.com', fs_hash('jm-pass-2023', passlib_bcrypt.using(rounds=5))))
seed.execute('INSERT INTO roles_users (user_id, role_id) VALUES (1, 1)')
seed.commit()
print(json.dumps(hashes))
`;

interface Fixtures {
  readonly hashes: Record<string, string>;
  readonly tooDb: string;
  readonly seedDb: string;
}

function makeFixtures(dir: string): Fixtures {
  const tooDb = join(dir, 'fs-too.db');
  const seedDb = join(dir, 'seed001.db');
  const run = spawnSync(PYTHON, ['-c', SCRIPT], { input: JSON.stringify({ salt: FS_SALT, too: tooDb, seed: seedDb }), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}`);
  return { hashes: JSON.parse(run.stdout) as Record<string, string>, tooDb, seedDb };
}

const OPTIONS: ImportOptions = { source: 'jsonl', dryRun: false, flaskSecuritySalt: null, deriveUsername: false };

function run(app: FastifyInstance, records: readonly RawRecord[], options: Partial<ImportOptions> = {}): Promise<ImportReport> {
  const s = app.services;
  return importUsers({ db: s.store.db, clock: s.clock, audit: s.audit, hashPassword: (pw) => s.users.hashPassword(pw) }, records, { ...OPTIONS, ...options });
}

async function login(app: FastifyInstance, body: Record<string, string>, url = '/api/auth/login') {
  return app.inject({ method: 'POST', url, payload: body });
}

async function storedHash(app: FastifyInstance, username: string): Promise<string> {
  const row = await app.services.store.db.selectFrom('users').select('password_hash').where('username', '=', username).executeTakeFirstOrThrow();
  return row.password_hash;
}

describe('bastion import', () => {
  const fixtures = tempDir('bastion-import-');
  let fx: Fixtures;
  let t: TestApp;
  before(async () => {
    fx = makeFixtures(fixtures.dir);
    t = await buildTestApp();
  });
  after(async () => {
    await t?.close();
    fixtures.remove();
  });

  test('JSON lines: every hash scheme and a plaintext password import; bad records are skipped whole, with a reason', async () => {
    const h = fx.hashes;
    const lines = [
      { id: 11, username: 'wzeug', email: 'wzeug@example.com', name: 'Werk Zeug', dob: '1990-05-06', roles: ['admin', 'Editor'], password_hash: h['werkzeug'] },
      { username: 'scr', password_hash: h['scrypt'] },
      { username: 'plib', password_hash: h['passlib'], email_confirmed: true, email: 'plib@example.com' },
      { username: 'bcry', password_hash: h['bcrypt'], active: false },
      { username: 'argo', password_hash: h['argon2'], roles: 'reader editor' },
      { username: 'plain', password: 'plain-pass-1' },
      'not json at all',
      [1, 2],
      { email: 'nouser@example.com', password: 'x' },
      { username: 'bademail', email: 'not-an-email', password: 'x' },
      { username: 'baddob', dob: '2001-02-30', password: 'x' },
      { username: 'future', dob: '2999-01-01', password: 'x' },
      { username: 'badrole', roles: ['super user'], password: 'x' },
      { username: 'both', password: 'x', password_hash: h['bcrypt'] },
      { username: 'neither' },
      { username: 'oldwz', password_hash: h['old_werkzeug'] },
      { username: 'slow', password_hash: h['too_many_iterations'] },
      { username: 'WZEUG', password: 'dup' },
      { username: 'dupid', id: '11', password: 'dup' },
    ];
    const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n\n';
    const report = await run(t.app, readRecords(text, 'jsonl'));
    const byLine = Object.fromEntries(report.rows.map((r) => ['line' in r ? r.line : 0, r.status === 'imported' ? 'imported' : r.reason]));
    assert.deepEqual(byLine, {
      1: 'imported',
      2: 'imported',
      3: 'imported',
      4: 'imported',
      5: 'imported',
      6: 'imported',
      7: 'not valid JSON',
      8: 'not a JSON object',
      9: 'username is missing',
      10: 'email is not a valid email address',
      11: 'dob must be a real past date as YYYY-MM-DD',
      12: 'dob must be a real past date as YYYY-MM-DD',
      13: 'role "super user" is not valid: lower-case letters, digits, _ and -, up to 32',
      14: 'give password_hash or password, not both',
      15: 'password_hash or password is missing',
      16: 'unknown password hash format "sha256"',
      17: 'pbkdf2 iteration count 5000000 is above the limit of 2000000',
      18: 'duplicate of line 1: same username',
      19: 'duplicate of line 1: same id',
    });
    assert.equal(report.imported, 6);
    assert.equal(report.skipped, 13);
    // the report never carries a hash or a password
    const json = JSON.stringify(report);
    for (const secret of [h['werkzeug']!, h['old_werkzeug']!, 'plain-pass-1', h['old_werkzeug']!.split('$')[2]!]) assert.ok(!json.includes(secret));
    // nothing of a skipped record is in the database
    const names = (await t.app.services.users.list()).map((u) => u.username).sort();
    assert.deepEqual(names, ['argo', 'bcry', 'plain', 'plib', 'scr', 'wzeug']);
    const wz = await t.app.services.users.require('wzeug');
    assert.deepEqual([wz.email, wz.display_name, wz.dob, wz.roles, wz.legacy_id], ['wzeug@example.com', 'Werk Zeug', '1990-05-06', ['admin', 'editor'], '11']);
    assert.deepEqual((await t.app.services.users.require('argo')).roles, ['editor', 'reader']);
    assert.notEqual((await t.app.services.users.require('bcry')).disabled_at, null, 'active: false imports a disabled account');
    assert.notEqual((await t.app.services.users.require('plib')).email_confirmed_at, null);
    assert.match(await storedHash(t.app, 'plain'), /^\$argon2id\$/, 'a plaintext password is hashed at once');
    const audit = await t.app.services.audit.list({ limit: 5, type: 'users_imported' });
    assert.deepEqual(audit[0]!.details, { source: 'jsonl', imported: 6, skipped: 13 });
  });

  test('each imported hash logs in through the API, is replaced by argon2id at once, and a wrong password changes nothing', async () => {
    const cases: [string, string, RegExp][] = [
      ['wzeug', 'werkzeug-pass-1', /^pbkdf2:sha256:5000\$/],
      ['scr', 'scrypt-pass-1', /^scrypt:16384:8:1\$/],
      ['plib', 'passlib-pass-1', /^\$pbkdf2-sha512\$/],
      ['argo', 'argon2-pass-1', /^\$argon2id\$v=19\$m=512,t=1,p=1\$/],
    ];
    for (const [username, password, before] of cases) {
      assert.match(await storedHash(t.app, username), before);
      const wrong = await login(t.app, { username, password: `${password}x` });
      assert.equal(wrong.statusCode, 401, username);
      assert.match(await storedHash(t.app, username), before, `${username}: a failed login leaves the hash`);
      const res = await login(t.app, { username, password });
      assert.equal(res.statusCode, 200, `${username}: ${res.body}`);
      assert.match(await storedHash(t.app, username), /^\$argon2id\$v=19\$m=256,t=1,p=1\$/, username);
      assert.equal((await login(t.app, { username, password })).statusCode, 200, `${username} again, on argon2id`);
    }
    // a disabled import has the right password and is still refused
    assert.equal((await login(t.app, { username: 'bcry', password: 'bcrypt-pass-1' })).json().code, 'account_disabled');
    const rehashed = await t.app.services.audit.list({ limit: 20, type: 'password_rehashed' });
    // audited when a foreign scheme goes (an argon2id with other parameters is rehashed as Bastion's own would be, silently)
    assert.deepEqual(rehashed.map((e) => e.details!['from']).sort(), ['passlib-pbkdf2', 'werkzeug-pbkdf2', 'werkzeug-scrypt']);
  });

  test('a second run of the same input imports nothing and changes nothing; a dry run writes nothing', async () => {
    const text = [
      JSON.stringify({ id: 11, username: 'someone-else', password: 'x' }),
      JSON.stringify({ username: 'other', email: 'PLIB@example.com', password: 'x' }),
      JSON.stringify({ username: 'Plain', password: 'new password' }),
      JSON.stringify({ username: 'newbie', password: 'newbie-pass-1' }),
    ].join('\n');
    const before = await storedHash(t.app, 'plain');
    const dry = await run(t.app, readRecords(text, 'jsonl'), { dryRun: true });
    assert.equal(dry.dry_run, true);
    assert.equal(dry.imported, 1);
    assert.equal(await t.app.services.users.find('newbie'), undefined, 'a dry run writes nothing');
    const again = await run(t.app, readRecords(text, 'jsonl'));
    assert.deepEqual(
      again.rows.map((r) => (r.status === 'skipped' ? r.reason : r.status)),
      ['exists: an account with id 11 was imported before', 'exists: an account has this email', 'exists: an account has this username', 'imported'],
    );
    const third = await run(t.app, readRecords(text, 'jsonl'));
    assert.equal(third.imported, 0);
    assert.equal(await storedHash(t.app, 'plain'), before, 'never updated by a re-run');
  });

  test('CSV: a header row, quoted fields, roles separated by ";"; a broken row is skipped; an unreadable file is refused whole', async () => {
    const csv = [
      'Username,Email,Name,DOB,Roles,Password_Hash,Password',
      `csv1,csv1@example.com,"Doe, Jane",1985-03-04,admin;editor,${fx.hashes['bcrypt']},`,
      'csv2,,"Multi',
      'line ""name""",,,,csv2-pass-1',
      'csv3,csv3@example.com,"broken"quote,,,,x',
      'csv4,csv4@example.com,too,many,fields,here,x,y',
      'csv5,csv5@example.com,ab"c,,,,x',
      '',
      'csv6,csv6@example.com,,,,,csv6-pass-1',
      'csv7,"never closed,,,,,x',
      'csv8,csv8@example.com,,,,,x',
    ].join('\r\n');
    const report = await run(t.app, readRecords(csv, 'csv'), { source: 'csv' });
    assert.deepEqual(
      report.rows.map((r) => ['line' in r ? r.line : 0, r.status === 'imported' ? r.username : r.reason]),
      [
        [2, 'csv1'],
        [3, 'csv2'],
        [5, 'malformed CSV row (a quoted field is not closed properly)'],
        [6, 'malformed CSV row (not as many fields as the header)'],
        [7, 'malformed CSV row (a quote inside an unquoted field)'],
        [9, 'csv6'],
        [10, 'malformed CSV row (a quoted field is not closed properly)'],
        [11, 'csv8'],
      ],
    );
    const csv1 = await t.app.services.users.require('csv1');
    assert.deepEqual([csv1.display_name, csv1.dob, csv1.roles], ['Doe, Jane', '1985-03-04', ['admin', 'editor']]);
    assert.equal((await t.app.services.users.require('csv2')).display_name, 'Multi\r\nline "name"');
    assert.equal((await login(t.app, { username: 'csv1', password: 'bcrypt-pass-1' })).statusCode, 200);
    for (const [text, format, message] of [
      ['email,password\na@example.com,x\n', 'csv', /no username column/],
      ['', 'csv', /no users in it/],
      ['{"a":1', 'jsonl', /no line is a JSON object/],
      ['\u0000\u0001binary', 'jsonl', /not a text file/],
    ] as const) {
      assert.throws(() => readRecords(text, format), (err: unknown) => err instanceof UnreadableInput && message.test(err.message));
    }
  });

  test("Flask-Security-Too's database: HMAC pre-hashed argon2, bcrypt and pbkdf2-sha512, roles, inactive and password-less users", async () => {
    const records = readFlaskSecurityDb(fx.tooDb);
    const report = await run(t.app, records, { source: 'flask-security', flaskSecuritySalt: FS_SALT, deriveUsername: true });
    assert.deepEqual(
      report.rows.map((r) => ['user_id' in r ? r.user_id : '', r.status === 'imported' ? r.username : r.reason]),
      [
        ['1', 'ada'],
        ['2', 'grace'],
        ['3', 'linus'],
        ['4', 'password_hash or password is missing'],
        ['5', 'rené'],
      ],
    );
    const ada = await t.app.services.users.require('ada');
    assert.deepEqual([ada.email, ada.roles, ada.legacy_id, ada.email_confirmed_at !== null], ['ada@example.com', ['admin', 'editor'], '1', true]);
    assert.match(ada.password_hash, /^fs-hmac-sha512\$/);
    assert.notEqual((await t.app.services.users.require('linus')).disabled_at, null);
    // seed 001 logs in by email: POST /login and POST /authenticate
    const ok = await login(t.app, { email: 'ada@example.com', password: 'ada-too-pass' }, '/login');
    assert.equal(ok.statusCode, 200, ok.body);
    const admin = await t.app.inject({ method: 'GET', url: '/admin', headers: { authorization: `Bearer ${ok.json().access_token}` } });
    assert.equal(admin.statusCode, 200);
    assert.match(await storedHash(t.app, 'ada'), /^\$argon2id\$/);
    const cookie = await login(t.app, { email: 'grace@example.com', password: 'grace-too-pass' }, '/authenticate');
    assert.equal(cookie.statusCode, 200, cookie.body);
    // Flask-Security-Too normalized the password (NFKD) before its HMAC; it is typed composed
    assert.equal((await login(t.app, { email: 'rené@example.com', password: 'caf\u00e9-\u00e9t\u00e9' }, '/login')).statusCode, 200);
    // without the salt the same hashes are useless: imported as they are, they never verify
    const other = await buildTestApp();
    try {
      await run(other.app, readFlaskSecurityDb(fx.tooDb, 'fs_uniquifier'), { source: 'flask-security', flaskSecuritySalt: null, deriveUsername: true });
      assert.equal((await login(other.app, { email: 'ada@example.com', password: 'ada-too-pass' }, '/login')).statusCode, 401);
      assert.match((await other.app.services.users.require('ada')).legacy_id!, /^[0-9a-f]{32}$/, '--legacy-id fs_uniquifier');
    } finally {
      await other.close();
    }
    assert.throws(() => readFlaskSecurityDb(join(fixtures.dir, 'missing.db')), UnreadableInput);
    const notDb = join(fixtures.dir, 'not.db');
    writeFileSync(notDb, 'this is not a database, just text long enough to have a header page');
    assert.throws(() => readFlaskSecurityDb(notDb), UnreadableInput);
  });
});

describe('bastion import (the CLI)', () => {
  const fixtures = tempDir('bastion-import-cli-');
  let fx: Fixtures;
  before(() => {
    fx = makeFixtures(fixtures.dir);
  });
  after(() => fixtures.remove());

  test('seed 001: import flask-security with the salt from the environment, then log in as its admin; twice is harmless', async () => {
    const { dir, remove } = tempDir('bastion-import-db-');
    try {
      const env = { DATABASE_URL: testDatabaseUrl(dir) };
      const first = await runCli(['import', 'flask-security', '--db', `sqlite:${fx.seedDb}`], { ...env, FLASK_SECURITY_PASSWORD_SALT: FS_SALT });
      assert.equal(first.code, 0, show(first));
      assert.deepEqual(first.stdout.trim().split('\n'), ['user id 1: imported admin', 'user id 2: imported jm1021', 'imported 2, skipped 0']);
      assert.ok(!`${first.stdout}${first.stderr}`.includes(FS_SALT), 'the salt is never printed');
      const second = await runCli(['import', 'flask-security', '--db', `sqlite:${fx.seedDb}`, '--json'], { ...env, FLASK_SECURITY_PASSWORD_SALT: FS_SALT });
      assert.equal(second.code, 0, show(second));
      const report = JSON.parse(second.stdout) as ImportReport;
      assert.deepEqual([report.imported, report.skipped, report.rows[0]], [0, 2, { user_id: '1', status: 'skipped', reason: 'exists: an account with id 1 was imported before', username: 'admin' }]);
      const app = await buildApp(testConfig({}, dir));
      try {
        const res = await login(app, { email: 'admin@example.com', password: 'password' }, '/login');
        assert.equal(res.statusCode, 200, res.body);
        const admin = await app.inject({ method: 'GET', url: '/admin', headers: { authorization: `Bearer ${res.json().access_token}` } });
        assert.equal(admin.statusCode, 200);
        assert.match(await storedHash(app, 'admin'), /^\$argon2id\$/);
      } finally {
        await app.close();
      }
    } finally {
      remove();
    }
  });

  test('mistakes are one line: no salt (exit 2), an unreadable file (exit 1), and nothing is imported', async () => {
    const { dir, remove } = tempDir('bastion-import-db-');
    try {
      const env = { DATABASE_URL: testDatabaseUrl(dir), FLASK_SECURITY_PASSWORD_SALT: '' };
      const noSalt = await runCli(['import', 'flask-security', '--db', `sqlite:${fx.seedDb}`], env);
      assert.equal(noSalt.code, 2, show(noSalt));
      assert.match(noSalt.stderr, /SECURITY_PASSWORD_SALT: set FLASK_SECURITY_PASSWORD_SALT/);
      const bad = join(fixtures.dir, 'users.csv');
      writeFileSync(bad, 'email,password_hash\nx@example.com,$2b$05$abc\n');
      const unreadable = await runCli(['import', 'users', bad], env);
      assert.equal(unreadable.code, 1, show(unreadable));
      assert.deepEqual(unreadable.stderr.trim().split('\n'), [`bastion: ${bad}: the CSV header has no username column; nothing was imported`]);
      assert.equal(unreadable.stdout, '');
    } finally {
      remove();
    }
  });
});
