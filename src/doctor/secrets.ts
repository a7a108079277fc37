/**
 * Is an HS256 secret guessable? An HMAC secret that an attacker can guess lets them mint
 * any token offline, after seeing one token (the JWT is the oracle): RFC 8725 §3.5 asks for
 * human-memorable passwords never to be used as keys, and RFC 7518 §3.2 for a key of at
 * least 256 bits. Three tests, none of which ever returns or prints the secret:
 *  - too short: fewer than 32 bytes (RFC 7518 §3.2);
 *  - guessable: built only from common words and short numbers (the secrets of the seed
 *    tutorials and of framework docs among them, also in leetspeak), or one short pattern
 *    repeated: what a dictionary attack tries first, however long;
 *  - low entropy: by the characters' frequencies, under 128 bits (a generous estimate:
 *    text in a human language carries far less than its letter frequencies suggest).
 */

/** Lower-case words that secrets are made of. Digits are handled as short numbers, below. */
const WORDS = new Set(
  [
    // the seed tutorials' secrets: 'your_secret_key' (001), 'sherpaSecret' (002)
    'your', 'secret', 'key', 'sherpa',
    // framework docs and examples: 'super-secret' (Flask-JWT-Extended), 'your-256-bit-secret' (jwt.io),
    // 'changeme', 'secretkey', 'jwtsecret', 'mysecret', 'supersecretkey', 'topsecret', 'notasecret'
    'super', 'bit', 'change', 'changeme', 'jwt', 'my', 'top', 'not', 'a', 'an', 'the', 'this', 'is', 'it', 'be', 'to', 'do',
    'secrets', 'keys', 'token', 'tokens', 'password', 'passwd', 'pass', 'passphrase', 'phrase', 'default', 'example', 'sample',
    'test', 'testing', 'tests', 'dev', 'development', 'prod', 'production', 'staging', 'local', 'demo', 'admin', 'root', 'user',
    'app', 'application', 'api', 'auth', 'server', 'service', 'flask', 'django', 'node', 'express', 'bastion', 'hmac', 'sign',
    'signing', 'hs', 'session', 'cookie', 'access', 'refresh', 'shared', 'private', 'public', 'very', 'long', 'strong', 'random',
    'string', 'value', 'here', 'replace', 'with', 'real', 'some', 'something', 'insert', 'put', 'set', 'me', 'please', 'todo',
    'fixme', 'xxx', 'foo', 'bar', 'baz', 'abc', 'qwerty', 'asdf', 'zxcv', 'letmein', 'hello', 'world', 'welcome', 'iloveyou',
    'monkey', 'dragon', 'master', 'trustno', 'hunter', 'guest', 'login', 'unsafe', 'insecure', 'dont', 'use', 'in', 'for',
    'only', 'keep', 'safe', 'of', 'and', 'or', 'no', 'yes', 'new', 'old', 'one', 'two', 'kyle', 'everest', 'mountain', 'jwtsecret',
  ],
);

/** Longest word, bounding the search. */
const MAX_WORD = Math.max(...[...WORDS].map((w) => w.length));
/** A number this short adds little: `secret2024`, `key123456`. */
const MAX_NUMBER = 6;

/** Read as letters in leetspeak; other symbols (`!`, `-`, `_`) are only decoration and dropped. */
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '@': 'a', $: 's' };

export type SecretWeakness =
  | { readonly level: 'error'; readonly reason: 'short' | 'guessable' }
  | { readonly level: 'warning'; readonly reason: 'low-entropy'; readonly bits: number };

export function secretWeakness(secret: string): SecretWeakness | null {
  if (Buffer.byteLength(secret, 'utf8') < 32) return { level: 'error', reason: 'short' };
  if (isRepeatedPattern(secret) || isWordsAndNumbers(secret)) return { level: 'error', reason: 'guessable' };
  const bits = entropyBits(secret);
  return bits < 128 ? { level: 'warning', reason: 'low-entropy', bits: Math.floor(bits) } : null;
}

/** One unit of at most 8 characters, repeated: `ssss…`, `abcabcabc…`, `secret!secret!…`. */
function isRepeatedPattern(secret: string): boolean {
  for (let period = 1; period <= 8 && period * 2 <= secret.length; period += 1) {
    let repeats = true;
    for (let i = period; i < secret.length && repeats; i += 1) repeats = secret[i] === secret[i - period];
    if (repeats) return true;
  }
  return false;
}

/**
 * The secret, without case and separators, splits entirely into known words and numbers
 * of at most MAX_NUMBER digits; tried as written and read as leetspeak (`s3cr3t`).
 */
function isWordsAndNumbers(secret: string): boolean {
  const plain = secret.toLowerCase().replace(/[^a-z0-9]/g, '');
  const leet = [...secret.toLowerCase()].map((c) => LEET[c] ?? c).join('').replace(/[^a-z0-9]/g, '');
  return (plain !== '' && segments(plain)) || (leet !== '' && segments(leet));
}

/** Word-break over WORDS; a run of digits is one token when it is whole (not split) and short. */
function segments(text: string): boolean {
  const ok = new Array<boolean>(text.length + 1).fill(false);
  ok[0] = true;
  for (let i = 0; i < text.length; i += 1) {
    if (!ok[i]) continue;
    if (/[0-9]/.test(text[i]!)) {
      let end = i;
      while (end < text.length && /[0-9]/.test(text[end]!)) end += 1;
      if (end - i <= MAX_NUMBER) ok[end] = true;
      continue;
    }
    for (let len = 1; len <= MAX_WORD && i + len <= text.length; len += 1) {
      if (WORDS.has(text.slice(i, i + len))) ok[i + len] = true;
    }
  }
  return ok[text.length]!;
}

/** Shannon entropy of the character frequencies, times the length: an upper estimate. */
function entropyBits(secret: string): number {
  const chars = [...secret];
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}
