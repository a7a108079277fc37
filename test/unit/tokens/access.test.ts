import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { base64url, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, UnsecuredJWT, type JSONWebKeySet } from 'jose';
import type { JwtAlg } from '../../../src/config/schema.ts';
import { AppError } from '../../../src/errors/app-error.ts';
import { issueAccessToken, verifyAccessToken } from '../../../src/tokens/access.ts';
import { generateSigningKey, importSigningKey, KeyRing, secretSigningKey } from '../../../src/tokens/keys.ts';

const NOW = 1_800_000_000;
const base = { issuer: 'bastion', audience: 'bastion', ttlSec: 900, nowSec: NOW };

async function ringFor(alg: Exclude<JwtAlg, 'HS256'>) {
  return new KeyRing(await importSigningKey(await generateSigningKey(alg)));
}
const verifyOpts = (ring: KeyRing, alg: JwtAlg, nowSec = NOW) => ({
  keys: ring,
  alg,
  issuer: 'bastion',
  audience: 'bastion',
  leewaySec: 5,
  nowSec,
});

async function rejects(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (err: unknown) => err instanceof AppError && err.code === code);
}

describe('access tokens', () => {
  for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
    test(`${alg}: issue then verify, with kid and typ at+jwt`, async () => {
      const ring = await ringFor(alg);
      const { token, claims } = await issueAccessToken({ ...base, sub: 'u1', roles: ['admin'], sid: 's1', key: ring.active });
      const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
      assert.deepEqual(header, { alg, kid: ring.active.kid, typ: 'at+jwt' });
      const verified = await verifyAccessToken(token, verifyOpts(ring, alg));
      assert.deepEqual(verified, claims);
      assert.equal(verified.exp - verified.iat, 900);
    });
  }

  test('tokens verify with jose against the published JWKS, as another service checks them (ES256: r||s, 64 bytes)', async () => {
    for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
      const ring = await ringFor(alg);
      const { token } = await issueAccessToken({ ...base, sub: 'u1', roles: ['user'], key: ring.active });
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(ring.jwks() as JSONWebKeySet), {
        algorithms: [alg],
        issuer: 'bastion',
        audience: 'bastion',
        typ: 'at+jwt',
        currentDate: new Date(NOW * 1000),
      });
      assert.equal(protectedHeader.kid, ring.active.kid);
      assert.deepEqual(payload.roles, ['user']);
      const signature = Buffer.from(token.split('.')[2]!, 'base64url');
      assert.equal(signature.length, { EdDSA: 64, ES256: 64, RS256: 256 }[alg], alg);
    }
  });

  test('HS256 with a shared secret', async () => {
    const ring = new KeyRing(secretSigningKey('s'.repeat(32)));
    const { token } = await issueAccessToken({ ...base, sub: 'u1', roles: [], key: ring.active });
    assert.equal((await verifyAccessToken(token, verifyOpts(ring, 'HS256'))).sub, 'u1');
    assert.deepEqual(ring.jwks(), { keys: [] }, 'a shared secret is never published');
  });

  test('expired tokens are token_expired, within leeway still valid', async () => {
    const ring = await ringFor('EdDSA');
    const { token } = await issueAccessToken({ ...base, sub: 'u1', roles: [], key: ring.active });
    await verifyAccessToken(token, verifyOpts(ring, 'EdDSA', NOW + 900 + 4));
    await rejects(verifyAccessToken(token, verifyOpts(ring, 'EdDSA', NOW + 900 + 6)), 'token_expired');
  });

  test('alg none is refused (RFC 8725 §3.1)', async () => {
    const ring = await ringFor('EdDSA');
    const unsigned = new UnsecuredJWT({ sub: 'u1', roles: ['admin'], jti: 'x' })
      .setIssuer('bastion')
      .setAudience('bastion')
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 60)
      .encode();
    await rejects(verifyAccessToken(unsigned, verifyOpts(ring, 'EdDSA')), 'invalid_token');
  });

  test('HS256 token signed with the public key is refused (key confusion)', async () => {
    const ring = await ringFor('RS256');
    const publicPem = (await import('node:crypto'))
      .createPublicKey({ key: ring.active.publicJwk as never, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' });
    const forged = await new SignJWT({ sub: 'u1', roles: ['admin'], jti: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: ring.active.kid, typ: 'at+jwt' })
      .setIssuer('bastion')
      .setAudience('bastion')
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 60)
      .sign(new TextEncoder().encode(String(publicPem)));
    await rejects(verifyAccessToken(forged, verifyOpts(ring, 'RS256')), 'invalid_token');
  });

  test('unknown kid, and an embedded jwk header, are refused', async () => {
    const ring = await ringFor('EdDSA');
    const attacker = await generateKeyPair('EdDSA', { extractable: true });
    const sign = (header: Record<string, unknown>) =>
      new SignJWT({ sub: 'u1', roles: ['admin'], jti: 'x' })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', ...header })
        .setIssuer('bastion')
        .setAudience('bastion')
        .setIssuedAt(NOW)
        .setExpirationTime(NOW + 60)
        .sign(attacker.privateKey);
    await rejects(verifyAccessToken(await sign({ kid: 'nope' }), verifyOpts(ring, 'EdDSA')), 'invalid_token');
    const jwk = await exportJWK(attacker.publicKey);
    await rejects(verifyAccessToken(await sign({ jwk }), verifyOpts(ring, 'EdDSA')), 'invalid_token');
    await rejects(verifyAccessToken(await sign({ kid: ring.active.kid, jku: 'http://127.0.0.1:1/jwks' }), verifyOpts(ring, 'EdDSA')), 'invalid_token');
  });

  test('wrong audience, wrong issuer, wrong typ are refused', async () => {
    const ring = await ringFor('EdDSA');
    for (const input of [
      { ...base, audience: 'other' },
      { ...base, issuer: 'someone-else' },
    ]) {
      const { token } = await issueAccessToken({ ...input, sub: 'u1', roles: [], key: ring.active });
      await rejects(verifyAccessToken(token, verifyOpts(ring, 'EdDSA')), 'invalid_token');
    }
    const plainJwt = await new SignJWT({ sub: 'u1', roles: [], jti: 'x' })
      .setProtectedHeader({ alg: 'EdDSA', kid: ring.active.kid })
      .setIssuer('bastion')
      .setAudience('bastion')
      .setIssuedAt(NOW)
      .setExpirationTime(NOW + 60)
      .sign(ring.active.signKey);
    await rejects(verifyAccessToken(plainJwt, verifyOpts(ring, 'EdDSA')), 'invalid_token');
  });

  test('a tampered payload is refused', async () => {
    const ring = await ringFor('EdDSA');
    const { token } = await issueAccessToken({ ...base, sub: 'u1', roles: [], key: ring.active });
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.roles = ['admin'];
    const tampered = `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
    await rejects(verifyAccessToken(tampered, verifyOpts(ring, 'EdDSA')), 'invalid_token');
  });

  test('a token from another key of the same alg is refused; both verify while both are in the ring', async () => {
    const old = await importSigningKey(await generateSigningKey('EdDSA'));
    const fresh = await importSigningKey(await generateSigningKey('EdDSA'));
    const { token } = await issueAccessToken({ ...base, sub: 'u1', roles: [], key: old });
    await rejects(verifyAccessToken(token, verifyOpts(new KeyRing(fresh), 'EdDSA')), 'invalid_token');
    assert.equal((await verifyAccessToken(token, verifyOpts(new KeyRing(fresh, [old]), 'EdDSA'))).sub, 'u1');
  });

  test('garbage is invalid_token, not a crash', async () => {
    const ring = await ringFor('EdDSA');
    for (const junk of ['', 'abc', 'a.b.c', 'x'.repeat(5000), '..', 'eyJ.eyJ.']) {
      await rejects(verifyAccessToken(junk, verifyOpts(ring, 'EdDSA')), 'invalid_token');
    }
  });

  test('generated RS256 keys are 2048-bit (RFC 7518 §3.3 minimum), published without private parts', async () => {
    const material = await generateSigningKey('RS256');
    assert.equal(Buffer.from(material.publicJwk.n!, 'base64url').length * 8, 2048);
    assert.equal(material.publicJwk.d, undefined);
    assert.equal(material.publicJwk.kid, material.kid);
  });
});
