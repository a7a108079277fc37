/**
 * Signing keys, pure: generate, import, and publish as a JWKS. No storage here
 * (keys/service.ts keeps them in the database).
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { JwtAlg } from '../config/schema.ts';

export type VerifyKey = CryptoKey | Uint8Array;

export interface SigningKey {
  readonly kid: string;
  readonly alg: JwtAlg;
  readonly signKey: CryptoKey | Uint8Array;
  readonly verifyKey: VerifyKey;
  /** what /.well-known/jwks.json shows; null for a shared secret, which is never published */
  readonly publicJwk: JWK | null;
}

export interface StoredKeyMaterial {
  readonly kid: string;
  readonly alg: JwtAlg;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

/** A fresh asymmetric key pair; kid is the RFC 7638 thumbprint of the public key. */
export async function generateSigningKey(alg: Exclude<JwtAlg, 'HS256'>): Promise<StoredKeyMaterial> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
    ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg, privateJwk: await exportJWK(privateKey), publicJwk: { ...publicJwk, kid, alg, use: 'sig' } };
}

export async function importSigningKey(material: StoredKeyMaterial): Promise<SigningKey> {
  return {
    kid: material.kid,
    alg: material.alg,
    signKey: (await importJWK(material.privateJwk, material.alg)) as CryptoKey,
    verifyKey: (await importJWK(material.publicJwk, material.alg)) as CryptoKey,
    publicJwk: material.publicJwk,
  };
}

/** HS256 from the shared secret; its kid is a short hash, which reveals nothing usable. */
export function secretSigningKey(secret: string): SigningKey {
  const bytes = new TextEncoder().encode(secret);
  const kid = `hs-${createHash('sha256').update(bytes).digest('base64url').slice(0, 12)}`;
  return { kid, alg: 'HS256', signKey: bytes, verifyKey: bytes, publicJwk: null };
}

/** Active key plus every key still accepted for verification. */
export class KeyRing {
  private readonly byKid: ReadonlyMap<string, SigningKey>;

  constructor(
    readonly active: SigningKey,
    accepted: readonly SigningKey[] = [],
  ) {
    this.byKid = new Map([active, ...accepted].map((k) => [k.kid, k]));
  }

  find(kid: string | undefined): SigningKey | undefined {
    // A token without kid can only be matched to a shared secret, which is unambiguous.
    if (kid === undefined) return this.active.alg === 'HS256' ? this.active : undefined;
    return this.byKid.get(kid);
  }

  /** every key but the active one */
  accepted(): SigningKey[] {
    return [...this.byKid.values()].filter((k) => k !== this.active);
  }

  /** identifies the key set: equal fingerprints, equal rings */
  fingerprint(): string {
    return [this.active.kid, ...[...this.byKid.keys()].sort()].join(',');
  }

  jwks(): { keys: JWK[] } {
    return { keys: [...this.byKid.values()].flatMap((k) => (k.publicJwk ? [k.publicJwk] : [])) };
  }
}
