/**
 * `bastion import flask-security --db sqlite:app.db`: the users of a Flask-Security(-Too)
 * application read straight from its SQLite database, opened read-only. The tables and
 * columns are those of Flask-Security-Too's documented models (flask_security.models.fsqla
 * and the seed 001 tutorial's own): `user` (id, email, username?, password, active,
 * fs_uniquifier?, confirmed_at?), `role` (id, name) and `roles_users` (user_id, role_id).
 * Each user becomes one record for the import (imports/user-record.ts), keyed by its id.
 */
import Database from 'better-sqlite3';
import type { RawRecord } from './records.ts';
import { UnreadableInput } from './records.ts';

/** Which column of the old users becomes their legacy_id (what the old app's tokens name). */
export type LegacyIdColumn = 'id' | 'fs_uniquifier';

interface Column {
  readonly name: string;
}

export function readFlaskSecurityDb(path: string, legacyId: LegacyIdColumn = 'id'): RawRecord[] {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new UnreadableInput(`cannot open ${path} as a SQLite database (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    return readUsers(db, legacyId);
  } catch (err) {
    if (err instanceof UnreadableInput) throw err;
    // e.g. "file is not a database"
    throw new UnreadableInput(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    db.close();
  }
}

function readUsers(db: Database.Database, legacyId: LegacyIdColumn): RawRecord[] {
  const columns = new Set((db.prepare('select name from pragma_table_info(?)').all('user') as Column[]).map((c) => c.name));
  if (columns.size === 0) throw new UnreadableInput('no "user" table (is this a Flask-Security database?)');
  for (const required of ['id', 'email', 'password', legacyId]) {
    if (!columns.has(required)) throw new UnreadableInput(`the "user" table has no ${required} column`);
  }
  const optional = (name: string) => (columns.has(name) ? `"${name}"` : 'null');
  const users = db
    .prepare(
      `select id, email, password, ${optional('username')} as username, ${optional('active')} as active,
              ${optional('confirmed_at')} as confirmed_at, "${legacyId}" as legacy_id
         from "user" order by id`,
    )
    .all() as { id: number | string; email: string | null; password: string | null; username: string | null; active: number | null; confirmed_at: string | null; legacy_id: number | string | null }[];
  const roles = rolesByUser(db);
  return users.map((u): RawRecord => ({
    ref: { user_id: String(u.id) },
    fields: {
      id: u.legacy_id,
      email: u.email,
      username: u.username,
      password_hash: u.password,
      // SQLite keeps SQLAlchemy's Boolean as 0/1; a missing column means every user is active
      active: u.active === null ? true : Number(u.active) === 1,
      email_confirmed: u.confirmed_at !== null,
      roles: roles.get(String(u.id)) ?? [],
    },
  }));
}

/** user id -> role names; an app without roles has neither table. */
function rolesByUser(db: Database.Database): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const tables = new Set((db.prepare("select name from sqlite_master where type = 'table'").all() as Column[]).map((t) => t.name));
  if (!tables.has('role') || !tables.has('roles_users')) return map;
  const rows = db
    .prepare('select ru.user_id as user_id, r.name as name from roles_users ru join role r on r.id = ru.role_id order by r.name')
    .all() as { user_id: number | string; name: string }[];
  for (const row of rows) {
    const key = String(row.user_id);
    map.set(key, [...(map.get(key) ?? []), row.name]);
  }
  return map;
}
