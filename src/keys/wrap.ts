/**
 * Private signing keys at rest: wrapped with AES-256-GCM under KEY_ENCRYPTION_KEY, so a
 * database dump alone cannot forge tokens (NIST SP 800-38D; a random 96-bit IV per wrap).
 * The kid is the additional authenticated data: a wrapped key copied onto another row
 * does not unwrap there.
 *
 * Stored text: `v1:<iv>:<tag>:<ciphertext>`, each base64url. A plain JWK is JSON (it starts
 * with `{`), so the two are told apart and rows written before a KEK was set keep loading.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** base64 (standard or URL-safe) of exactly 32 bytes -> the bytes; anything else -> null. */
export function decodeKek(text: string): Buffer | null {
  const t = text.trim();
  if (!BASE64.test(t) && !BASE64URL.test(t)) return null;
  const bytes = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
  return bytes.length === KEY_BYTES ? bytes : null;
}

/** The stored text is a wrapped key (else: a plain JWK, written before a KEK was set). */
export const isWrapped = (stored: string): boolean => stored.startsWith(`${VERSION}:`);

/** A wrapped key that does not open under this KEK (wrong key, or the text was altered). */
export class UnwrapError extends Error {
  override name = 'UnwrapError';
}

/** The key-encryption key. Never printed: logging it shows a placeholder. */
export class KeyEncryptionKey {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** null when the text is not base64 of exactly 32 bytes */
  static fromBase64(text: string): KeyEncryptionKey | null {
    const bytes = decodeKek(text);
    return bytes ? new KeyEncryptionKey(bytes) : null;
  }

  /** Encrypts a private JWK's text, bound to its kid. */
  wrap(plain: string, kid: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(kid, 'utf8'));
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join(':');
  }

  /** The private JWK's text; throws UnwrapError when this KEK did not wrap it for this kid. */
  unwrap(stored: string, kid: string): string {
    const [version, iv, tag, data, extra] = stored.split(':');
    if (version !== VERSION || iv === undefined || tag === undefined || data === undefined || extra !== undefined) {
      throw new UnwrapError(`key ${kid}: not a ${VERSION} wrapped key`);
    }
    const ivBytes = Buffer.from(iv, 'base64url');
    const tagBytes = Buffer.from(tag, 'base64url');
    if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) throw new UnwrapError(`key ${kid}: malformed wrapped key`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, ivBytes, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(kid, 'utf8'));
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new UnwrapError(`key ${kid}: does not decrypt under this key-encryption key`);
    }
  }

  toJSON(): string {
    return '[KeyEncryptionKey]';
  }

  [inspect.custom](): string {
    return '[KeyEncryptionKey]';
  }
}

/** The private JWK's text from a stored column: plain JSON as is, a wrapped one through `kek`. */
export function openStoredKey(stored: string, kid: string, kek: KeyEncryptionKey | null): string {
  if (!isWrapped(stored)) return stored;
  if (!kek) throw new UnwrapError(`key ${kid}: is encrypted and no key-encryption key is set`);
  return kek.unwrap(stored, kid);
}
