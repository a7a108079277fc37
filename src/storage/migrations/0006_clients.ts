import type { Kysely, Migration } from 'kysely';

/**
 * Issue #12, machine clients (RFC 6749 §4.4 client credentials). Dialect-neutral like
 * 0001–0005: text and bigint (ms) columns only.
 * - `oauth_clients.id` is the client_id; `secret_hash` is SHA-256 (hex) of the client
 *   secret, which has 256 bits of entropy and is shown once: a fast hash is enough there
 *   (OWASP Password Storage Cheat Sheet: a slow KDF is for low-entropy passwords).
 * - `scopes`: the scopes the client may ask for, space-separated as in the `scope`
 *   parameter (RFC 6749 §3.3); '' for none.
 * - `tokens_valid_after`: the revocation stamp of the last secret rotation (ms); a token is
 *   issued only once the clock has passed it (sessions/revocation.ts waitForStamp).
 */
export const clients: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('oauth_clients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('secret_rotated_at', 'bigint')
      .addColumn('tokens_valid_after', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropTable('oauth_clients').execute();
  },
};
