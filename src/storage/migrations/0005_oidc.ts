import type { Kysely, Migration } from 'kysely';

/**
 * Issue #11, log in with an OpenID Connect provider. Dialect-neutral like 0001–0003:
 * text, bigint (ms) and integer columns, no booleans.
 * - `oidc_identities`: a provider identity, keyed by (issuer, subject), never by email
 *   (OIDC Core §5.7: only iss + sub identify an End-User), linked to one account.
 * - `oidc_flows`: authorization requests in flight (PKCE verifier, state, nonce,
 *   return_to), so any instance can finish a flow another started; single use.
 */
export const oidc: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('oidc_identities')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('provider_id', 'text', (c) => c.notNull())
      .addColumn('issuer', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('email', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_login_at', 'bigint')
      .addUniqueConstraint('oidc_identities_issuer_subject_key', ['issuer', 'subject'])
      .execute();
    await db.schema.createIndex('oidc_identities_user_idx').on('oidc_identities').column('user_id').execute();

    await db.schema
      .createTable('oidc_flows')
      // SHA-256 of the value in the browser's flow cookie: the cookie alone finds the flow
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('provider_id', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('code_verifier', 'text', (c) => c.notNull())
      .addColumn('return_to', 'text', (c) => c.notNull())
      .addColumn('intent', 'text', (c) => c.notNull())
      // a link flow: the account and the session that started it
      .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
      .addColumn('session_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute();
    await db.schema.createIndex('oidc_flows_expires_idx').on('oidc_flows').column('expires_at').execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('oidc_flows').execute();
    await db.schema.dropTable('oidc_identities').execute();
  },
};
