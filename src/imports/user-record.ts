/**
 * One record of an import, checked field by field into a user Bastion can store, or the
 * reason it cannot be: a record is imported whole or not at all. Reasons name the field
 * and, for a hash, its scheme or parameters: never a password or a hash.
 *
 * Fields (JSON lines: these keys; CSV: these header names, any case):
 *   username        required; 3 to 64 letters, digits, ".", "_", "-"
 *   email           optional; must be a valid address
 *   name            optional display name
 *   dob             optional YYYY-MM-DD, a real past date
 *   roles           optional; a JSON array, or text separated by ";", "," or spaces
 *                   ("admin;editor"); lower-cased; letters, digits, "_", "-"
 *   id              optional; the user's id in the old application (legacy_id), which its
 *                   tokens name (LEGACY_JWT_IDENTITY)
 *   active          optional, default true; false imports the account disabled
 *   email_confirmed optional, default false
 *   password_hash   a hash the old application made (passwords/legacy.ts), or
 *   password        a plaintext password, hashed now with argon2id
 * Other fields are ignored.
 */
import { flaskSecurityHash, IMPORT_LIMITS, parseHash } from '../passwords/legacy.ts';
import { isValidEmail, isValidUsername, normalizeEmail, normalizeUsername, ROLE_PATTERN } from '../users/model.ts';

export type ImportPassword = { readonly kind: 'hash'; readonly stored: string } | { readonly kind: 'plain'; readonly password: string };

export interface ImportUser {
  readonly username: string;
  /** the username was made up from the email (the old app had none): another may be picked if it is taken */
  readonly usernameDerived: boolean;
  readonly email: string | null;
  readonly name: string | null;
  readonly dob: string | null;
  readonly roles: readonly string[];
  readonly legacyId: string | null;
  readonly active: boolean;
  readonly emailConfirmed: boolean;
  readonly password: ImportPassword;
}

export interface RecordOptions {
  /** Flask-Security's SECURITY_PASSWORD_SALT: every password_hash is of its HMAC pre-hash */
  readonly flaskSecuritySalt: string | null;
  /** when the record has no username, make one from the email (Flask-Security apps log in by email) */
  readonly deriveUsername?: boolean;
  /** now (ms), for the dob check */
  readonly now: number;
}

export type Checked = { readonly ok: true; readonly user: ImportUser } | { readonly ok: false; readonly reason: string };

const MAX_PASSWORD = 1024; // the password policy's own upper bound (passwords/policy.ts)

class Skip extends Error {}

export function checkRecord(fields: Readonly<Record<string, unknown>>, options: RecordOptions): Checked {
  try {
    return { ok: true, user: toUser(fields, options) };
  } catch (err) {
    if (err instanceof Skip) return { ok: false, reason: err.message };
    throw err;
  }
}

function toUser(fields: Readonly<Record<string, unknown>>, options: RecordOptions): ImportUser {
  const email = optionalText(fields, 'email');
  const normalizedEmail = email === null ? null : normalizeEmail(email);
  if (normalizedEmail !== null && !isValidEmail(normalizedEmail)) throw new Skip('email is not a valid email address');
  let username = optionalText(fields, 'username');
  const usernameDerived = username === null && options.deriveUsername === true && normalizedEmail !== null;
  if (usernameDerived) username = usernameFrom(normalizedEmail!);
  if (username === null) throw new Skip('username is missing');
  username = normalizeUsername(username);
  if (!isValidUsername(username)) throw new Skip('username must be 3 to 64 letters, digits, dots, underscores or dashes');
  const name = optionalText(fields, 'name');
  if (name !== null && name.length > 200) throw new Skip('name is longer than 200 characters');
  const dob = optionalText(fields, 'dob');
  if (dob !== null && !isPastDate(dob, options.now)) throw new Skip('dob must be a real past date as YYYY-MM-DD');
  const legacyId = legacyIdOf(fields['id']);
  return {
    username,
    usernameDerived,
    email: normalizedEmail,
    name,
    dob,
    roles: rolesOf(fields['roles']),
    legacyId,
    active: flag(fields, 'active', true),
    emailConfirmed: normalizedEmail !== null && flag(fields, 'email_confirmed', false),
    password: passwordOf(fields, options.flaskSecuritySalt),
  };
}

/** A string field, trimmed; absent, null and empty (a blank CSV cell) are all "not given". */
function optionalText(fields: Readonly<Record<string, unknown>>, key: string): string | null {
  const value = fields[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new Skip(`${key} must be text`);
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function flag(fields: Readonly<Record<string, unknown>>, key: string, fallback: boolean): boolean {
  const value = fields[key];
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no'].includes(text)) return false;
  throw new Skip(`${key} must be true or false`);
}

function legacyIdOf(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '' && value.trim().length <= 255) return value.trim();
  throw new Skip('id must be a whole number or text of at most 255 characters');
}

function rolesOf(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  let list: unknown[];
  if (Array.isArray(value)) list = value;
  else if (typeof value === 'string') list = value.split(/[;,\s]+/);
  else throw new Skip('roles must be a list or text like "admin;editor"');
  const roles = new Set<string>();
  for (const item of list) {
    if (typeof item !== 'string') throw new Skip('roles must be text');
    const role = item.trim().toLowerCase();
    if (role === '') continue;
    if (!ROLE_PATTERN.test(role)) throw new Skip(`role "${role.slice(0, 40)}" is not valid: lower-case letters, digits, _ and -, up to 32`);
    roles.add(role);
  }
  return [...roles];
}

function passwordOf(fields: Readonly<Record<string, unknown>>, salt: string | null): ImportPassword {
  const hash = fields['password_hash'];
  const plain = fields['password'];
  const hasHash = hash !== undefined && hash !== null && hash !== '';
  const hasPlain = plain !== undefined && plain !== null && plain !== '';
  if (hasHash && hasPlain) throw new Skip('give password_hash or password, not both');
  if (hasPlain) {
    if (typeof plain !== 'string') throw new Skip('password must be text');
    if (plain.length > MAX_PASSWORD) throw new Skip(`password is longer than ${MAX_PASSWORD} characters`);
    return { kind: 'plain', password: plain };
  }
  if (!hasHash) throw new Skip('password_hash or password is missing');
  if (typeof hash !== 'string') throw new Skip('password_hash must be text');
  const stored = hash.trim();
  const parsed = parseHash(stored, IMPORT_LIMITS);
  if (!parsed.ok) throw new Skip(parsed.reason);
  if (salt === null) return { kind: 'hash', stored };
  if (parsed.hash.flaskSecuritySalt !== null) throw new Skip('password_hash already carries a Flask-Security salt');
  return { kind: 'hash', stored: flaskSecurityHash(salt, stored) };
}

/** YYYY-MM-DD that is a real calendar day, not in the future. */
function isPastDate(text: string, now: number): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text && date.getTime() <= now;
}

/** A username from an email's local part: letters, digits, ".", "_", "-", 3 to 64 of them. */
export function usernameFrom(email: string): string {
  const cleaned = (email.split('@')[0] ?? '')
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return cleaned.length >= 3 ? cleaned : `${cleaned || 'user'}-user`.slice(0, 64);
}
