import type { Db } from '../storage/db.ts';
import { prepared, type Arg } from '../storage/prepared.ts';
import type { RefreshFamiliesTable, RefreshFamilyRow, RefreshTokensTable } from '../storage/tables.ts';

export interface NewFamily {
  readonly id: string;
  readonly userId: string;
  readonly expiresAt: number;
  readonly userAgent: string | null;
  readonly ip: string | null;
}

const insertFamilyQuery = prepared((db, arg: Arg<Omit<RefreshFamiliesTable, 'revoked_at' | 'revoked_reason'>>) =>
  db.insertInto('refresh_families').values({
    id: arg('id'),
    user_id: arg('user_id'),
    created_at: arg('created_at'),
    last_used_at: arg('last_used_at'),
    expires_at: arg('expires_at'),
    revoked_at: null,
    revoked_reason: null,
    user_agent: arg('user_agent'),
    ip: arg('ip'),
  }),
);

export async function insertFamily(db: Db, f: NewFamily, now: number): Promise<void> {
  await insertFamilyQuery(db, {
    id: f.id,
    user_id: f.userId,
    created_at: now,
    last_used_at: now,
    expires_at: f.expiresAt,
    user_agent: f.userAgent,
    ip: f.ip,
  });
}

const insertRefreshTokenQuery = prepared((db, arg: Arg<Omit<RefreshTokensTable, 'used_at'>>) =>
  db.insertInto('refresh_tokens').values({
    id: arg('id'),
    family_id: arg('family_id'),
    secret_hash: arg('secret_hash'),
    parent_id: arg('parent_id'),
    created_at: arg('created_at'),
    expires_at: arg('expires_at'),
    used_at: null,
  }),
);

export async function insertRefreshToken(
  db: Db,
  t: { id: string; familyId: string; secretHash: string; parentId: string | null; expiresAt: number },
  now: number,
): Promise<void> {
  await insertRefreshTokenQuery(db, {
    id: t.id,
    family_id: t.familyId,
    secret_hash: t.secretHash,
    parent_id: t.parentId,
    created_at: now,
    expires_at: t.expiresAt,
  });
}

export type TokenWithFamily = NonNullable<Awaited<ReturnType<typeof findTokenWithFamily>>>;

/**
 * Why a refresh token's session no longer stands at `now`, or null while it does: the
 * token or its family revoked or expired, or the family idle longer than `idleTtlMs`.
 * (Whether the token itself is still unspent is the caller's question.)
 */
export function sessionLapse(row: TokenWithFamily, now: number, idleTtlMs: number): 'ended' | 'idle' | null {
  if (row.revoked_at !== null || row.expires_at <= now || row.family_expires_at <= now) return 'ended';
  return now - row.family_last_used_at > idleTtlMs ? 'idle' : null;
}

const tokenWithFamilyQuery = prepared((db, arg: Arg<{ id: string }>) =>
  db
    .selectFrom('refresh_tokens as t')
    .innerJoin('refresh_families as f', 'f.id', 't.family_id')
    .select([
      't.id',
      't.family_id',
      't.secret_hash',
      't.expires_at',
      't.used_at',
      'f.user_id',
      'f.revoked_at',
      'f.created_at as family_created_at',
      'f.last_used_at as family_last_used_at',
      'f.expires_at as family_expires_at',
    ])
    .where('t.id', '=', arg('id')),
);

/** The token and its family, for rotation. */
export async function findTokenWithFamily(db: Db, tokenId: string) {
  return (await tokenWithFamilyQuery(db, { id: tokenId })).rows[0];
}

/**
 * Locks the family row until the transaction ends, so one family's refreshes run one
 * at a time even across instances (PostgreSQL `FOR UPDATE`; SQLite drops the clause:
 * BEGIN IMMEDIATE already holds the database write lock).
 */
export async function lockFamily(db: Db, familyId: string): Promise<void> {
  await db.selectFrom('refresh_families').select('id').where('id', '=', familyId).forUpdate().execute();
}

/** The token a rotation of `parentId` issued, if any (a family never branches). */
export function findChild(db: Db, parentId: string) {
  return db
    .selectFrom('refresh_tokens')
    .select(['id', 'secret_hash', 'used_at'])
    .where('parent_id', '=', parentId)
    .executeTakeFirst();
}

const spendTokenQuery = prepared((db, arg: Arg<{ id: string; now: number }>) =>
  db.updateTable('refresh_tokens').set({ used_at: arg('now') }).where('id', '=', arg('id')).where('used_at', 'is', null),
);

/** Marks the token spent; false when another request spent it first (one winner). */
export async function spendToken(db: Db, tokenId: string, now: number): Promise<boolean> {
  const result = await spendTokenQuery(db, { id: tokenId, now });
  return Number(result.numAffectedRows) === 1;
}

const touchFamilyQuery = prepared((db, arg: Arg<{ id: string; now: number }>) =>
  db.updateTable('refresh_families').set({ last_used_at: arg('now') }).where('id', '=', arg('id')),
);

export async function touchFamily(db: Db, familyId: string, now: number): Promise<void> {
  await touchFamilyQuery(db, { id: familyId, now });
}

/** Revokes families (one, or all of a user's); returns how many were live. */
export async function revokeFamilies(
  db: Db,
  where: { familyId?: string; userId?: string },
  reason: string,
  now: number,
): Promise<number> {
  let q = db.updateTable('refresh_families').set({ revoked_at: now, revoked_reason: reason }).where('revoked_at', 'is', null);
  if (where.familyId) q = q.where('id', '=', where.familyId);
  if (where.userId) q = q.where('user_id', '=', where.userId);
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export function listLiveFamilies(db: Db, userId: string, now: number): Promise<RefreshFamilyRow[]> {
  return db
    .selectFrom('refresh_families')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('last_used_at', 'desc')
    .execute();
}

/** user id -> number of live sessions, for the admin list. */
export async function countLiveFamilies(db: Db, now: number): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('refresh_families')
    .select(['user_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .groupBy('user_id')
    .execute();
  return new Map(rows.map((r) => [r.user_id, Number(r.n)]));
}
