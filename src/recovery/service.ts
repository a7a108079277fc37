/**
 * Account recovery and email confirmation by mailed one-time links, and account deletion.
 * Follows the OWASP Forgot Password Cheat Sheet: the same answer whether or not the
 * account exists, random single-use expiring tokens stored hashed, no account change
 * until the token is presented, sessions ended after a reset, the owner notified.
 */
import type { AuditContext, AuditLog } from '../audit/log.ts';
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import type { MailLog, Mailer } from '../mail/mailer.ts';
import type { SessionService } from '../sessions/service.ts';
import type { Db } from '../storage/db.ts';
import type { UserWithRoles } from '../users/repo.ts';
import type { UserService } from '../users/service.ts';
import { confirmMail, emailChangedNotice, passwordResetNotice, resetMail } from './mails.ts';
import * as repo from './repo.ts';

/**
 * One reset mail per account per minute: repeated requests change nothing visible, they
 * just send nothing (OWASP Forgot Password Cheat Sheet: rate-limit per account, so the
 * form cannot be used to flood someone's mailbox).
 */
export const RESET_MAIL_COOLDOWN_MS = 60_000;

/** What an email_confirm token carries: the address to confirm and the one it replaces. */
interface ConfirmData {
  readonly email: string;
  readonly previous: string | null;
}

export class RecoveryService {
  /** mails sent after the response (forgot-password, signup); awaited by `idle()` and on close */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly settings: Config['mail'],
    private readonly clock: Clock,
    private readonly users: UserService,
    private readonly sessions: SessionService,
    private readonly audit: AuditLog,
    private readonly mailer: Mailer,
  ) {}

  /**
   * Forgot password. Returns at once and does everything later, so the response (status,
   * body and timing) cannot tell whether the account exists, is disabled or has no email,
   * and no failure can reach the caller (OWASP Forgot Password Cheat Sheet, "Forgot
   * Password Request": consistent message and uniform response time).
   */
  requestPasswordReset(identifier: string, context: AuditContext, log: MailLog): void {
    this.later(log, async () => {
      const user = await this.users.find(identifier);
      if (!user) return;
      const outcome = await this.resetOutcome(user);
      if (outcome !== 'mailed') log.info({ userId: user.id, outcome }, 'password reset requested; no mail sent');
      await this.audit.record('password_reset_requested', { ...context, userId: user.id, details: { outcome } });
      if (outcome !== 'mailed') return;
      const { resetTtlSec } = this.settings;
      const { token } = await repo.issueToken(this.db, { userId: user.id, purpose: 'password_reset', data: undefined, ttlSec: resetTtlSec }, this.clock.now());
      await this.mailer.send(resetMail(user.email!, user.username, this.link('reset-password', token), resetTtlSec), log);
    });
  }

  /** Whether a reset link goes out: not to disabled accounts, nowhere without an email, not within the cooldown. */
  private async resetOutcome(user: UserWithRoles): Promise<'mailed' | 'disabled' | 'no_email' | 'cooldown'> {
    if (user.disabled_at !== null) return 'disabled';
    if (!user.email) return 'no_email';
    const last = await repo.lastIssuedAt(this.db, user.id, 'password_reset');
    if (last !== undefined && this.clock.now() - last < RESET_MAIL_COOLDOWN_MS) return 'cooldown';
    return 'mailed';
  }

  /**
   * Applies a reset link: policy-checked new password, link spent in the same
   * transaction, then every session and access token of the user revoked (the reason to
   * reset may be that someone else is logged in) and the owner told.
   */
  async resetPassword(token: string, newPassword: string, context: AuditContext, log: MailLog): Promise<void> {
    const now = this.clock.now();
    const row = await repo.findLiveToken(this.db, token, 'password_reset', now);
    if (!row) throw new AppError('invalid_one_time_token');
    const user = await this.users.get(row.user_id);
    if (user.disabled_at !== null) throw new AppError('invalid_one_time_token');
    const applied = await this.users.resetPassword(user.id, newPassword, (tx) => repo.consumeToken(tx, row.id, this.clock.now()));
    if (!applied) throw new AppError('invalid_one_time_token');
    await this.sessions.revokeAll(user.id, 'password_reset', { ...context, userId: user.id });
    await this.audit.record('password_reset', { ...context, userId: user.id });
    if (user.email) this.later(log, () => this.mailer.send(passwordResetNotice(user.email!, user.username), log));
  }

  /** Signup with an email: the confirmation link goes out after the response. */
  sendSignupConfirmation(user: UserWithRoles, log: MailLog): void {
    if (user.email) this.later(log, () => this.sendConfirmLink(user, user.email!, log));
  }

  /** Sends a new confirmation link for the account's current, unconfirmed address. */
  async resendConfirmation(userId: string, log: MailLog): Promise<void> {
    const user = await this.users.get(userId);
    if (!user.email) throw new AppError('no_email');
    if (user.email_confirmed_at !== null) throw new AppError('email_already_confirmed');
    await this.sendConfirmLink(user, user.email, log);
  }

  /**
   * Email change: nothing changes until the link sent to the new address is opened, so a
   * typo or someone else's address cannot take the account's mail (and reset links).
   */
  async requestEmailChange(userId: string, email: string, context: AuditContext, log: MailLog): Promise<void> {
    const user = await this.users.get(userId);
    const next = await this.users.checkNewEmail(user.id, email);
    if (next === user.email) {
      if (user.email_confirmed_at !== null) throw new AppError('email_already_confirmed');
    }
    await this.sendConfirmLink(user, next, log);
    await this.audit.record('email_change_requested', { ...context, userId: user.id, details: { email: next } });
  }

  private async sendConfirmLink(user: UserWithRoles, email: string, log: MailLog): Promise<void> {
    const data: ConfirmData = { email, previous: user.email };
    const { confirmTtlSec } = this.settings;
    const { token } = await repo.issueToken(this.db, { userId: user.id, purpose: 'email_confirm', data, ttlSec: confirmTtlSec }, this.clock.now());
    await this.mailer.send(confirmMail(email, user.username, this.link('confirm-email', token), confirmTtlSec), log);
  }

  /**
   * Confirms the address the link was sent to and makes it the account's email. The link
   * dies if the account's email changed since it was sent. Reset links sent to the old
   * address die with the change.
   */
  async confirmEmail(token: string, context: AuditContext, log: MailLog): Promise<void> {
    const now = this.clock.now();
    const row = await repo.findLiveToken(this.db, token, 'email_confirm', now);
    if (!row) throw new AppError('invalid_one_time_token');
    const data = JSON.parse(row.data ?? 'null') as ConfirmData | null;
    const user = await this.users.get(row.user_id);
    if (!data || user.disabled_at !== null || user.email !== data.previous) throw new AppError('invalid_one_time_token');
    const changed = data.email !== user.email;
    const applied = await this.users.confirmEmail(user.id, data.email, async (tx) => {
      if (!(await repo.consumeToken(tx, row.id, this.clock.now()))) return false;
      if (changed) await repo.dropTokens(tx, user.id, 'password_reset');
      return true;
    });
    if (!applied) throw new AppError('invalid_one_time_token');
    await this.audit.record('email_confirmed', { ...context, userId: user.id, details: { email: data.email, previous: data.previous } });
    if (changed && data.previous) {
      const notice = emailChangedNotice(data.previous, user.username, data.email);
      this.later(log, () => this.mailer.send(notice, log));
    }
  }

  /** Deletes the caller's account: tokens revoked first, so none outlives the row. */
  async deleteAccount(userId: string, context: AuditContext): Promise<void> {
    await this.sessions.revokeAll(userId, 'account_deleted', { ...context, userId });
    const user = await this.users.delete(userId);
    // the audit table has no foreign key: the event keeps the id after the row is gone
    await this.audit.record('account_deleted', { ...context, userId, details: { username: user.username } });
  }

  /** Resolves when every mail scheduled so far is sent (or failed). Tests and shutdown wait on it. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    await this.idle();
    this.mailer.close();
  }

  /** Runs a task after the response; a failure is logged (message only: never the mail) and goes no further. */
  private later(log: MailLog, task: () => Promise<void>): void {
    const run = (async () => {
      await new Promise<void>((r) => setImmediate(r));
      await task();
    })()
      .catch((err: unknown) => log.error({ err: { message: (err as Error)?.message, code: (err as { code?: unknown })?.code } }, 'background mail failed'))
      .finally(() => this.pending.delete(run));
    this.pending.add(run);
  }

  private link(page: 'reset-password' | 'confirm-email', token: string): string {
    // The token rides in the fragment of a page of the web front end: fragments are not
    // sent to servers nor in Referer headers, so the link does not leak from the browser
    // (OWASP Forgot Password Cheat Sheet, "URL Tokens"). PUBLIC_URL, never the Host
    // header, so a forged Host cannot redirect the link (ibid., host header injection).
    return `${this.settings.publicUrl}/#/${page}?token=${token}`;
  }
}
