/**
 * The audit log: security events with time, user, IP and user agent (OWASP Logging
 * Cheat Sheet, "Which events to log"). Never a password, token or secret in `details`.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import { prepared, type Arg } from '../storage/prepared.ts';
import type { AuditEventsTable } from '../storage/tables.ts';

export const AUDIT_TYPES = [
  'signup',
  'login_ok',
  'login_failed',
  'lockout',
  'refresh_reuse',
  'logout',
  'logout_all',
  'session_revoked',
  'role_change',
  'password_change',
  'password_reset_requested',
  'password_reset',
  'email_change_requested',
  'email_confirmed',
  'user_disabled',
  'user_enabled',
  'account_deleted',
  'key_rotation',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_failed',
  'mfa_recovery_code_used',
  // OpenID Connect providers (issue #11); details name the provider, never a token
  'oidc_login_failed',
  'oidc_linked',
  'oidc_unlinked',
  // passkeys (issue #11); details carry the passkey's id and name, never key material
  'passkey_registered',
  'passkey_renamed',
  'passkey_deleted',
  'passkey_counter_regression',
  // machine clients and their tokens (issue #12); details carry client ids and jtis, never a secret or token
  'client_created',
  'client_removed',
  'client_secret_rotated',
  'client_auth_failed',
  'client_token_issued',
  'token_revoked',
  // moving from Flask (issue #12): an import run (counts only), an imported hash replaced
  // by argon2id at its first login (details name the old scheme), an old app's token accepted
  'users_imported',
  'password_rehashed',
  'legacy_token_used',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

export interface AuditContext {
  readonly userId?: string | null;
  /** who acted, when not the user themselves */
  readonly actorId?: string | null;
  readonly ip?: string | null;
  readonly userAgent?: string | null;
  readonly details?: Record<string, unknown>;
}

export interface AuditEvent {
  readonly id: string;
  readonly at: string;
  readonly type: string;
  readonly user_id: string | null;
  readonly actor_id: string | null;
  readonly ip: string | null;
  readonly user_agent: string | null;
  readonly details: Record<string, unknown> | null;
}

/**
 * Ids sort by time, then by order of recording within this process: events of the same
 * millisecond (a password change and the sessions it ends) keep their order.
 */
let sequence = 0;
const orderedId = (now: number): string =>
  `${now.toString(36).padStart(9, '0')}-${(sequence++ % 1_679_616).toString(36).padStart(4, '0')}-${randomUUID().slice(0, 8)}`;

const insertEvent = prepared((db, arg: Arg<AuditEventsTable>) =>
  db.insertInto('audit_events').values({
    id: arg('id'),
    at: arg('at'),
    type: arg('type'),
    user_id: arg('user_id'),
    actor_id: arg('actor_id'),
    ip: arg('ip'),
    user_agent: arg('user_agent'),
    details: arg('details'),
  }),
);

export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async record(type: AuditType, context: AuditContext = {}, db: Db = this.db): Promise<void> {
    await insertEvent(db, {
      id: orderedId(this.clock.now()),
      at: this.clock.now(),
      type,
      user_id: context.userId ?? null,
      actor_id: context.actorId ?? null,
      ip: context.ip ?? null,
      user_agent: context.userAgent?.slice(0, 512) ?? null,
      details: context.details ? JSON.stringify(context.details) : null,
    });
  }

  /** Newest first; `before` is the `id` of the last event of the previous page (keyset paging). */
  async list(options: { limit: number; before?: string; userId?: string; type?: string }): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (options.userId) q = q.where('user_id', '=', options.userId);
    if (options.type) q = q.where('type', '=', options.type);
    if (options.before) q = q.where('id', '<', options.before);
    const rows = await q.orderBy('id', 'desc').limit(options.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      at: new Date(r.at).toISOString(),
      type: r.type,
      user_id: r.user_id,
      actor_id: r.actor_id,
      ip: r.ip,
      user_agent: r.user_agent,
      details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
    }));
  }
}
