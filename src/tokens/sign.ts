/**
 * JWS compact serialization (RFC 7515 §7.1) of Bastion's own tokens, signed by node:crypto
 * in one synchronous call. jose signs through WebCrypto, a job on libuv's thread pool and a
 * promise per token: 100 µs for an Ed25519 signature that takes 34 µs here (measured, issue
 * #10), on every login and refresh. Only signing is done here, with the key ring's own keys
 * and algorithms; every token is still verified by jose (tokens/access.ts), and the tests
 * verify what this writes with jose for each algorithm.
 */
import { createHmac, KeyObject, sign, type webcrypto } from 'node:crypto';
import type { JwtAlg } from '../config/schema.ts';

type SignKey = webcrypto.CryptoKey | Uint8Array;

/** CryptoKey -> KeyObject once per key (the key ring keeps its keys for their lifetime). */
const keyObjects = new WeakMap<webcrypto.CryptoKey, KeyObject>();
function keyObject(key: webcrypto.CryptoKey): KeyObject {
  let found = keyObjects.get(key);
  if (!found) keyObjects.set(key, (found = KeyObject.from(key)));
  return found;
}

const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signature(alg: JwtAlg, input: Buffer, key: SignKey): Buffer {
  if (alg === 'HS256') {
    if (!(key instanceof Uint8Array)) throw new TypeError('HS256 signs with a secret');
    return createHmac('sha256', key).update(input).digest();
  }
  if (key instanceof Uint8Array) throw new TypeError(`${alg} signs with a private key`);
  const privateKey = keyObject(key);
  switch (alg) {
    case 'EdDSA':
      return sign(null, input, privateKey);
    // JWS wants the raw r||s form (RFC 7518 §3.4), not DER
    case 'ES256':
      return sign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    case 'RS256':
      return sign('sha256', input, privateKey);
  }
}

/** `header.payload.signature`, each part base64url (no padding). */
export function signCompact(alg: JwtAlg, header: Record<string, unknown>, payload: object, key: SignKey): string {
  const input = `${part({ alg, ...header })}.${part(payload)}`;
  return `${input}.${signature(alg, Buffer.from(input), key).toString('base64url')}`;
}
