import type { Kysely, Migration } from 'kysely';

/** Issue #5: audit log, login throttling, one-time tokens, TOTP, email confirmation. */
export const security: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('audit_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('actor_id', 'text')
      .addColumn('ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('details', 'text')
      .execute();
    await db.schema.createIndex('audit_events_at_idx').on('audit_events').columns(['at', 'id']).execute();
    await db.schema.createIndex('audit_events_user_idx').on('audit_events').column('user_id').execute();

    // One row per throttled key: `acct:<username key>` or `ip:<address>`.
    await db.schema
      .createTable('login_attempts')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('failures', 'integer', (c) => c.notNull())
      .addColumn('window_start', 'bigint', (c) => c.notNull())
      .addColumn('locked_until', 'bigint')
      .addColumn('lockouts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    // Password reset, email confirmation, MFA login challenges: single use, hashed, short-lived.
    await db.schema
      .createTable('one_time_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('purpose', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('data', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await db.schema.createIndex('one_time_tokens_user_idx').on('one_time_tokens').columns(['user_id', 'purpose']).execute();

    await db.schema
      .createTable('mfa_recovery_codes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('code_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await db.schema.createIndex('mfa_recovery_codes_user_idx').on('mfa_recovery_codes').column('user_id').execute();

    await db.schema.alterTable('users').addColumn('email_confirmed_at', 'bigint').execute();
    await db.schema.alterTable('users').addColumn('totp_secret', 'text').execute();
    await db.schema.alterTable('users').addColumn('totp_enabled_at', 'bigint').execute();
    await db.schema.alterTable('users').addColumn('totp_last_step', 'bigint').execute();

    await db.schema.createIndex('refresh_tokens_parent_idx').on('refresh_tokens').column('parent_id').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('refresh_tokens_parent_idx').execute();
    for (const column of ['totp_last_step', 'totp_enabled_at', 'totp_secret', 'email_confirmed_at']) {
      await db.schema.alterTable('users').dropColumn(column).execute();
    }
    for (const table of ['mfa_recovery_codes', 'one_time_tokens', 'login_attempts', 'audit_events']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
