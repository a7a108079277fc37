/** Storage of passkeys and of WebAuthn challenges in flight (migration 0004). */
import { sha256Hex } from '../lib/random.ts';
import { inTransaction, type Db } from '../storage/db.ts';
import type { PasskeyRow, WebauthnChallengeRow, WebauthnChallengesTable } from '../storage/tables.ts';

export type ChallengePurpose = WebauthnChallengesTable['purpose'];

export function listByUser(db: Db, userId: string): Promise<PasskeyRow[]> {
  // oldest first; passkeys added in the same millisecond by name (ids are random)
  return db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('name').orderBy('id').execute();
}

export async function countByUser(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('passkeys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function find(db: Db, id: string, userId?: string): Promise<PasskeyRow | undefined> {
  let q = db.selectFrom('passkeys').selectAll().where('id', '=', id);
  if (userId !== undefined) q = q.where('user_id', '=', userId);
  return q.executeTakeFirst();
}

export async function insert(db: Db, row: PasskeyRow): Promise<void> {
  await db.insertInto('passkeys').values(row).execute();
}

export async function rename(db: Db, userId: string, id: string, name: string): Promise<boolean> {
  const result = await db.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function remove(db: Db, userId: string, id: string): Promise<PasskeyRow | undefined> {
  return inTransaction(db, async (tx) => {
    const row = await find(tx, id, userId);
    if (row) await tx.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).execute();
    return row;
  });
}

/**
 * Records a use: the new counter and backup state, only if the counter is still the one
 * the assertion was judged against (compare-and-set), so two uses racing on several
 * instances cannot both move it.
 */
export async function recordUse(db: Db, row: PasskeyRow, counter: number, backedUp: boolean, now: number): Promise<boolean> {
  const result = await db
    .updateTable('passkeys')
    .set({ counter, backed_up: backedUp ? 1 : 0, last_used_at: now })
    .where('id', '=', row.id)
    .where('counter', '=', row.counter)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Stores a challenge handed out (by its hash); dead ones of any user are swept on the way. */
export async function saveChallenge(
  db: Db,
  challenge: string,
  values: { purpose: ChallengePurpose; userId: string | null; boundTo: string | null },
  now: number,
  ttlMs: number,
): Promise<void> {
  await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).execute();
  await db
    .insertInto('webauthn_challenges')
    .values({
      id: sha256Hex(challenge),
      purpose: values.purpose,
      user_id: values.userId,
      bound_to: values.boundTo,
      created_at: now,
      expires_at: now + ttlMs,
    })
    .execute();
}

/**
 * Takes a challenge for use: the row is locked, deleted and judged in one transaction, so
 * of two requests answering the same challenge (on any instances) only one gets it, and a
 * challenge is gone after its first answer, right or wrong. Undefined: unknown, already
 * used, or expired.
 */
export function takeChallenge(db: Db, challenge: string, purpose: ChallengePurpose, now: number): Promise<WebauthnChallengeRow | undefined> {
  return inTransaction(db, async (tx) => {
    const row = await tx.selectFrom('webauthn_challenges').selectAll().where('id', '=', sha256Hex(challenge)).forUpdate().executeTakeFirst();
    if (!row) return undefined;
    const deleted = await tx.deleteFrom('webauthn_challenges').where('id', '=', row.id).executeTakeFirst();
    if (Number(deleted.numDeletedRows) !== 1 || row.purpose !== purpose || row.expires_at <= now) return undefined;
    return row;
  });
}
