/**
 * Imported password hashes (issue #12 part 6), made at test time by the real libraries the
 * tutorials' Flask stacks use: Debian's python3-werkzeug, python3-passlib, python3-bcrypt and
 * python3-argon2 (installed by `npm test`), and Flask-Security's HMAC pre-hash reproduced
 * through passlib + hmac exactly as flask_security.utils.hash_password does it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { PasswordHasher } from '../../../src/passwords/hasher.ts';
import { describeHash, flaskSecurityHash, IMPORT_LIMITS, parseHash, verifyStoredHash, VERIFY_LIMITS } from '../../../src/passwords/legacy.ts';

/** Debian's interpreter: the python3-* packages live in its dist-packages (a pyenv python3 on PATH would not see them). */
const PYTHON = '/usr/bin/python3';

const hasher = new PasswordHasher({ memoryCost: 256, timeCost: 1, parallelism: 1 }, 1, 0);
after(() => hasher.close());
const argon2 = (phc: string, pw: string) => hasher.verify(phc, pw);
const verify = (stored: string, password: string) => verifyStoredHash(stored, password, argon2);

const PASSWORD = 'correct horse battery';
/** composed (NFC) "é": Flask-Security-Too ≥ 4 hashes its NFKD form, Bastion receives it as typed */
const UNICODE = 'p\u00e4ssw\u00f6rd-\u00e9t\u00e9';
const LONG = 'x'.repeat(80) + '-tail'; // bcrypt reads 72 bytes
const FS_SALT = 'fs-salt-\u00fcber-$secret';

/** Every hash in one interpreter run (each start of python costs). */
const SCRIPT = String.raw`
import base64, hashlib, hmac, json, sys, unicodedata
from werkzeug.security import generate_password_hash
from passlib.hash import pbkdf2_sha1, pbkdf2_sha256, pbkdf2_sha512, bcrypt as passlib_bcrypt, argon2 as passlib_argon2
import bcrypt

args = json.loads(sys.stdin.read())
pw, uni, long_pw, salt = args['pw'], args['uni'], args['long'], args['salt']

def werkzeug3_scrypt(password, n=2**15, r=8, p=1):
    # werkzeug >= 3.0's "scrypt:n:r:p$salt$hex" (Debian 12 ships werkzeug 2.2, which predates it):
    # the same hashlib call and layout as werkzeug.security._hash_internal
    s = 'Zq3hT8yLw2Xr7PbN'
    h = hashlib.scrypt(password.encode(), salt=s.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p).hex()
    return 'scrypt:%d:%d:%d' % (n, r, p) + '$' + s + '$' + h

def fs_hmac(password):
    # flask_security.utils.get_hmac after PasswordUtil.normalize (NFKD, Flask-Security-Too >= 4)
    password = unicodedata.normalize('NFKD', password)
    return base64.b64encode(hmac.new(salt.encode(), password.encode(), hashlib.sha512).digest()).decode('ascii')

fast_argon2 = passlib_argon2.using(memory_cost=512, rounds=1, parallelism=1)
out = {
    'werkzeug_default': generate_password_hash(pw),
    'werkzeug_sha512': generate_password_hash(pw, method='pbkdf2:sha512:2000'),
    'werkzeug_sha1': generate_password_hash(pw, method='pbkdf2:sha1:2000'),
    'werkzeug_unicode': generate_password_hash(uni, method='pbkdf2:sha256:2000'),
    'werkzeug_old_sha256': generate_password_hash(pw, method='sha256'),
    'scrypt': werkzeug3_scrypt(pw),
    'passlib_sha256': pbkdf2_sha256.using(rounds=2000).hash(pw),
    'passlib_sha512': pbkdf2_sha512.using(rounds=2000).hash(pw),
    'passlib_sha1': pbkdf2_sha1.using(rounds=2000).hash(pw),
    'passlib_sha256_default': pbkdf2_sha256.hash(pw),
    'bcrypt_2b': bcrypt.hashpw(pw.encode(), bcrypt.gensalt(5)).decode(),
    'bcrypt_2a': passlib_bcrypt.using(rounds=5, ident='2a').hash(pw),
    'bcrypt_2y': passlib_bcrypt.using(rounds=5, ident='2y').hash(pw),
    'bcrypt_long': bcrypt.hashpw(long_pw.encode(), bcrypt.gensalt(5)).decode(),
    'argon2id': fast_argon2.hash(pw),
    'argon2i': fast_argon2.using(type='I').hash(pw),
    'fs_bcrypt': passlib_bcrypt.using(rounds=5).hash(fs_hmac(pw)),
    'fs_argon2': fast_argon2.hash(fs_hmac(pw)),
    'fs_pbkdf2_sha512': pbkdf2_sha512.using(rounds=2000).hash(fs_hmac(pw)),
    'fs_unicode': passlib_bcrypt.using(rounds=5).hash(fs_hmac(uni)),
    'fs_single_hash': passlib_bcrypt.using(rounds=5).hash(pw),
}
print(json.dumps(out))
`;

function pythonHashes(): Record<string, string> {
  const run = spawnSync(PYTHON, ['-c', SCRIPT], {
    input: JSON.stringify({ pw: PASSWORD, uni: UNICODE, long: LONG, salt: FS_SALT }),
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, string>;
}

describe('imported password hashes', () => {
  const h = pythonHashes();

  test('werkzeug pbkdf2 (its default, sha512, sha1, a non-ASCII password) and werkzeug 3 scrypt', async () => {
    assert.match(h['werkzeug_default']!, /^pbkdf2:sha256:\d+\$/);
    for (const key of ['werkzeug_default', 'werkzeug_sha512', 'werkzeug_sha1', 'scrypt']) {
      assert.equal(await verify(h[key]!, PASSWORD), true, key);
      assert.equal(await verify(h[key]!, `${PASSWORD}!`), false, key);
    }
    assert.equal(await verify(h['werkzeug_unicode']!, UNICODE), true);
    assert.equal(await verify(h['werkzeug_unicode']!, UNICODE.normalize('NFKD')), false, 'werkzeug does not normalize');
    assert.equal(describeHash(h['scrypt']!), 'werkzeug-scrypt');
    assert.equal(describeHash(h['werkzeug_sha1']!), 'werkzeug-pbkdf2');
  });

  test("passlib's $pbkdf2-sha256$, $pbkdf2-sha512$ and $pbkdf2$ (adapted base64)", async () => {
    for (const key of ['passlib_sha256', 'passlib_sha512', 'passlib_sha1', 'passlib_sha256_default']) {
      assert.equal(await verify(h[key]!, PASSWORD), true, key);
      assert.equal(await verify(h[key]!, 'wrong'), false, key);
    }
    assert.equal(describeHash(h['passlib_sha512']!), 'passlib-pbkdf2');
  });

  test('bcrypt $2a$, $2b$, $2y$, and its 72-byte limit as python bcrypt has it', async () => {
    for (const key of ['bcrypt_2a', 'bcrypt_2b', 'bcrypt_2y']) {
      assert.equal(await verify(h[key]!, PASSWORD), true, key);
      assert.equal(await verify(h[key]!, 'Correct horse battery'), false, key);
    }
    assert.equal(await verify(h['bcrypt_long']!, LONG), true);
    assert.equal(await verify(h['bcrypt_long']!, LONG.slice(0, 72) + 'anything'), true, 'bytes past 72 never counted');
    assert.equal(await verify(h['bcrypt_long']!, LONG.slice(0, 71)), false);
  });

  test('argon2id and argon2i from argon2-cffi through passlib, as they are', async () => {
    for (const key of ['argon2id', 'argon2i']) {
      assert.equal(await verify(h[key]!, PASSWORD), true, key);
      assert.equal(await verify(h[key]!, 'wrong'), false, key);
    }
    assert.equal(describeHash(h['argon2i']!), 'argon2i');
  });

  test("Flask-Security's HMAC-SHA-512 pre-hash, with its salt, over bcrypt, argon2 and pbkdf2-sha512", async () => {
    for (const key of ['fs_bcrypt', 'fs_argon2', 'fs_pbkdf2_sha512']) {
      const stored = flaskSecurityHash(FS_SALT, h[key]!);
      assert.equal(await verify(stored, PASSWORD), true, key);
      assert.equal(await verify(stored, 'wrong'), false, key);
      // without its salt, or with another, the pre-hashed hash never verifies
      assert.equal(await verify(h[key]!, PASSWORD), false, `${key} without the salt`);
      assert.equal(await verify(flaskSecurityHash('other salt', h[key]!), PASSWORD), false, `${key} with another salt`);
    }
    assert.equal(describeHash(flaskSecurityHash(FS_SALT, h['fs_bcrypt']!)), 'flask-security+bcrypt');
    // Flask-Security-Too normalizes to NFKD before the HMAC; the password arrives as typed (NFC)
    assert.equal(await verify(flaskSecurityHash(FS_SALT, h['fs_unicode']!), UNICODE), true);
    // SECURITY_PASSWORD_SINGLE_HASH: a plain passlib hash, imported without the salt
    assert.equal(await verify(h['fs_single_hash']!, PASSWORD), true);
  });

  test('absurd parameters are refused at import and at login, naming the parameter, never the hash', async () => {
    const hex = 'ab'.repeat(32);
    const cases: [string, RegExp][] = [
      [`pbkdf2:sha256:2000001$saltsalt$${hex}`, /pbkdf2 iteration count 2000001 is above the limit of 2000000/],
      [`$pbkdf2-sha256$999999999$c2FsdA$${'A'.repeat(43)}`, /pbkdf2 iteration count 999999999/],
      [`scrypt:1048576:8:1$saltsalt$${hex}`, /scrypt memory .* is above the limit/],
      [`scrypt:16384:8:4096$saltsalt$${hex}`, /scrypt work \(N·r·p\) .* is above the limit/],
      [`$2b$20$${'a'.repeat(53)}`, /bcrypt cost 20 is above the limit of 15/],
      [`$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$${'a'.repeat(43)}`, /argon2 memory \(KiB\) 4194304 is above the limit of 262144/],
    ];
    for (const [stored, reason] of cases) {
      const parsed = parseHash(stored, IMPORT_LIMITS);
      assert.equal(parsed.ok, false, stored);
      assert.match((parsed as { reason: string }).reason, reason);
      assert.ok(!(parsed as { reason: string }).reason.includes('saltsalt'));
    }
    // at login the same caps hold (argon2 may be as large as ARGON2_MEMORY allows Bastion's own)
    assert.equal(parseHash(`pbkdf2:sha256:2000000000$saltsalt$${hex}`, VERIFY_LIMITS).ok, false);
    assert.equal(await verify(`pbkdf2:sha256:2000000000$saltsalt$${hex}`, PASSWORD), false);
    assert.equal(parseHash(`$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$${'a'.repeat(43)}`, VERIFY_LIMITS).ok, true);
  });

  test('unknown formats: the reason names a scheme-like prefix, never a password or hash; login just fails', async () => {
    const old = parseHash(h['werkzeug_old_sha256']!, IMPORT_LIMITS);
    assert.deepEqual(old, { ok: false, reason: 'unknown password hash format "sha256"' });
    const sha512crypt = parseHash('$6$rounds=5000$abcdefgh$' + 'x'.repeat(86), IMPORT_LIMITS);
    assert.deepEqual(sha512crypt, { ok: false, reason: 'unknown password hash format "$6"' });
    // a plaintext password in the hash column is not echoed
    for (const plaintext of ['hunter2', 'secret$pass', 'my password: is long and has spaces']) {
      const parsed = parseHash(plaintext, IMPORT_LIMITS);
      assert.deepEqual(parsed, { ok: false, reason: 'unknown password hash format' }, plaintext);
    }
    assert.equal(parseHash('$2x$05$' + 'a'.repeat(53), IMPORT_LIMITS).ok, false);
    assert.equal(parseHash('pbkdf2:md5:1000$salt$' + 'ab'.repeat(16), IMPORT_LIMITS).ok, false);
    assert.equal(parseHash('pbkdf2:sha256$salt$' + 'ab'.repeat(32), IMPORT_LIMITS).ok, false);
    assert.equal(await verify(h['werkzeug_old_sha256']!, PASSWORD), false);
    assert.equal(await verify('', PASSWORD), false);
  });

  test('a slow KDF runs off the event loop: timers keep firing during a 2,000,000-iteration PBKDF2', async () => {
    const stored = `pbkdf2:sha512:2000000$saltsalt$${'ab'.repeat(64)}`;
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 1);
    try {
      assert.equal(await verify(stored, PASSWORD), false);
    } finally {
      clearInterval(timer);
    }
    // 2e6 HMAC-SHA-512 rounds take far longer than a few milliseconds anywhere; on the loop, no tick could run
    assert.ok(ticks >= 3, `the event loop turned ${ticks} times while the hash was derived`);
  });
});
