/**
 * `bastion import`: users from the old application into Bastion, in one transaction.
 * Each record is imported whole or skipped with a reason; nothing is half-imported. A
 * record whose username, email or old id is already in Bastion is skipped as "exists",
 * and never updated: a second run of the same file imports nothing and changes nothing,
 * and a password changed in Bastion since the first run is never overwritten by the old
 * one. A database failure rolls the whole run back.
 */
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/log.ts';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import { usernameKey } from '../users/model.ts';
import { insertUser } from '../users/repo.ts';
import { describeRef, type RawRecord, type RecordRef } from './records.ts';
import { checkRecord, type ImportUser } from './user-record.ts';

export type ImportSourceKind = 'jsonl' | 'csv' | 'flask-security';

export interface ImportOptions {
  readonly source: ImportSourceKind;
  /** check everything, write nothing (the transaction is rolled back) */
  readonly dryRun: boolean;
  /** Flask-Security's SECURITY_PASSWORD_SALT, for every password_hash; null: hashes are used as they are */
  readonly flaskSecuritySalt: string | null;
  /** records without a username get one made from their email (Flask-Security apps) */
  readonly deriveUsername: boolean;
}

export type RowOutcome = RecordRef &
  ({ readonly status: 'imported'; readonly username: string } | { readonly status: 'skipped'; readonly reason: string; readonly username?: string });

export interface ImportReport {
  readonly source: ImportSourceKind;
  readonly dry_run: boolean;
  readonly imported: number;
  readonly skipped: number;
  /** in the order of the input */
  readonly rows: readonly RowOutcome[];
}

export interface ImportDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: AuditLog;
  /** argon2id with today's parameters (UserService.hashPassword) */
  readonly hashPassword: (password: string) => Promise<string>;
}

interface Candidate {
  readonly index: number;
  readonly ref: RecordRef;
  readonly user: ImportUser;
}

class DryRun extends Error {}

export async function importUsers(deps: ImportDeps, records: readonly RawRecord[], options: ImportOptions): Promise<ImportReport> {
  const now = deps.clock.now();
  const outcomes: RowOutcome[] = new Array(records.length);
  const skip = (index: number, ref: RecordRef, reason: string, username?: string) => {
    outcomes[index] = { ...ref, status: 'skipped', reason, ...(username ? { username } : {}) };
  };

  // 1. every record on its own
  const candidates: Candidate[] = [];
  for (const [index, record] of records.entries()) {
    if ('error' in record) {
      skip(index, record.ref, record.error);
      continue;
    }
    const checked = checkRecord(record.fields, { flaskSecuritySalt: options.flaskSecuritySalt, deriveUsername: options.deriveUsername, now });
    if (checked.ok) candidates.push({ index, ref: record.ref, user: checked.user });
    else skip(index, record.ref, checked.reason);
  }

  // 2. records of this input that name the same account: the first one counts
  const seen = new Map<string, RecordRef>();
  const unique = candidates.filter((c) => {
    const keys = [
      ...(c.user.usernameDerived ? [] : [['username', `u:${usernameKey(c.user.username)}`]]),
      ...(c.user.email ? [['email', `e:${c.user.email}`]] : []),
      ...(c.user.legacyId ? [['id', `l:${c.user.legacyId}`]] : []),
    ];
    for (const [what, key] of keys) {
      const first = seen.get(key!);
      if (first) {
        skip(c.index, c.ref, `duplicate of ${describeRef(first)}: same ${what}`, c.user.username);
        return false;
      }
    }
    for (const [, key] of keys) seen.set(key!, c.ref);
    return true;
  });

  // 3. plaintext passwords hashed before the transaction, which then holds its locks briefly
  const hashes = await Promise.all(
    unique.map((c) =>
      c.user.password.kind === 'hash' ? c.user.password.stored : options.dryRun ? '!' : deps.hashPassword(c.user.password.password),
    ),
  );

  // 4. one transaction: an account already in Bastion is skipped, the rest inserted
  try {
    await deps.db.transaction().execute(async (tx) => {
      const takenNames = new Set<string>();
      for (const [i, c] of unique.entries()) {
        const clash = await findClash(tx, c.user);
        if (clash) {
          skip(c.index, c.ref, clash, c.user.username);
          continue;
        }
        const username = c.user.usernameDerived ? await freeUsername(tx, c.user.username, takenNames) : c.user.username;
        takenNames.add(usernameKey(username));
        await insert(tx, c.user, username, hashes[i]!, now);
        outcomes[c.index] = { ...c.ref, status: 'imported', username };
      }
      const imported = outcomes.filter((o) => o.status === 'imported').length;
      await deps.audit.record('users_imported', { actorId: 'cli', details: { source: options.source, imported, skipped: records.length - imported } }, tx);
      if (options.dryRun) throw new DryRun();
    });
  } catch (err) {
    if (!(err instanceof DryRun)) throw err;
  }
  const imported = outcomes.filter((o) => o.status === 'imported').length;
  return { source: options.source, dry_run: options.dryRun, imported, skipped: records.length - imported, rows: outcomes };
}

/** Why the account is already in Bastion, or null. A made-up username that is taken is no clash (another is picked). */
async function findClash(tx: Db, user: ImportUser): Promise<string | null> {
  if (user.legacyId !== null) {
    const row = await tx.selectFrom('users').select('id').where('legacy_id', '=', user.legacyId).executeTakeFirst();
    if (row) return `exists: an account with id ${user.legacyId} was imported before`;
  }
  if (user.email !== null) {
    const row = await tx.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirst();
    if (row) return 'exists: an account has this email';
  }
  if (!user.usernameDerived) {
    const row = await tx.selectFrom('users').select('id').where('username_key', '=', usernameKey(user.username)).executeTakeFirst();
    if (row) return 'exists: an account has this username';
  }
  return null;
}

/** The made-up username, or it with -2 … -99 appended, that no account (nor this run) has. */
async function freeUsername(tx: Db, base: string, taken: ReadonlySet<string>): Promise<string> {
  for (let n = 1; n < 100; n += 1) {
    const name = n === 1 ? base : `${base.slice(0, 60)}-${n}`;
    const key = usernameKey(name);
    if (taken.has(key)) continue;
    const row = await tx.selectFrom('users').select('id').where('username_key', '=', key).executeTakeFirst();
    if (!row) return name;
  }
  return `${base.slice(0, 55)}-${randomUUID().slice(0, 8)}`;
}

async function insert(tx: Db, user: ImportUser, username: string, passwordHash: string, now: number): Promise<void> {
  const row = {
    id: randomUUID(),
    username,
    username_key: usernameKey(username),
    email: user.email,
    display_name: user.name,
    dob: user.dob,
    password_hash: passwordHash,
    disabled_at: user.active ? null : now,
    tokens_valid_after: 0,
    created_at: now,
    updated_at: now,
    email_confirmed_at: user.emailConfirmed ? now : null,
    legacy_id: user.legacyId,
    imported_at: now,
  };
  await insertUser(tx, row, user.roles, now);
}
