/**
 * The password policy (OWASP Authentication Cheat Sheet, ASVS 2.1): length 8 to 1024
 * and not the account's own name or email. No composition rules: NIST SP 800-63B §5.1.1.2.
 */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

export interface PasswordContext {
  readonly username?: string | null;
  readonly email?: string | null;
}

/** Every reason the password is refused; empty when it is acceptable. */
export function checkPassword(password: string, context: PasswordContext = {}): string[] {
  const reasons: string[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN) reasons.push(`must be at least ${PASSWORD_MIN} characters`);
  if (length > PASSWORD_MAX) reasons.push(`must be at most ${PASSWORD_MAX} characters`);
  const lower = password.normalize('NFKC').toLowerCase();
  if (context.username && lower === context.username.normalize('NFKC').toLowerCase()) {
    reasons.push('must not be the username');
  }
  if (context.email && lower === context.email.toLowerCase()) reasons.push('must not be the email address');
  return reasons;
}
