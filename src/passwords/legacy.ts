/**
 * Password hashes made by other systems, kept as imported (`bastion import`) until the
 * first successful login replaces them with argon2id (users/service.ts, needsRehash).
 * What the seed tutorials' Flask stacks store:
 *
 *   werkzeug        pbkdf2:<digest>:<iterations>$<salt>$<hex>     generate_password_hash
 *                   scrypt:<N>:<r>:<p>$<salt>$<hex>               werkzeug ≥ 3.0's default
 *   passlib         $pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 key>   also -sha512, and $pbkdf2$ (SHA-1)
 *   bcrypt          $2a$ / $2b$ / $2y$<cost>$<salt and hash>       passlib, python bcrypt, PHP
 *   argon2          $argon2id$ / $argon2i$ / $argon2d$ PHC strings  passlib, argon2-cffi, Bastion itself
 *   Flask-Security  fs-hmac-sha512$<base64 salt>$<one of the above>   Bastion's marker, see below
 *
 * Flask-Security(-Too), unless SECURITY_PASSWORD_SINGLE_HASH is set, hashes not the
 * password but base64(HMAC-SHA-512(key = SECURITY_PASSWORD_SALT, password)) with its
 * passlib scheme, so its hashes verify only with that salt. The import keeps the salt in
 * front of each such hash; it is then exactly as sensitive as the hash beside it (one
 * column, never logged, never returned by the API) and disappears with it at the rehash.
 *
 * Every derivation runs off the event loop: node:crypto's pbkdf2 and scrypt and
 * @node-rs/bcrypt on libuv's pool, argon2 on Bastion's own hashing threads. Parameters
 * are capped (OWASP Denial of Service Cheat Sheet: bound expensive operations): an
 * imported hash naming 2^31 iterations would otherwise burn a core for hours per login
 * attempt. Derived keys are compared in constant time.
 */
import { createHmac, pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';

/** How a stored hash was made: named in the audit log when it is replaced (never the hash). */
export type HashScheme = 'argon2' | 'bcrypt' | 'werkzeug-pbkdf2' | 'werkzeug-scrypt' | 'passlib-pbkdf2';

export interface HashLimits {
  readonly pbkdf2Iterations: number;
  /** scrypt's memory, 128·N·r bytes */
  readonly scryptMemoryBytes: number;
  /** scrypt's work, N·r·p */
  readonly scryptWork: number;
  readonly bcryptCost: number;
  readonly argon2MemoryKiB: number;
  readonly argon2Passes: number;
  readonly argon2Lanes: number;
}

/**
 * What an import accepts: several times what the libraries make by default (werkzeug 3.1:
 * 1,000,000 PBKDF2 iterations, scrypt N=2^15 r=8 p=1 = 32 MiB; passlib: 29,000 rounds,
 * bcrypt cost 12, argon2 100 MiB t=2 p=8), and no further.
 */
export const IMPORT_LIMITS: HashLimits = {
  pbkdf2Iterations: 2_000_000,
  scryptMemoryBytes: 256 * 1024 * 1024,
  scryptWork: 2 ** 22,
  bcryptCost: 15,
  argon2MemoryKiB: 262_144,
  argon2Passes: 16,
  argon2Lanes: 16,
};

/**
 * What a login verifies: the import's limits, except that an argon2 hash may also be
 * Bastion's own, made within the ARGON2_* settings' ranges (config/schema.ts).
 */
export const VERIFY_LIMITS: HashLimits = { ...IMPORT_LIMITS, argon2MemoryKiB: 4_194_304, argon2Passes: 100 };

type Kdf =
  | { readonly kind: 'argon2'; readonly phc: string; readonly memoryKiB: number; readonly passes: number; readonly lanes: number }
  | { readonly kind: 'bcrypt'; readonly hash: string; readonly cost: number }
  | {
      readonly kind: 'pbkdf2';
      readonly scheme: 'werkzeug-pbkdf2' | 'passlib-pbkdf2';
      readonly digest: string;
      readonly iterations: number;
      readonly salt: Buffer;
      readonly key: Buffer;
    }
  | { readonly kind: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: Buffer; readonly key: Buffer };

export interface ParsedHash {
  readonly scheme: HashScheme;
  /** Flask-Security's SECURITY_PASSWORD_SALT when the hash is of its HMAC pre-hash */
  readonly flaskSecuritySalt: string | null;
  readonly kdf: Kdf;
}

/** A hash, or why it cannot be used; the reason names parameters, never the hash. */
export type ParseResult = { readonly ok: true; readonly hash: ParsedHash } | { readonly ok: false; readonly reason: string };

const FLASK_SECURITY_PREFIX = 'fs-hmac-sha512$';

/** werkzeug passes the digest name to hashlib; these are the ones both hashlib and node:crypto know alike. */
const PBKDF2_DIGESTS = new Set(['sha1', 'sha224', 'sha256', 'sha384', 'sha512']);
/** passlib's names -> digest, and the key length it always writes */
const PASSLIB_PBKDF2: Record<string, { digest: string; keyLength: number }> = {
  '': { digest: 'sha1', keyLength: 20 },
  '-sha256': { digest: 'sha256', keyLength: 32 },
  '-sha512': { digest: 'sha512', keyLength: 64 },
};

const ARGON2 = /^\$argon2(?:id|i|d)\$(?:v=(?:16|19)\$)?m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,10})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const WERKZEUG_PBKDF2 = /^pbkdf2:([a-z0-9_-]{1,16})(?::(\d{1,10}))?\$([^$]{1,256})\$([0-9a-fA-F]*)$/;
const WERKZEUG_SCRYPT = /^scrypt:(\d{1,10}):(\d{1,10}):(\d{1,10})\$([^$]{1,256})\$([0-9a-fA-F]*)$/;
const PASSLIB_PBKDF2_RE = /^\$pbkdf2(|-sha256|-sha512)\$(\d{1,10})\$([./A-Za-z0-9]{0,1024})\$([./A-Za-z0-9]{1,128})$/;

const fail = (reason: string): ParseResult => ({ ok: false, reason });
const over = (what: string, value: number, limit: number): ParseResult => fail(`${what} ${value} is above the limit of ${limit}`);

/** Parses a stored hash and checks its parameters against `limits`. */
export function parseHash(stored: string, limits: HashLimits): ParseResult {
  if (stored.startsWith(FLASK_SECURITY_PREFIX)) {
    const rest = stored.slice(FLASK_SECURITY_PREFIX.length);
    const cut = rest.indexOf('$');
    const salt = cut > 0 ? Buffer.from(rest.slice(0, cut), 'base64').toString('utf8') : '';
    if (salt === '') return fail('malformed Flask-Security hash marker');
    const inner = parseHash(rest.slice(cut + 1), limits);
    if (!inner.ok) return inner;
    if (inner.hash.flaskSecuritySalt !== null) return fail('malformed Flask-Security hash marker');
    return { ok: true, hash: { ...inner.hash, flaskSecuritySalt: salt } };
  }
  if (stored.startsWith('$argon2')) return parseArgon2(stored, limits);
  if (stored.startsWith('$2')) return parseBcrypt(stored, limits);
  if (stored.startsWith('pbkdf2:')) return parseWerkzeugPbkdf2(stored, limits);
  if (stored.startsWith('scrypt:')) return parseWerkzeugScrypt(stored, limits);
  if (stored.startsWith('$pbkdf2')) return parsePasslibPbkdf2(stored, limits);
  return fail(unknownFormat(stored));
}

function parseArgon2(stored: string, limits: HashLimits): ParseResult {
  const m = ARGON2.exec(stored);
  if (!m) return fail('malformed argon2 hash');
  const [memoryKiB, passes, lanes] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (memoryKiB > limits.argon2MemoryKiB) return over('argon2 memory (KiB)', memoryKiB, limits.argon2MemoryKiB);
  if (passes > limits.argon2Passes) return over('argon2 time cost', passes, limits.argon2Passes);
  if (lanes > limits.argon2Lanes) return over('argon2 parallelism', lanes, limits.argon2Lanes);
  return { ok: true, hash: { scheme: 'argon2', flaskSecuritySalt: null, kdf: { kind: 'argon2', phc: stored, memoryKiB, passes, lanes } } };
}

function parseBcrypt(stored: string, limits: HashLimits): ParseResult {
  const m = BCRYPT.exec(stored);
  if (!m) return fail(stored.startsWith('$2x$') ? 'bcrypt $2x$ hashes (crypt_blowfish\'s buggy variant) are not supported' : 'malformed bcrypt hash');
  const cost = Number(m[1]);
  if (cost < 4 || cost > 31) return fail('malformed bcrypt hash');
  if (cost > limits.bcryptCost) return over('bcrypt cost', cost, limits.bcryptCost);
  return { ok: true, hash: { scheme: 'bcrypt', flaskSecuritySalt: null, kdf: { kind: 'bcrypt', hash: stored, cost } } };
}

function parseWerkzeugPbkdf2(stored: string, limits: HashLimits): ParseResult {
  const m = WERKZEUG_PBKDF2.exec(stored);
  if (!m) return fail('malformed werkzeug pbkdf2 hash');
  const [, digest, iterationText, salt, hex] = m as unknown as [string, string, string | undefined, string, string];
  if (!PBKDF2_DIGESTS.has(digest)) return fail(`werkzeug pbkdf2 with digest "${digest}" is not supported`);
  if (iterationText === undefined) return fail('werkzeug pbkdf2 hash without an iteration count');
  const key = hexKey(hex);
  if (!key) return fail('malformed werkzeug pbkdf2 hash');
  return pbkdf2Hash('werkzeug-pbkdf2', digest, Number(iterationText), Buffer.from(salt, 'utf8'), key, limits);
}

function parsePasslibPbkdf2(stored: string, limits: HashLimits): ParseResult {
  const m = PASSLIB_PBKDF2_RE.exec(stored);
  if (!m) return fail('malformed passlib pbkdf2 hash');
  const [, variant, rounds, salt, checksum] = m as unknown as [string, string, string, string, string];
  const { digest, keyLength } = PASSLIB_PBKDF2[variant]!;
  const key = ab64(checksum);
  if (key.length !== keyLength) return fail('malformed passlib pbkdf2 hash');
  return pbkdf2Hash('passlib-pbkdf2', digest, Number(rounds), ab64(salt), key, limits);
}

function pbkdf2Hash(scheme: 'werkzeug-pbkdf2' | 'passlib-pbkdf2', digest: string, iterations: number, salt: Buffer, key: Buffer, limits: HashLimits): ParseResult {
  if (iterations < 1) return fail('pbkdf2 iteration count must be at least 1');
  if (iterations > limits.pbkdf2Iterations) return over('pbkdf2 iteration count', iterations, limits.pbkdf2Iterations);
  return { ok: true, hash: { scheme, flaskSecuritySalt: null, kdf: { kind: 'pbkdf2', scheme, digest, iterations, salt, key } } };
}

function parseWerkzeugScrypt(stored: string, limits: HashLimits): ParseResult {
  const m = WERKZEUG_SCRYPT.exec(stored);
  if (!m) return fail('malformed werkzeug scrypt hash');
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const key = hexKey(m[5]!);
  // RFC 7914 §2: N is a power of two greater than 1; r and p are positive
  if (!key || N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1) return fail('malformed werkzeug scrypt hash');
  if (128 * N * r > limits.scryptMemoryBytes) return over('scrypt memory (128·N·r bytes)', 128 * N * r, limits.scryptMemoryBytes);
  if (N * r * p > limits.scryptWork) return over('scrypt work (N·r·p)', N * r * p, limits.scryptWork);
  return { ok: true, hash: { scheme: 'werkzeug-scrypt', flaskSecuritySalt: null, kdf: { kind: 'scrypt', N, r, p, salt: Buffer.from(m[4]!, 'utf8'), key } } };
}

/** Lower- or upper-case hex of 1 to 128 bytes. */
function hexKey(hex: string): Buffer | null {
  return hex.length >= 2 && hex.length <= 256 && hex.length % 2 === 0 ? Buffer.from(hex, 'hex') : null;
}

/** passlib's "adapted base64": '.' for '+', no padding. */
const ab64 = (text: string): Buffer => Buffer.from(text.replaceAll('.', '+'), 'base64');

/**
 * Why a hash is not understood. Only a scheme-like identifier is named ("sha256" of
 * werkzeug's old `sha256$salt$hmac`, "$6" of sha512_crypt), and only when the rest looks
 * like hash material: a plaintext password that landed in a hash column must not show up
 * in the import's report.
 */
function unknownFormat(stored: string): string {
  const m = /^(\$?[A-Za-z0-9_-]{1,24})[$:]/.exec(stored);
  if (m && stored.length >= m[0].length + 16 && /^[\x21-\x7e]+$/.test(stored)) return `unknown password hash format "${m[1]}"`;
  return 'unknown password hash format';
}

/** Marks a hash as one of Flask-Security's, made over its HMAC pre-hash with `salt`. */
export function flaskSecurityHash(salt: string, inner: string): string {
  return `${FLASK_SECURITY_PREFIX}${Buffer.from(salt, 'utf8').toString('base64')}$${inner}`;
}

/** Flask-Security's get_hmac: base64 (standard, padded) of HMAC-SHA-512 keyed with the salt. */
export function flaskSecurityPrehash(salt: string, password: string): string {
  return createHmac('sha512', Buffer.from(salt, 'utf8')).update(password, 'utf8').digest('base64');
}

export type Argon2Verify = (phc: string, password: string) => Promise<boolean>;

/**
 * Checks a password against any hash above. False for a wrong password, and alike for a
 * hash that cannot be read or is over the limits: a login learns nothing more (no oracle).
 */
export async function verifyStoredHash(stored: string, password: string, argon2: Argon2Verify, limits: HashLimits = VERIFY_LIMITS): Promise<boolean> {
  const parsed = parseHash(stored, limits);
  if (!parsed.ok) return false;
  const { kdf, flaskSecuritySalt } = parsed.hash;
  if (flaskSecuritySalt === null) return verifyKdf(kdf, password, argon2);
  // Flask-Security-Too ≥ 4.0 normalizes passwords (NFKD, SECURITY_PASSWORD_NORMALIZE_FORM)
  // before hashing; earlier versions did not. The second form is tried only when it differs.
  const forms = [...new Set([password, password.normalize('NFKD')])];
  for (const form of forms) {
    if (await verifyKdf(kdf, flaskSecurityPrehash(flaskSecuritySalt, form), argon2)) return true;
  }
  return false;
}

async function verifyKdf(kdf: Kdf, password: string, argon2: Argon2Verify): Promise<boolean> {
  try {
    switch (kdf.kind) {
      case 'argon2':
        return await argon2(kdf.phc, password);
      case 'bcrypt':
        // bcrypt reads at most 72 bytes of the password, as passlib and python's bcrypt do;
        // the addon loads with the first imported bcrypt hash, not at every start
        return await (await import('@node-rs/bcrypt')).verify(password, kdf.hash);
      case 'pbkdf2':
        return sameBytes(await derivePbkdf2(password, kdf.salt, kdf.iterations, kdf.key.length, kdf.digest), kdf.key);
      case 'scrypt':
        return sameBytes(await deriveScrypt(password, kdf.salt, kdf.key.length, kdf.N, kdf.r, kdf.p), kdf.key);
    }
  } catch {
    return false;
  }
}

const sameBytes = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

function derivePbkdf2(password: string, salt: Buffer, iterations: number, keyLength: number, digest: string): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, keyLength, digest, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function deriveScrypt(password: string, salt: Buffer, keyLength: number, N: number, r: number, p: number): Promise<Buffer> {
  // maxmem only has to admit what the limits already allowed (OpenSSL needs ~128·N·r plus 128·r·p)
  const maxmem = 2 * 128 * N * r + 128 * r * p + 1024 * 1024;
  return new Promise((resolve, reject) =>
    scrypt(Buffer.from(password, 'utf8'), salt, keyLength, { N, r, p, maxmem }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** The scheme of a stored hash for the audit log ("argon2id", "flask-security+bcrypt"), or null if it is none of these. */
export function describeHash(stored: string): string | null {
  const parsed = parseHash(stored, VERIFY_LIMITS);
  if (!parsed.ok) return null;
  const { scheme, kdf, flaskSecuritySalt } = parsed.hash;
  const name = kdf.kind === 'argon2' ? kdf.phc.slice(1, kdf.phc.indexOf('$', 1)) : scheme;
  return flaskSecuritySalt === null ? name : `flask-security+${name}`;
}
