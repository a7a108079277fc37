/** The user as the API shows it: never the hash, never internal stamps. */
export interface PublicUser {
  readonly id: string;
  readonly username: string;
  readonly email: string | null;
  readonly name: string | null;
  readonly dob: string | null;
  readonly roles: string[];
  readonly disabled: boolean;
  readonly email_confirmed: boolean;
  readonly mfa_enabled: boolean;
  readonly created_at: string;
}

/**
 * password_hash of an account made through an OpenID Connect provider: no argon2 hash
 * ever equals it, so password login fails until a password is set (reset flow).
 */
export const NO_PASSWORD = '!';
export const hasPassword = (user: { password_hash: string }): boolean => user.password_hash !== NO_PASSWORD;

/** Usernames compare after NFKC and case folding, so look-alikes cannot coexist. */
export const usernameKey = (username: string): string => username.normalize('NFKC').toLowerCase();

export const normalizeUsername = (username: string): string => username.normalize('NFKC').trim();

export const normalizeEmail = (email: string): string => email.normalize('NFKC').trim().toLowerCase();

export const ROLE_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** Letters, digits, dot, underscore, dash; never "@", so an identifier with "@" is an email. */
export const USERNAME_PATTERN = '^[\\p{L}\\p{N}._-]{3,64}$';
const USERNAME_RE = new RegExp(USERNAME_PATTERN, 'u');
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export const isValidUsername = (username: string): boolean => USERNAME_RE.test(username);
export const isValidEmail = (email: string): boolean => email.length <= 254 && EMAIL_RE.test(email);

/** Whole years between a YYYY-MM-DD birth date and `now`. */
export function ageOn(dob: string, now: Date): number {
  const [y, m, d] = dob.split('-').map(Number) as [number, number, number];
  let age = now.getUTCFullYear() - y;
  const month = now.getUTCMonth() + 1;
  if (month < m || (month === m && now.getUTCDate() < d)) age -= 1;
  return age;
}
