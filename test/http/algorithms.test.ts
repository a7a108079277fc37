import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { buildApp } from '../../src/app.ts';
import { bearer, buildTestApp, signupAndLogin, tempDir, testConfig } from '../helpers/app.ts';

describe('every signing algorithm works end to end', () => {
  for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
    test(`${alg}: login, secure call, and JWKS verification by another service`, async () => {
      const t = await buildTestApp({ JWT_ALG: alg });
      try {
        const pair = await signupAndLogin(t.app);
        assert.equal(decodeProtectedHeader(pair.access_token).alg, alg);
        assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).statusCode, 200);
        const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json();
        assert.equal(jwks.keys.length, 1);
        for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(jwks.keys[0][k], undefined, `private member ${k} published`);
        const { payload } = await jwtVerify(pair.access_token, createLocalJWKSet(jwks), { issuer: t.config.jwt.issuer, audience: 'bastion' });
        assert.equal(typeof payload.sub, 'string');
      } finally {
        await t.close();
      }
    });
  }

  test('HS256 with a shared secret: a Flask-style service with the same secret verifies; JWKS stays empty', async () => {
    const secret = 'a shared secret that is long enough!';
    const t = await buildTestApp({ JWT_ALG: 'HS256', JWT_SECRET: secret });
    try {
      const pair = await signupAndLogin(t.app);
      assert.equal((await t.app.inject({ url: '/api/secure', headers: bearer(pair.access_token) })).statusCode, 200);
      await jwtVerify(pair.access_token, new TextEncoder().encode(secret), { algorithms: ['HS256'], audience: 'bastion' });
      assert.deepEqual((await t.app.inject({ url: '/.well-known/jwks.json' })).json(), { keys: [] });
    } finally {
      await t.close();
    }
  });

  test('switching JWT_ALG invalidates tokens of the old algorithm (allowlist of one)', async () => {
    const { dir, remove } = tempDir();
    const ed = await buildApp(testConfig({ JWT_ALG: 'EdDSA' }, dir));
    const pair = await signupAndLogin(ed);
    await ed.close();
    const es = await buildApp(testConfig({ JWT_ALG: 'ES256' }, dir));
    try {
      const res = await es.inject({ url: '/api/secure', headers: bearer(pair.access_token) });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().code, 'invalid_token');
    } finally {
      await es.close();
      remove();
    }
  });
});

describe('passwords', () => {
  test('a hash made with older argon2 parameters is redone at the next login', async () => {
    const { dir, remove } = tempDir();
    const weak = await buildApp(testConfig({ ARGON2_MEMORY: '256' }, dir));
    await signupAndLogin(weak, 'rehash');
    await weak.close();
    const stronger = await buildApp(testConfig({ ARGON2_MEMORY: '512' }, dir));
    try {
      const hashOf = async () => (await stronger.services.store.db.selectFrom('users').select('password_hash').where('username', '=', 'rehash').executeTakeFirstOrThrow()).password_hash;
      assert.match(await hashOf(), /m=256,/);
      const login = await stronger.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'rehash', password: 'correct horse battery' } });
      assert.equal(login.statusCode, 200);
      assert.match(await hashOf(), /^\$argon2id\$v=19\$m=512,t=1,p=1\$/);
      const again = await stronger.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'rehash', password: 'correct horse battery' } });
      assert.equal(again.statusCode, 200, 'the new hash verifies');
    } finally {
      await stronger.close();
      remove();
    }
  });
});
