import { randomUUID } from 'node:crypto';
import type { AuditContext, AuditLog } from '../audit/log.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import { needsRehash, type Argon2Params } from '../passwords/hash.ts';
import { describeHash, verifyStoredHash } from '../passwords/legacy.ts';
import { PasswordHasher, type HashPriority } from '../passwords/hasher.ts';
import { checkPassword } from '../passwords/policy.ts';
import type { Db } from '../storage/db.ts';
import {
  hasPassword,
  isValidEmail,
  isValidUsername,
  normalizeEmail,
  normalizeUsername,
  ROLE_PATTERN,
  usernameKey,
  type PublicUser,
} from './model.ts';
import * as repo from './repo.ts';
import type { UserWithRoles } from './repo.ts';

export interface NewUser {
  readonly username: string;
  readonly password: string;
  readonly email?: string | null;
  readonly name?: string | null;
  readonly dob?: string | null;
  readonly roles?: readonly string[];
}

export type Authentication = { readonly ok: true; readonly user: UserWithRoles } | { readonly ok: false; readonly userId: string | null };

/** Called whenever a user's existing tokens must stop working (roles changed, disabled). */
export type RevokeUserTokens = (userId: string) => Promise<void>;

export class UserService {
  /** A real argon2id hash of a random password, verified when the user does not exist. */
  private dummyHash: Promise<string>;

  private readonly hasher: PasswordHasher;

  constructor(
    private readonly db: Db,
    private readonly argon2: Argon2Params & { readonly concurrency: number; readonly nice: HashPriority },
    private readonly clock: Clock,
    private readonly revokeTokens: RevokeUserTokens,
    private readonly audit: AuditLog,
  ) {
    this.hasher = new PasswordHasher(argon2, argon2.concurrency, argon2.nice);
    this.dummyHash = this.hash(randomUUID());
    // closed before it was made (a short-lived app): nobody will wait for it
    this.dummyHash.catch(() => undefined);
  }

  private hash(password: string): Promise<string> {
    return this.hasher.hash(password);
  }

  /** argon2 on the hashing threads; an imported hash (werkzeug, passlib, bcrypt, Flask-Security) as passwords/legacy.ts says. */
  private verify(stored: string, password: string): Promise<boolean> {
    return verifyStoredHash(stored, password, (phc, pw) => this.hasher.verify(phc, pw));
  }

  /** argon2id of a password with today's parameters, on the hashing threads (`bastion import` of plaintext passwords). */
  hashPassword(password: string): Promise<string> {
    return this.hash(password);
  }

  /** Stops the hashing threads. */
  close(): Promise<void> {
    return this.hasher.close();
  }

  /** `enforcePolicy: false` only for demo seeding, where the seed passwords are short. */
  async create(
    input: NewUser,
    options: { enforcePolicy: boolean } = { enforcePolicy: true },
    context: AuditContext = {},
  ): Promise<UserWithRoles> {
    const username = normalizeUsername(input.username);
    const email = input.email ? normalizeEmail(input.email) : null;
    if (!isValidUsername(username)) {
      throw new AppError('validation_failed', 'username must be 3 to 64 letters, digits, dots, underscores or dashes');
    }
    if (email !== null && !isValidEmail(email)) throw new AppError('validation_failed', 'email must be a valid email address');
    if (options.enforcePolicy) this.assertPolicy(input.password, username, email);
    const roles = [...new Set(input.roles ?? [])];
    for (const role of roles) assertRole(role);
    if (input.dob) assertDob(input.dob, this.clock.now());
    const now = this.clock.now();
    const id = randomUUID();
    await repo.insertUser(
      this.db,
      {
        id,
        username,
        username_key: usernameKey(username),
        email,
        display_name: input.name?.trim() || null,
        dob: input.dob ?? null,
        password_hash: await this.hash(input.password),
        disabled_at: null,
        tokens_valid_after: 0,
        created_at: now,
        updated_at: now,
      },
      roles,
      now,
    );
    await this.audit.record('signup', { ...context, userId: id, details: { username, roles } });
    return (await repo.findUserById(this.db, id))!;
  }

  /**
   * Checks a username-or-email and password. An unknown user costs one argon2 verify,
   * like a known one, and gets the same error (OWASP Authentication Cheat Sheet:
   * "Authentication and Error Messages"). A hash made with older parameters is redone.
   * A failure is returned, not thrown, with the id of the account when there is one, so
   * the caller can throttle and audit it without looking the user up again.
   */
  async authenticate(identifier: string, password: string): Promise<Authentication> {
    const user = await this.find(identifier);
    // an account without a password (made through a provider) costs the same verify as an unknown one
    const ok = await this.verify(user && hasPassword(user) ? user.password_hash : await this.dummyHash, password);
    if (user && !hasPassword(user)) return { ok: false, userId: user.id };
    if (!user || !ok) return { ok: false, userId: user?.id ?? null };
    if (user.disabled_at !== null) throw new AppError('account_disabled');
    if (needsRehash(user.password_hash, this.argon2)) {
      const before = describeHash(user.password_hash);
      await repo.updatePasswordHash(this.db, user.id, await this.hash(password), this.clock.now());
      // an imported hash is gone for good: worth a line in the audit log (its scheme, never the hash)
      if (before !== null && before !== 'argon2id') await this.audit.record('password_rehashed', { userId: user.id, details: { from: before } });
    }
    return { ok: true, user };
  }

  /** A username, or an email when the text has an @ (usernames cannot). */
  find(identifier: string): Promise<UserWithRoles | undefined> {
    return identifier.includes('@')
      ? repo.findUserBy(this.db, 'email', normalizeEmail(identifier))
      : repo.findUserBy(this.db, 'username_key', usernameKey(identifier));
  }

  async get(id: string): Promise<UserWithRoles> {
    const user = await repo.findUserById(this.db, id);
    if (!user) throw new AppError('user_not_found');
    return user;
  }

  async require(identifier: string): Promise<UserWithRoles> {
    const user = await this.find(identifier);
    if (!user) throw new AppError('user_not_found', `No such user: ${identifier}`);
    return user;
  }

  list(): Promise<UserWithRoles[]> {
    return repo.listUsers(this.db);
  }

  /** Checks the current password, applies the policy to the new one, stores its hash. */
  async changePassword(userId: string, current: string, next: string, context: AuditContext = {}): Promise<void> {
    const user = await this.get(userId);
    if (!(await this.verify(user.password_hash, current))) throw new AppError('wrong_password');
    this.assertPolicy(next, user.username, user.email);
    await repo.updatePasswordHash(this.db, user.id, await this.hash(next), this.clock.now());
    await this.audit.record('password_change', { ...context, userId: user.id });
  }

  /** Disabling also ends every session (the caller revokes them); enabling does not restore any. */
  async setDisabled(userId: string, disabled: boolean, context: AuditContext = {}): Promise<UserWithRoles> {
    const user = await this.get(userId);
    await repo.setDisabled(this.db, user.id, disabled ? (user.disabled_at ?? this.clock.now()) : null, this.clock.now());
    await this.audit.record(disabled ? 'user_disabled' : 'user_enabled', { ...context, userId: user.id });
    return this.get(userId);
  }

  /**
   * Sets a password without the current one: a reset link proved the mailbox instead.
   * The policy applies as on any change. `consume` spends the link in the same transaction
   * as the hash update, so the link works once; false when it lost that race.
   */
  async resetPassword(userId: string, newPassword: string, consume: (tx: Db) => Promise<boolean>): Promise<boolean> {
    const user = await this.get(userId);
    this.assertPolicy(newPassword, user.username, user.email);
    const hash = await this.hash(newPassword);
    return this.db.transaction().execute(async (tx) => {
      if (!(await consume(tx))) return false;
      await repo.updatePasswordHash(tx, user.id, hash, this.clock.now());
      return true;
    });
  }

  /** The normalised address if it is valid and no other user has it. */
  async checkNewEmail(userId: string, email: string): Promise<string> {
    const normalized = normalizeEmail(email);
    if (!isValidEmail(normalized)) throw new AppError('validation_failed', 'email must be a valid email address');
    const holder = await repo.findUserBy(this.db, 'email', normalized);
    if (holder && holder.id !== userId) throw new AppError('email_taken');
    return normalized;
  }

  /** Sets the email as confirmed, with `consume` spending the link in the same transaction (see resetPassword). */
  async confirmEmail(userId: string, email: string, consume: (tx: Db) => Promise<boolean>): Promise<boolean> {
    const normalized = normalizeEmail(email);
    return this.db.transaction().execute(async (tx) => {
      if (!(await consume(tx))) return false;
      const now = this.clock.now();
      await repo.setConfirmedEmail(tx, userId, normalized, now, now);
      return true;
    });
  }

  /** Deletes the account; the caller revokes its tokens first. Returns what was deleted. */
  async delete(userId: string): Promise<UserWithRoles> {
    const user = await this.get(userId);
    if (!(await repo.deleteUser(this.db, user.id))) throw new AppError('user_not_found');
    return user;
  }

  private assertPolicy(password: string, username: string, email: string | null): void {
    const reasons = checkPassword(password, { username, email });
    if (reasons.length > 0) throw new AppError('weak_password', `Weak password: ${reasons.join('; ')}`, { details: { reasons } });
  }

  /** Adds or removes a role; the user's current tokens (which carry roles) are revoked. */
  async changeRole(userId: string, action: 'add' | 'remove', role: string, context: AuditContext = {}): Promise<UserWithRoles> {
    assertRole(role);
    const changed =
      action === 'add'
        ? await repo.addRole(this.db, userId, role, this.clock.now())
        : await repo.removeRole(this.db, userId, role);
    if (changed) {
      await this.revokeTokens(userId);
      await this.audit.record('role_change', { ...context, userId, details: { action, role } });
    }
    return this.get(userId);
  }
}

function assertRole(role: string): void {
  if (!ROLE_PATTERN.test(role)) {
    throw new AppError('validation_failed', `Invalid role "${role}": lower-case letters, digits, _ and -, up to 32`);
  }
}

function assertDob(dob: string, now: number): void {
  const date = new Date(`${dob}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== dob || date.getTime() > now) {
    throw new AppError('validation_failed', 'dob must be a real past date as YYYY-MM-DD');
  }
}

export function toPublicUser(user: UserWithRoles): PublicUser {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    name: user.display_name,
    dob: user.dob,
    roles: user.roles,
    disabled: user.disabled_at !== null,
    email_confirmed: user.email !== null && user.email_confirmed_at !== null,
    mfa_enabled: user.totp_enabled_at !== null,
    created_at: new Date(user.created_at).toISOString(),
  };
}
