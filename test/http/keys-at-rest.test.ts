/**
 * Keys at rest (issue #9 part 8): with KEY_ENCRYPTION_KEY, the stored private signing keys
 * are AES-256-GCM wrapped, so a database dump alone cannot forge tokens; rotation and
 * verification still work, on this instance and on another one with the same key;
 * `bastion keys rewrap` moves the keys to a new key-encryption key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { isWrapped, KeyEncryptionKey } from '../../src/keys/wrap.ts';
import { bearer, signupAndLogin, tempDir, testConfig } from '../helpers/app.ts';
import { runCli } from '../helpers/server.ts';

const newKek = () => randomBytes(32).toString('base64');

const storedKeys = (app: FastifyInstance) => app.services.store.db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();

const secureStatus = async (app: FastifyInstance, token: string) => (await app.inject({ url: '/api/secure', headers: bearer(token) })).statusCode;

/** buildApp must fail with a ConfigError naming KEY_ENCRYPTION_KEY, in one line that shows no key. */
async function refusesToStart(env: Record<string, string>, dir: string, secrets: string[]): Promise<ConfigError> {
  let failure: unknown = null;
  try {
    const app = await buildApp(testConfig(env, dir));
    await app.close();
  } catch (err) {
    failure = err;
  }
  assert.ok(failure instanceof ConfigError, `expected a ConfigError, got ${String(failure)}`);
  assert.equal(failure.variable, 'KEY_ENCRYPTION_KEY');
  assert.match(failure.message, /^config: KEY_ENCRYPTION_KEY [^\n]+$/);
  for (const s of secrets) assert.ok(!failure.message.includes(s), 'the key appears in the error');
  return failure;
}

describe('private signing keys at rest', () => {
  test('stored wrapped, not as the key; issue, verify, rotate and verify again; a second instance with the same KEK verifies', async () => {
    const { dir, remove } = tempDir();
    const kek = newKek();
    const env = { KEY_ENCRYPTION_KEY: kek };
    const a = await buildApp(testConfig(env, dir));
    let b: FastifyInstance | null = null;
    try {
      const first = await signupAndLogin(a, 'alice');
      assert.equal(await secureStatus(a, first.access_token), 200);

      await a.services.keys.rotate();
      const second = await signupAndLogin(a, 'bob');
      assert.notEqual(JSON.parse(Buffer.from(second.access_token.split('.')[0]!, 'base64url').toString()).kid, JSON.parse(Buffer.from(first.access_token.split('.')[0]!, 'base64url').toString()).kid);
      assert.equal(await secureStatus(a, first.access_token), 200, 'the retired key still verifies');
      assert.equal(await secureStatus(a, second.access_token), 200);

      const rows = await storedKeys(a);
      assert.equal(rows.length, 2);
      const unwrap = KeyEncryptionKey.fromBase64(kek)!;
      for (const row of rows) {
        assert.ok(isWrapped(row.private_jwk), 'stored plain');
        assert.throws(() => JSON.parse(row.private_jwk), SyntaxError);
        const jwk = JSON.parse(unwrap.unwrap(row.private_jwk, row.kid)) as { d: string; x: string };
        assert.ok(jwk.d.length >= 32, 'the wrapped text opens to a private JWK');
        assert.ok(!row.private_jwk.includes(jwk.d), 'the private key is in the column');
        assert.ok(!row.private_jwk.includes('"d"'));
        // bound to its kid: moved onto another row, it does not open
        assert.throws(() => unwrap.unwrap(row.private_jwk, `${row.kid}x`));
      }

      b = await buildApp(testConfig(env, dir));
      assert.equal(await secureStatus(b, first.access_token), 200);
      assert.equal(await secureStatus(b, second.access_token), 200);
      const third = await signupAndLogin(b, 'carol');
      assert.equal(await secureStatus(a, third.access_token), 200);
    } finally {
      await a.close();
      await b?.close();
    }

    try {
      const wrong = newKek();
      await refusesToStart({ KEY_ENCRYPTION_KEY: wrong }, dir, [kek, wrong]);
      const missing = await refusesToStart({}, dir, [kek]);
      assert.match(missing.message, /required/);
    } finally {
      remove();
    }
  });

  test('keys stored plain before a KEK was set are wrapped at the first start with one, and old tokens keep verifying', async () => {
    const { dir, remove } = tempDir();
    try {
      const plain = await buildApp(testConfig({}, dir));
      let token: string;
      try {
        token = (await signupAndLogin(plain, 'dave')).access_token;
        const rows = await storedKeys(plain);
        assert.ok(rows.every((r) => !isWrapped(r.private_jwk) && 'd' in (JSON.parse(r.private_jwk) as object)));
      } finally {
        await plain.close();
      }
      const kek = newKek();
      const sealed = await buildApp(testConfig({ KEY_ENCRYPTION_KEY: kek }, dir));
      try {
        assert.ok((await storedKeys(sealed)).every((r) => isWrapped(r.private_jwk)));
        assert.equal(await secureStatus(sealed, token), 200);
      } finally {
        await sealed.close();
      }
    } finally {
      remove();
    }
  });

  test('bastion keys rewrap moves every key to a new KEK; the server starts with the new one and verifies old tokens', async () => {
    const { dir, remove } = tempDir();
    const oldKek = newKek();
    const nextKek = newKek();
    try {
      const config = testConfig({ KEY_ENCRYPTION_KEY: oldKek }, dir);
      const app = await buildApp(config);
      let token: string;
      let before: Awaited<ReturnType<typeof storedKeys>>;
      try {
        token = (await signupAndLogin(app, 'erin')).access_token;
        await app.services.keys.rotate();
        before = await storedKeys(app);
      } finally {
        await app.close();
      }
      const cliEnv = { DATABASE_URL: config.databaseUrl, LOG_LEVEL: 'silent' };

      // the old key is needed, and a wrong one changes nothing
      const noOld = await runCli(['keys', 'rewrap'], { ...cliEnv, KEY_ENCRYPTION_KEY: nextKek });
      assert.equal(noOld.code, 1);
      assert.match(noOld.stderr, /^config: KEY_ENCRYPTION_KEY_OLD is required[^\n]*\n$/);
      const wrongOld = await runCli(['keys', 'rewrap', '--from-key', newKek()], { ...cliEnv, KEY_ENCRYPTION_KEY: nextKek });
      assert.equal(wrongOld.code, 1);
      assert.match(wrongOld.stderr, /^config: KEY_ENCRYPTION_KEY_OLD does not decrypt[^\n]*\n$/);

      const done = await runCli(['keys', 'rewrap'], { ...cliEnv, KEY_ENCRYPTION_KEY: nextKek, KEY_ENCRYPTION_KEY_OLD: oldKek });
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /rewrapped 2 signing keys/);
      assert.ok(!done.stdout.includes(oldKek) && !done.stdout.includes(nextKek));

      await refusesToStart({ KEY_ENCRYPTION_KEY: oldKek }, dir, [oldKek, nextKek]);
      const after = await buildApp(testConfig({ KEY_ENCRYPTION_KEY: nextKek }, dir));
      try {
        const rows = await storedKeys(after);
        assert.deepEqual(rows.map((r) => r.kid), before.map((r) => r.kid));
        for (const [i, row] of rows.entries()) {
          assert.ok(isWrapped(row.private_jwk));
          assert.notEqual(row.private_jwk, before[i]!.private_jwk);
        }
        assert.equal(await secureStatus(after, token), 200);
        assert.equal(await secureStatus(after, (await signupAndLogin(after, 'frank')).access_token), 200);
      } finally {
        await after.close();
      }
    } finally {
      remove();
    }
  });

  test('a malformed KEY_ENCRYPTION_KEY stops start-up with one line naming it, never echoing it', async () => {
    for (const bad of ['not base64 at all!', randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), 'Zm9vYmFy']) {
      assert.throws(
        () => loadConfig({ KEY_ENCRYPTION_KEY: bad }),
        (err: unknown) => err instanceof ConfigError && err.variable === 'KEY_ENCRYPTION_KEY' && !err.message.includes(bad) && !err.message.includes('\n'),
      );
    }
    // base64url of 32 bytes is accepted too
    assert.ok(loadConfig({ KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') }).keyEncryptionKey);

    const { dir, remove } = tempDir();
    try {
      const secretish = randomBytes(20).toString('base64');
      const res = await runCli(['serve', '--port', '0'], { DATABASE_URL: testConfig({}, dir).databaseUrl, KEY_ENCRYPTION_KEY: secretish });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /^config: KEY_ENCRYPTION_KEY must be base64 of exactly 32 bytes[^\n]*\n$/);
      assert.ok(!res.stderr.includes(secretish));
    } finally {
      remove();
    }
  });

  test('without a KEK, start-up logs one warning line (not in demo mode, not for HS256, not with a KEK)', async () => {
    const warnings = async (env: Record<string, string>) => {
      let logs = '';
      const logStream = new Writable({
        write(chunk, _enc, cb) {
          logs += chunk.toString();
          cb();
        },
      });
      const { dir, remove } = tempDir();
      try {
        const app = await buildApp(testConfig({ LOG_LEVEL: 'warn', ...env }, dir), { logStream });
        await app.close();
      } finally {
        remove();
      }
      return logs
        .split('\n')
        .filter((l) => l.includes('KEY_ENCRYPTION_KEY'))
        .map((l) => JSON.parse(l) as { level: number; msg: string });
    };
    const plain = await warnings({});
    assert.equal(plain.length, 1);
    assert.equal(plain[0]!.level, 40);
    assert.match(plain[0]!.msg, /^KEY_ENCRYPTION_KEY is not set: private signing keys are stored unencrypted/);
    assert.deepEqual(await warnings({ KEY_ENCRYPTION_KEY: newKek() }), []);
    assert.deepEqual(await warnings({ JWT_ALG: 'HS256', JWT_SECRET: 's'.repeat(32) }), []);
    assert.deepEqual(await warnings({ DEMO: 'true' }), []);
  });
});
