import type { Kysely, Migration } from 'kysely';

/**
 * Issue #8, many instances on one database:
 * - `revocations.seq`: the feed every instance reads in order. Numbers come from the
 *   `sequences` row, bumped in the writer's own transaction: the row lock makes writers
 *   commit in number order, so a reader that has seen n has seen everything below n
 *   (an identity column would not: numbers are taken at insert but commit in any order).
 * - `rate_limits`: the per-IP flood limit on auth routes, shared by every instance.
 */
export const multiInstance: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('revocations').addColumn('seq', 'bigint').execute();
    const rows = await db.selectFrom('revocations').select('id').orderBy('created_at').orderBy('id').execute();
    let seq = 0;
    for (const row of rows) {
      seq += 1;
      await db.updateTable('revocations').set({ seq }).where('id', '=', row.id).execute();
    }
    await db.schema.createIndex('revocations_seq_idx').unique().on('revocations').column('seq').execute();

    await db.schema
      .createTable('sequences')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .execute();
    await db.insertInto('sequences').values({ name: 'revocations', value: seq }).execute();

    await db.schema
      .createTable('rate_limits')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('window_start', 'bigint', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .execute();
  },

  async down(db: Kysely<any>) {
    await db.schema.dropTable('rate_limits').execute();
    await db.schema.dropTable('sequences').execute();
    await db.schema.dropIndex('revocations_seq_idx').execute();
    await db.schema.alterTable('revocations').dropColumn('seq').execute();
  },
};
