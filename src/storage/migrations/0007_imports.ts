import type { Kysely, Migration } from 'kysely';

/**
 * Issue #12, moving from the tutorials' Flask stacks (`bastion import …`, LEGACY_JWT_*).
 * Two nullable columns on `users`, dialect-neutral like the others:
 * - `legacy_id`: the user's id in the old application (its `id` field, Flask-Security's
 *   user.id or fs_uniquifier), unique where set: the old app's tokens name users by it
 *   (Flask-JWT-Extended's `sub`, Flask-JWT's `identity`), so a cut-over maps them here.
 * - `imported_at`: when the account was imported (ms); only imported accounts may be
 *   reached with an old application's token.
 * Both databases allow any number of NULLs under a unique index.
 */
export const imports: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('users').addColumn('legacy_id', 'text').execute();
    await db.schema.alterTable('users').addColumn('imported_at', 'bigint').execute();
    await db.schema.createIndex('users_legacy_id_key').on('users').column('legacy_id').unique().execute();
  },

  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('users_legacy_id_key').execute();
    await db.schema.alterTable('users').dropColumn('imported_at').execute();
    await db.schema.alterTable('users').dropColumn('legacy_id').execute();
  },
};
