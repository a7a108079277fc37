/**
 * Copies every row of one Bastion database into another (issue #8, "Moving from SQLite to
 * PostgreSQL"), in any direction: it speaks only Kysely. Both sides are migrated to the
 * latest schema first, so their columns match. The source is read inside one transaction
 * (a consistent snapshot, no write lock taken); the target is written inside one
 * transaction, so a failed copy leaves it as it was.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import { migrate, type Db, type DbHandle } from './db.ts';
import type { Database } from './tables.ts';

type TableName = keyof Database & string;
type Column<T extends TableName> = keyof Database[T] & string;

/** A table and the columns of its primary key (the order rows are read in, page by page). */
type TableSpec = { [T in TableName]: { readonly table: T; readonly key: readonly [Column<T>, ...Column<T>[]] } }[TableName];

/**
 * Every table, parents before children (foreign keys: user_roles, refresh_families,
 * one_time_tokens, mfa_recovery_codes, oidc_identities, oidc_flows, passkeys and
 * webauthn_challenges -> users;
 * refresh_tokens -> refresh_families).
 * Deleting goes the other way.
 */
export const COPY_TABLES = [
  { table: 'users', key: ['id'] },
  { table: 'user_roles', key: ['user_id', 'role'] },
  { table: 'refresh_families', key: ['id'] },
  { table: 'refresh_tokens', key: ['id'] },
  { table: 'one_time_tokens', key: ['id'] },
  { table: 'mfa_recovery_codes', key: ['id'] },
  { table: 'passkeys', key: ['id'] },
  { table: 'webauthn_challenges', key: ['id'] },
  { table: 'oidc_identities', key: ['id'] },
  { table: 'oidc_flows', key: ['id'] },
  { table: 'signing_keys', key: ['kid'] },
  { table: 'revocations', key: ['id'] },
  { table: 'audit_events', key: ['id'] },
  { table: 'login_attempts', key: ['key'] },
  { table: 'sequences', key: ['name'] },
  { table: 'rate_limits', key: ['key'] },
  { table: 'oauth_clients', key: ['id'] },
] as const satisfies readonly TableSpec[];

type Unlisted = Exclude<TableName, (typeof COPY_TABLES)[number]['table']>;
/** Compile-time: a table added to `Database` but not to COPY_TABLES fails the build here, naming it. */
const EVERY_TABLE_LISTED: [Unlisted] extends [never] ? true : `COPY_TABLES is missing ${Unlisted}` = true;
void EVERY_TABLE_LISTED;

/** `sequences` rows are upserted: migration 0003 seeds one in every database. */
const SEEDED_SEQUENCE = { name: 'revocations', value: 0 } as const;

/** Rows per read and per insert: 500 x 15 columns stays far below every bind-parameter limit. */
const BATCH = 500;

export interface CopyOptions {
  /** delete the target's rows first, instead of refusing a non-empty target */
  readonly force?: boolean;
}

export interface CopiedTable {
  readonly table: TableName;
  readonly rows: number;
}

type Row = Record<string, unknown>;
/** The loop below is generic over tables; the table list above is what is typed. */
type AnyDb = Kysely<any>;

export async function copyDatabase(from: DbHandle, to: DbHandle, { force = false }: CopyOptions = {}): Promise<CopiedTable[]> {
  await migrate(from);
  await migrate(to);
  return readSnapshot(from, (source) =>
    to.db.transaction().execute(async (target) => {
      const present = await rowsPresent(target);
      if (present.length > 0) {
        if (!force) {
          throw new Error(
            `the target database is not empty (${present.map((p) => `${p.table}: ${p.rows}`).join(', ')}); pass --force to replace its contents`,
          );
        }
        for (const { table } of [...COPY_TABLES].reverse()) await target.deleteFrom(table).execute();
      }
      const copied: CopiedTable[] = [];
      for (const spec of COPY_TABLES) copied.push({ table: spec.table, rows: await copyTable(source as AnyDb, target as AnyDb, spec) });
      // the same transaction re-counts what it wrote: a mismatch rolls the whole copy back
      for (const { table, rows } of copied) {
        const written = await countRows(target, table);
        if (written !== rows) throw new Error(`copy check failed: ${table} has ${written} rows in the target, ${rows} were copied`);
      }
      return copied;
    }),
  );
}

/**
 * Runs `fn` on one connection inside a read transaction: every read sees the same
 * snapshot. SQLite: a deferred BEGIN (WAL readers take no lock, so a server on the file
 * keeps writing); PostgreSQL: REPEATABLE READ, read only.
 */
async function readSnapshot<T>(store: DbHandle, fn: (db: Db) => Promise<T>): Promise<T> {
  return store.db.connection().execute(async (conn) => {
    await sql.raw(store.dialect === 'sqlite' ? 'begin' : 'begin isolation level repeatable read read only').execute(conn);
    try {
      const result = await fn(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => undefined);
      throw err;
    }
  });
}

/** Tables holding rows, ignoring the `sequences` row every migrated database starts with. */
async function rowsPresent(db: Db): Promise<CopiedTable[]> {
  const present: CopiedTable[] = [];
  for (const { table } of COPY_TABLES) {
    let rows: number;
    if (table === 'sequences') {
      const row = await db
        .selectFrom('sequences')
        .select((eb) => eb.fn.countAll().as('n'))
        .where((eb) => eb.not(eb.and([eb('name', '=', SEEDED_SEQUENCE.name), eb('value', '=', SEEDED_SEQUENCE.value)])))
        .executeTakeFirstOrThrow();
      rows = Number(row.n);
    } else {
      rows = await countRows(db, table);
    }
    if (rows > 0) present.push({ table, rows });
  }
  return present;
}

export async function countRows(db: Db, table: TableName): Promise<number> {
  const row = await (db as AnyDb)
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Reads the source in primary-key order, a page at a time (keyset: no OFFSET), and inserts each page. */
async function copyTable(source: AnyDb, target: AnyDb, { table, key }: TableSpec): Promise<number> {
  let last: Row | null = null;
  let total = 0;
  for (;;) {
    let query = source.selectFrom(table).selectAll();
    if (last) query = query.where(after(key, last));
    for (const column of key) query = query.orderBy(column);
    const rows = (await query.limit(BATCH).execute()) as Row[];
    if (rows.length === 0) return total;
    let insert = target.insertInto(table).values(rows);
    if (table === 'sequences') {
      const columns = Object.keys(rows[0]!).filter((c) => !(key as readonly string[]).includes(c));
      insert = insert.onConflict((oc) =>
        oc.columns([...key]).doUpdateSet((eb) => Object.fromEntries(columns.map((c) => [c, eb.ref(`excluded.${c}`)]))),
      );
    }
    await insert.execute();
    total += rows.length;
    if (rows.length < BATCH) return total;
    last = rows[rows.length - 1]!;
  }
}

/** Rows whose key sorts after `last`: (a > x) or (a = x and b > y) or …, which both dialects plan as a range. */
const after =
  (key: readonly string[], last: Row) =>
  (eb: ExpressionBuilder<any, any>): Expression<SqlBool> =>
    eb.or(
      key.map((column, i) =>
        eb.and([...key.slice(0, i).map((prior) => eb(prior, '=', last[prior])), eb(column, '>', last[column])]),
      ),
    );
