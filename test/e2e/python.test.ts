/**
 * Any language (issue #12 part 5): a Python service verifies Bastion's access tokens from
 * the discovery document alone, with Debian's python3-jwt (PyJWT) and python3-cryptography
 * (`npm test` installs them when missing, scripts/packages.ts), for each public-key
 * algorithm Bastion signs with. The script is test/python/verify.py.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { listenTestApp, signupAndLogin } from '../helpers/app.ts';
import { ROOT } from '../helpers/server.ts';

/** Debian's interpreter, which sees Debian's python3-* packages (a python3 earlier on PATH may not). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test/python/verify.py');

interface Outcome {
  readonly ok: boolean;
  readonly alg?: string;
  readonly error?: string;
  readonly claims?: Record<string, unknown>;
}

async function python(issuer: string, audience: string, tokens: string[]): Promise<Outcome[]> {
  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, issuer, audience, ...tokens], { timeout: 60_000 });
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as Outcome);
}

describe('a Python service with PyJWT verifies Bastion tokens from discovery alone', () => {
  for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
    test(`${alg}: a token verifies (iss, aud, exp, typ); tampered and foreign ones do not`, async () => {
      const { t, url } = await listenTestApp({ JWT_ALG: alg });
      try {
        const { access_token: token } = await signupAndLogin(t.app);
        const [h, p, s] = token.split('.') as [string, string, string];
        const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
        const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, roles: ['admin'] })).toString('base64url')}.${s}`;
        // a valid signature by a key that is not Bastion's, under Bastion's kid
        const { privateKey } = await generateKeyPair(alg, { ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
        const foreign = await new SignJWT(payload).setProtectedHeader({ alg, kid: decodeProtectedHeader(token).kid!, typ: 'at+jwt' }).sign(privateKey);

        const [good, bad, forged] = await python(url, 'bastion', [token, tampered, foreign]);
        assert.equal(good?.ok, true, JSON.stringify(good));
        assert.equal(good?.alg, alg);
        assert.equal(good?.claims?.['iss'], url);
        assert.equal(good?.claims?.['sub'], payload['sub']);
        assert.deepEqual(bad, { ok: false, error: 'InvalidSignatureError' });
        assert.deepEqual(forged, { ok: false, error: 'InvalidSignatureError' });

        // the same token for another audience is refused
        const [otherAudience] = await python(url, 'reports-api', [token]);
        assert.deepEqual(otherAudience, { ok: false, error: 'InvalidAudienceError' });
      } finally {
        await t.close();
      }
    });
  }

  test('metadata that names another issuer is refused (RFC 8414 §3.3)', async () => {
    const { t, url } = await listenTestApp({ JWT_ISSUER: 'https://auth.example.com' });
    try {
      const { access_token: token } = await signupAndLogin(t.app);
      await assert.rejects(python(url, 'bastion', [token]), (err: { code?: number; stderr?: string }) => err.code === 1 && /RFC 8414/.test(err.stderr ?? ''));
    } finally {
      await t.close();
    }
  });
});
