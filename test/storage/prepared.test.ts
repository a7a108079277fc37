/**
 * Queries compiled once and run with new values (src/storage/prepared.ts), on the database
 * of this pass (a SQLite file, or PostgreSQL): each run binds its own values, values never
 * become SQL, constants of the query stay, and transactions and other databases work.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrate, openDb, type DbHandle } from '../../src/storage/db.ts';
import { prepared, type Arg } from '../../src/storage/prepared.ts';
import { testDatabaseUrl } from '../helpers/db.ts';

const dirs: string[] = [];
const handles: DbHandle[] = [];

async function database(): Promise<DbHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-prepared-'));
  dirs.push(dir);
  const handle = openDb(testDatabaseUrl(dir));
  handles.push(handle);
  await migrate(handle);
  return handle;
}

let builds = 0;
const insertAttempt = prepared((db, arg: Arg<{ key: string; now: number }>) => {
  builds += 1;
  return db.insertInto('login_attempts').values({ key: arg('key'), failures: 0, window_start: arg('now'), locked_until: null, lockouts: 0, updated_at: arg('now') });
});
const attemptsIn = prepared((db, arg: Arg<{ a: string; b: string }>) =>
  db.selectFrom('login_attempts').select(['key', 'window_start']).where('key', 'in', [arg('a'), arg('b')]).orderBy('key'),
);
/** a placeholder inside raw SQL, beside a constant of the query (failures = 0) */
const bump = prepared((db, arg: Arg<{ key: string; by: number }>) =>
  db
    .updateTable('login_attempts')
    .set({ failures: sql<number>`failures + ${arg('by')}` })
    .where('key', '=', arg('key'))
    .where('failures', '=', 0),
);

describe('prepared queries', () => {
  let store: DbHandle;
  before(async () => {
    store = await database();
  });
  after(async () => {
    for (const h of handles) await h.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('each run binds its own values; the query is built once per database', async () => {
    const before = builds;
    await insertAttempt(store.db, { key: 'acct:one', now: 1000 });
    await insertAttempt(store.db, { key: 'acct:two', now: 2000 });
    await insertAttempt(store.db, { key: 'acct:three', now: 3000 });
    assert.equal(builds - before, 1);
    const { rows } = await attemptsIn(store.db, { a: 'acct:three', b: 'acct:one' });
    assert.deepEqual(rows.map((r) => [r.key, Number(r.window_start)]), [
      ['acct:one', 1000],
      ['acct:three', 3000],
    ]);
  });

  test('values never become SQL: a value full of SQL is stored as written', async () => {
    const evil = "acct:x'); drop table login_attempts; --";
    await insertAttempt(store.db, { key: evil, now: 4000 });
    const { rows } = await attemptsIn(store.db, { a: evil, b: 'nobody' });
    assert.deepEqual(rows.map((r) => r.key), [evil]);
  });

  test('a placeholder inside raw SQL binds too, and the constants of the query stay', async () => {
    const first = await bump(store.db, { key: 'acct:two', by: 5 });
    assert.equal(Number(first.numAffectedRows), 1);
    // failures is now 5: the constant condition (failures = 0) no longer matches
    const second = await bump(store.db, { key: 'acct:two', by: 5 });
    assert.equal(Number(second.numAffectedRows), 0);
    const row = await store.db.selectFrom('login_attempts').select('failures').where('key', '=', 'acct:two').executeTakeFirstOrThrow();
    assert.equal(Number(row.failures), 5);
  });

  test('runs inside a transaction, whose rollback undoes it', async () => {
    await assert.rejects(
      store.db.transaction().execute(async (tx) => {
        await insertAttempt(tx, { key: 'acct:rolled-back', now: 5000 });
        assert.equal((await attemptsIn(tx, { a: 'acct:rolled-back', b: 'nobody' })).rows.length, 1);
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal((await attemptsIn(store.db, { a: 'acct:rolled-back', b: 'nobody' })).rows.length, 0);
  });

  test('another database gets its own compiled query and its own rows', async () => {
    const other = await database();
    const before = builds;
    await insertAttempt(other.db, { key: 'acct:elsewhere', now: 6000 });
    assert.equal(builds - before, 1);
    assert.equal((await attemptsIn(other.db, { a: 'acct:elsewhere', b: 'acct:one' })).rows.length, 1);
    assert.equal((await attemptsIn(store.db, { a: 'acct:elsewhere', b: 'nobody' })).rows.length, 0);
  });
});
