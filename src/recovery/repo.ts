/**
 * One-time tokens for links sent by mail: `<id>.<secret>`, like refresh tokens
 * (tokens/refresh.ts). The id finds the row; only SHA-256 of the 256-bit secret is stored
 * and compared in constant time, so a database leak yields no usable link (OWASP Forgot
 * Password Cheat Sheet, "URL Tokens": random, long enough, stored securely, single use,
 * expiring).
 */
import { constantTimeEqual, randomToken, sha256Hex } from '../lib/random.ts';
import type { Db } from '../storage/db.ts';
import type { OneTimeTokensTable } from '../storage/tables.ts';

export type LinkPurpose = Extract<OneTimeTokensTable['purpose'], 'password_reset' | 'email_confirm'>;

const ID_BYTES = 16;
const SECRET_BYTES = 32;
const FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
/** the longest text a token can be: request schemas cap at this */
export const TOKEN_MAX_LENGTH = 66;

export interface IssuedToken {
  readonly token: string;
  readonly expiresAt: number;
}

export interface TokenRow {
  readonly id: string;
  readonly user_id: string;
  readonly purpose: string;
  readonly data: string | null;
  readonly expires_at: number;
  readonly used_at: number | null;
  readonly created_at: number;
}

export function parseToken(token: string): { id: string; secret: string } | null {
  const match = FORMAT.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

/**
 * A new token for the user and purpose. Every earlier token of that user and purpose
 * goes in the same transaction: only the newest link works, and used or expired rows do
 * not pile up.
 */
export async function issueToken(
  db: Db,
  input: { userId: string; purpose: LinkPurpose; data: unknown; ttlSec: number },
  now: number,
): Promise<IssuedToken> {
  const id = randomToken(ID_BYTES);
  const secret = randomToken(SECRET_BYTES);
  const expiresAt = now + input.ttlSec * 1000;
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom('one_time_tokens').where('user_id', '=', input.userId).where('purpose', '=', input.purpose).execute();
    await tx
      .insertInto('one_time_tokens')
      .values({
        id,
        user_id: input.userId,
        purpose: input.purpose,
        secret_hash: sha256Hex(secret),
        data: input.data === undefined ? null : JSON.stringify(input.data),
        created_at: now,
        expires_at: expiresAt,
        used_at: null,
      })
      .execute();
  });
  return { token: `${id}.${secret}`, expiresAt };
}

/**
 * The live row a presented token names, or undefined for a malformed, unknown, tampered,
 * wrong-purpose, used or expired one: callers answer all of these alike.
 */
export async function findLiveToken(db: Db, token: string, purpose: LinkPurpose, now: number): Promise<TokenRow | undefined> {
  const parts = parseToken(token);
  if (!parts) return undefined;
  const row = await db.selectFrom('one_time_tokens').selectAll().where('id', '=', parts.id).executeTakeFirst();
  if (!row || !constantTimeEqual(sha256Hex(parts.secret), row.secret_hash)) return undefined;
  if (row.purpose !== purpose || row.used_at !== null || row.expires_at <= now) return undefined;
  return row;
}

/**
 * Spends the token; false when it was spent (or expired) meanwhile. Run it in the
 * transaction that applies the token's effect: the `used_at is null` guard makes two
 * concurrent uses race for one row update, and only one can win.
 */
export async function consumeToken(db: Db, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('one_time_tokens')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** When the user's newest token of this purpose was made (used or not). */
export async function lastIssuedAt(db: Db, userId: string, purpose: LinkPurpose): Promise<number | undefined> {
  const row = await db
    .selectFrom('one_time_tokens')
    .select((eb) => eb.fn.max('created_at').as('at'))
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .executeTakeFirst();
  return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
}

/** Drops the user's tokens of a purpose (e.g. reset links once the address they went to is replaced). */
export async function dropTokens(db: Db, userId: string, purpose: LinkPurpose): Promise<void> {
  await db.deleteFrom('one_time_tokens').where('user_id', '=', userId).where('purpose', '=', purpose).execute();
}
