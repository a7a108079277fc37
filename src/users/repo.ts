import { AppError } from '../errors/app-error.ts';
import { inTransaction, type Db } from '../storage/db.ts';
import { prepared, type Arg } from '../storage/prepared.ts';
import type { NewUserRow, UserRow } from '../storage/tables.ts';

export type UserWithRoles = UserRow & { roles: string[] };

/** Turns a unique-constraint failure into the domain error it means. */
function uniqueViolation(err: unknown): AppError | null {
  const text = err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}` : '';
  if (!/UNIQUE|unique/.test(text)) return null;
  if (text.includes('email')) return new AppError('email_taken', undefined, { cause: err });
  if (text.includes('username')) return new AppError('username_taken', undefined, { cause: err });
  return null;
}

/** Inserts the user and its roles, in `db`'s transaction or a new one; a taken name or email is its AppError. */
export async function insertUser(db: Db, row: NewUserRow, roles: readonly string[], now: number): Promise<void> {
  try {
    await inTransaction(db, async (tx) => {
      await tx.insertInto('users').values(row).execute();
      if (roles.length > 0) {
        await tx
          .insertInto('user_roles')
          .values(roles.map((role) => ({ user_id: row.id, role, created_at: now })))
          .execute();
      }
    });
  } catch (err) {
    throw uniqueViolation(err) ?? err;
  }
}

// one account by a unique column, and its roles: the lookups of every login and refresh
const userByColumn = (column: 'id' | 'username_key' | 'email') =>
  prepared((db, arg: Arg<{ value: string }>) => db.selectFrom('users').selectAll().where(column, '=', arg('value')));
const userBy = { id: userByColumn('id'), username_key: userByColumn('username_key'), email: userByColumn('email') };
const rolesOf = prepared((db, arg: Arg<{ userId: string }>) =>
  db.selectFrom('user_roles').select('role').where('user_id', '=', arg('userId')).orderBy('role'),
);

async function findOne(db: Db, column: keyof typeof userBy, value: string): Promise<UserWithRoles | undefined> {
  const row = (await userBy[column](db, { value })).rows[0];
  if (!row) return undefined;
  const roles = (await rolesOf(db, { userId: row.id })).rows.map((r) => r.role);
  return { ...row, roles };
}

export function findUserById(db: Db, id: string): Promise<UserWithRoles | undefined> {
  return findOne(db, 'id', id);
}

/** By the case-folded username or by the normalised email. */
export function findUserBy(db: Db, column: 'username_key' | 'email', value: string): Promise<UserWithRoles | undefined> {
  return findOne(db, column, value);
}

// every account and every role (the people list of each page load in cookie mode)
const allUsers = prepared((db) => db.selectFrom('users').selectAll().orderBy('created_at').orderBy('username_key'));
const allRoles = prepared((db) => db.selectFrom('user_roles').select(['user_id', 'role']).orderBy('role'));

export async function listUsers(db: Db): Promise<UserWithRoles[]> {
  const users = (await allUsers(db, {})).rows;
  const roles = new Map<string, string[]>();
  for (const { user_id, role } of (await allRoles(db, {})).rows) (roles.get(user_id) ?? roles.set(user_id, []).get(user_id)!).push(role);
  return users.map((u) => ({ ...u, roles: roles.get(u.id) ?? [] }));
}

export async function updatePasswordHash(db: Db, id: string, hash: string, now: number): Promise<void> {
  await db.updateTable('users').set({ password_hash: hash, updated_at: now }).where('id', '=', id).execute();
}

export async function setDisabled(db: Db, id: string, disabledAt: number | null, now: number): Promise<void> {
  await db.updateTable('users').set({ disabled_at: disabledAt, updated_at: now }).where('id', '=', id).execute();
}

export async function addRole(db: Db, userId: string, role: string, now: number): Promise<boolean> {
  const result = await db
    .insertInto('user_roles')
    .values({ user_id: userId, role, created_at: now })
    .onConflict((oc) => oc.columns(['user_id', 'role']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function removeRole(db: Db, userId: string, role: string): Promise<boolean> {
  const result = await db.deleteFrom('user_roles').where('user_id', '=', userId).where('role', '=', role).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Sets the (already normalised) email as confirmed; a clash with another user is email_taken. */
export async function setConfirmedEmail(db: Db, id: string, email: string, confirmedAt: number, now: number): Promise<void> {
  try {
    await db.updateTable('users').set({ email, email_confirmed_at: confirmedAt, updated_at: now }).where('id', '=', id).execute();
  } catch (err) {
    throw uniqueViolation(err) ?? err;
  }
}

/** Deletes the user; roles, sessions, refresh tokens and one-time tokens go with it (foreign keys cascade). */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
