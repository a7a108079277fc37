/** Discovery (RFC 8414), the default issuer, and caching of the metadata and the JWKS (issue #12 part 1). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { buildTestApp, signupAndLogin } from '../helpers/app.ts';

const RFC8414 = '/.well-known/oauth-authorization-server';
const OIDC = '/.well-known/openid-configuration';

const maxAge = (header: unknown): number => {
  const m = /^public, max-age=(\d+)$/.exec(String(header));
  assert.ok(m, `Cache-Control is public with a max-age: ${String(header)}`);
  return Number(m[1]);
};

describe('discovery', () => {
  test('both well-known documents publish the issuer, the JWKS, the OAuth endpoints and only what Bastion implements', async () => {
    const t = await buildTestApp();
    try {
      const res = await t.app.inject({ url: RFC8414 });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal(maxAge(res.headers['cache-control']), 300);
      const doc = res.json();
      const base = 'http://127.0.0.1:8085'; // PUBLIC_URL's default, http://HOST:PORT
      assert.deepEqual(doc, {
        issuer: base,
        jwks_uri: `${base}/.well-known/jwks.json`,
        token_endpoint: `${base}/oauth/token`,
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        grant_types_supported: ['client_credentials'],
        response_types_supported: [],
        introspection_endpoint: `${base}/oauth/introspect`,
        introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        revocation_endpoint: `${base}/oauth/revoke`,
        revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        access_token_signing_alg_values_supported: ['EdDSA'],
        bastion_revocation_feed_endpoint: `${base}/api/revocations`,
        service_documentation: `${base}/docs`,
      });
      // not an OpenID Provider: no ID tokens, no authorization endpoint, no password grant
      for (const member of ['authorization_endpoint', 'id_token_signing_alg_values_supported', 'subject_types_supported', 'userinfo_endpoint']) {
        assert.equal(member in doc, false, member);
      }

      const oidc = await t.app.inject({ url: OIDC });
      assert.equal(oidc.statusCode, 200);
      assert.equal(maxAge(oidc.headers['cache-control']), 300);
      assert.deepEqual(oidc.json(), doc);

      // every endpoint published is served here (a request without credentials is refused, not unknown)
      const local = (url: string) => url.slice(base.length);
      for (const [method, url] of [
        ['GET', doc.jwks_uri],
        ['POST', doc.token_endpoint],
        ['POST', doc.introspection_endpoint],
        ['POST', doc.revocation_endpoint],
        ['GET', doc.bastion_revocation_feed_endpoint],
        ['GET', doc.service_documentation],
      ] as const) {
        const answer = await t.app.inject({ method, url: local(url) });
        assert.notEqual(answer.statusCode, 404, `${method} ${url}`);
      }
      const unauthenticated = await t.app.inject({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials' });
      assert.equal(unauthenticated.statusCode, 401);
    } finally {
      await t.close();
    }
  });

  test('iss defaults to PUBLIC_URL without its trailing slash; endpoints are made absolute from it', async () => {
    const t = await buildTestApp({ PUBLIC_URL: 'https://auth.example.com/' });
    try {
      assert.equal(t.config.jwt.issuer, 'https://auth.example.com');
      const doc = (await t.app.inject({ url: RFC8414 })).json();
      assert.equal(doc.issuer, 'https://auth.example.com');
      assert.equal(doc.token_endpoint, 'https://auth.example.com/oauth/token');
      const pair = await signupAndLogin(t.app);
      const jwks = (await t.app.inject({ url: '/.well-known/jwks.json' })).json() as JSONWebKeySet;
      const { payload } = await jwtVerify(pair.access_token, createLocalJWKSet(jwks), { issuer: doc.issuer, audience: 'bastion', typ: 'at+jwt' });
      assert.equal(payload.iss, 'https://auth.example.com');
    } finally {
      await t.close();
    }
  });

  test('an explicit JWT_ISSUER still wins (iss and the metadata), while the endpoints stay on PUBLIC_URL', async () => {
    const t = await buildTestApp({ PUBLIC_URL: 'https://bastion.internal:8443', JWT_ISSUER: 'https://auth.example.com' });
    try {
      const doc = (await t.app.inject({ url: OIDC })).json();
      assert.equal(doc.issuer, 'https://auth.example.com');
      assert.equal(doc.jwks_uri, 'https://bastion.internal:8443/.well-known/jwks.json');
      const pair = await signupAndLogin(t.app);
      assert.equal(decodeJwt(pair.access_token).iss, 'https://auth.example.com');
      assert.equal((await t.app.inject({ url: '/api/secure', headers: { authorization: `Bearer ${pair.access_token}` } })).statusCode, 200);
    } finally {
      await t.close();
    }
  });

  test('under HS256 nothing public verifies a token: no jwks_uri, the algorithm is named', async () => {
    const t = await buildTestApp({ JWT_ALG: 'HS256', JWT_SECRET: 'a shared secret that is long enough!' });
    try {
      const doc = (await t.app.inject({ url: RFC8414 })).json();
      assert.equal('jwks_uri' in doc, false);
      assert.deepEqual(doc.access_token_signing_alg_values_supported, ['HS256']);
    } finally {
      await t.close();
    }
  });

  test('RS256 and ES256 are published as configured', async () => {
    for (const alg of ['RS256', 'ES256']) {
      const t = await buildTestApp({ JWT_ALG: alg });
      try {
        assert.deepEqual((await t.app.inject({ url: RFC8414 })).json().access_token_signing_alg_values_supported, [alg]);
      } finally {
        await t.close();
      }
    }
  });

  test('PUBLIC_URL with a query, a fragment or credentials cannot be an issuer: start-up stops naming it', () => {
    for (const [value, why] of [
      ['https://auth.example.com/?tenant=1', /no query or fragment/],
      ['https://auth.example.com/#x', /no query or fragment/],
      ['https://user:pw@auth.example.com', /user name or password/],
    ] as const) {
      assert.throws(
        () => loadConfig({ PUBLIC_URL: value }),
        (err: unknown) => err instanceof ConfigError && /^config: PUBLIC_URL /.test(err.message) && why.test(err.message) && !err.message.includes('pw@'),
        value,
      );
    }
  });
});

describe('JWKS caching across a key rotation', () => {
  test('max-age stays under half the overlap in which a retired key still verifies (and at most 5 minutes)', async () => {
    const long = await buildTestApp(); // ACCESS_TTL 15m: overlap 905 s
    try {
      assert.equal(maxAge((await long.app.inject({ url: '/.well-known/jwks.json' })).headers['cache-control']), 300);
    } finally {
      await long.close();
    }
    const t = await buildTestApp({ ACCESS_TTL: '60s', JWT_LEEWAY: '5s' }); // overlap 65 s
    try {
      const before = await signupAndLogin(t.app);
      const first = await t.app.inject({ url: '/.well-known/jwks.json' });
      const age = maxAge(first.headers['cache-control']);
      assert.ok(age > 0 && age <= 65 / 2, `max-age ${age}`);

      await t.app.services.keys.rotate();
      const after = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'alice', password: 'correct horse battery' } });
      const newToken = after.json().access_token as string;
      assert.notEqual(decodeProtectedHeader(newToken).kid, decodeProtectedHeader(before.access_token).kid, 'signed by the new key');

      // A fresh copy holds both keys: tokens of the retired key (still in their lifetime) and of the new one verify.
      const fresh = (await t.app.inject({ url: '/.well-known/jwks.json' })).json() as JSONWebKeySet;
      assert.equal(fresh.keys.length, 2);
      for (const token of [before.access_token, newToken]) {
        await jwtVerify(token, createLocalJWKSet(fresh), { issuer: t.config.jwt.issuer, audience: 'bastion' });
      }
      // The copy cached before the rotation lacks the new key: how long a cache may serve it is the max-age above.
      await assert.rejects(jwtVerify(newToken, createLocalJWKSet(first.json() as JSONWebKeySet), { issuer: t.config.jwt.issuer, audience: 'bastion' }));
    } finally {
      await t.close();
    }
  });
});
