/**
 * A software authenticator for the API tests: real ES256 keys (node:crypto), real
 * attestation objects ('none' format, W3C WebAuthn L3 §6.5, §8.7) and real assertions
 * (§6.3), CBOR-encoded by the small encoder below, so the server's own verification runs
 * on them unchanged. What a test wants to go wrong (origin, RP id, counter, flags) is an
 * override of one call.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

// --- CBOR (RFC 8949), the subset WebAuthn uses ------------------------------------------

export type Cbor = number | string | Uint8Array | readonly Cbor[] | ReadonlyMap<number | string, Cbor>;

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError('integers only');
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  const list = value as readonly Cbor[];
  return Buffer.concat([head(4, list.length), ...list.map(cbor)]);
}

// --- the authenticator ------------------------------------------------------------------

const sha256 = (data: string | Uint8Array): Buffer => createHash('sha256').update(data).digest();
const b64u = (data: Uint8Array): string => Buffer.from(data).toString('base64url');

/** Authenticator data flags (L3 §6.1). */
export const FLAGS = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 } as const;

export interface StoredCredential {
  readonly id: Buffer;
  readonly privateKey: KeyObject;
  readonly rpId: string;
  /** base64url, as the RP sent it in options.user.id */
  readonly userHandle: string;
  counter: number;
}

/** What a test may falsify in one ceremony. */
export interface Overrides {
  readonly origin?: string;
  readonly rpId?: string;
  readonly challenge?: string;
  readonly type?: string;
  /** the signature counter to report (default: the stored one plus one) */
  readonly counter?: number;
  readonly flags?: number;
  readonly userHandle?: string | null;
  /** answer with this credential (default: the first for the RP id, or the first allowed) */
  readonly credentialId?: string;
}

interface CreationOptions {
  readonly challenge: string;
  readonly rp: { readonly id?: string; readonly name: string };
  readonly user: { readonly id: string; readonly name: string };
}

interface RequestOptions {
  readonly challenge: string;
  readonly rpId?: string;
  readonly allowCredentials?: readonly { readonly id: string }[];
}

function clientData(type: string, challenge: string, origin: string): string {
  return b64u(Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false })));
}

function counterBytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export class SoftAuthenticator {
  readonly credentials: StoredCredential[] = [];

  constructor(
    /** the page's origin, as the browser would put it in clientDataJSON */
    readonly origin: string,
    /** this authenticator's default flags: user present and verified; BE/BS make it a synced passkey */
    readonly flags: number = FLAGS.UP | FLAGS.UV,
  ) {}

  /** navigator.credentials.create(): a new ES256 key pair, attested with fmt 'none'. */
  create(options: CreationOptions, o: Overrides = {}) {
    const rpId = o.rpId ?? options.rp.id!;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    // COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256, x, y
    const cose = cbor(
      new Map<number, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const id = randomBytes(32);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const counter = o.counter ?? 0;
    const authData = Buffer.concat([
      sha256(rpId),
      Buffer.from([(o.flags ?? this.flags) | FLAGS.AT]),
      counterBytes(counter),
      Buffer.alloc(16), // AAGUID: all zeros, as with attestation 'none'
      idLength,
      id,
      cose,
    ]);
    const attestationObject = cbor(
      new Map<string, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    const credential: StoredCredential = { id, privateKey, rpId, userHandle: options.user.id, counter };
    this.credentials.push(credential);
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key' as const,
      response: {
        clientDataJSON: clientData(o.type ?? 'webauthn.create', o.challenge ?? options.challenge, o.origin ?? this.origin),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: { credProps: { rk: true } },
      authenticatorAttachment: 'platform',
    };
  }

  /** navigator.credentials.get(): an assertion by a stored credential, its counter moved on. */
  get(options: RequestOptions, o: Overrides = {}) {
    const rpId = o.rpId ?? options.rpId!;
    const allowed = (options.allowCredentials ?? []).map((c) => c.id);
    const credential =
      this.credentials.find((c) => (o.credentialId ? b64u(c.id) === o.credentialId : allowed.length > 0 ? allowed.includes(b64u(c.id)) : c.rpId === options.rpId)) ??
      (() => {
        throw new Error('the authenticator holds no credential for this request');
      })();
    const counter = o.counter ?? credential.counter + 1;
    credential.counter = Math.max(credential.counter, counter);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([o.flags ?? this.flags]), counterBytes(counter)]);
    const clientDataJSON = clientData(o.type ?? 'webauthn.get', o.challenge ?? options.challenge, o.origin ?? this.origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(Buffer.from(clientDataJSON, 'base64url'))]), credential.privateKey);
    const userHandle = o.userHandle === undefined ? credential.userHandle : o.userHandle;
    return {
      id: b64u(credential.id),
      rawId: b64u(credential.id),
      type: 'public-key' as const,
      response: {
        clientDataJSON,
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        ...(userHandle === null ? {} : { userHandle }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}
