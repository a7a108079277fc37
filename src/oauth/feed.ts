/**
 * The revocation feed for other services (GET /api/revocations): the same ordered rows
 * every Bastion instance follows (sessions/revocation.ts), read page by page with a
 * cursor, in NumericDate seconds (RFC 7519 §2) rather than the table's milliseconds.
 *
 * Nothing is skipped: the feed head (the `sequences` row) is read first, and writers
 * commit in `seq` order under that row's lock, so every row up to the head is committed
 * when the head is seen. A page holds rows above the cursor and up to the head; when it
 * is not full, the next cursor is the head itself. Rows whose tokens have all expired are
 * left out: a verifier has nothing to do with them.
 */
import type { Db } from '../storage/db.ts';
import type { RevocationsTable } from '../storage/tables.ts';

export const FEED_MAX_LIMIT = 1000;

export interface FeedEntry {
  readonly seq: number;
  readonly kind: RevocationsTable['kind'];
  /** jti, session id (the tokens' sid), user or client id (the tokens' sub), or kid */
  readonly subject: string;
  /** kind "user": tokens of that sub with iat < not_before are revoked (seconds) */
  readonly not_before: number | null;
  /** seconds: after this the entry can be forgotten */
  readonly expires_at: number;
}

export interface FeedPage {
  readonly revocations: FeedEntry[];
  /** pass as ?after= next time; never below the `after` given */
  readonly cursor: number;
  /** another page is ready now */
  readonly more: boolean;
}

export async function readFeed(db: Db, nowMs: number, after: number, limit: number): Promise<FeedPage> {
  const { value: head } = await db.selectFrom('sequences').select('value').where('name', '=', 'revocations').executeTakeFirstOrThrow();
  const rows = await db
    .selectFrom('revocations')
    .select(['seq', 'kind', 'subject', 'not_before', 'expires_at'])
    .where('seq', '>', after)
    .where('seq', '<=', head)
    .where('expires_at', '>', nowMs)
    .orderBy('seq')
    .limit(limit + 1)
    .execute();
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return {
    revocations: page.map((r) => ({
      seq: r.seq,
      kind: r.kind,
      subject: r.subject,
      // user stamps are whole seconds (revocation.ts revokeUser)
      not_before: r.not_before === null ? null : Math.floor(r.not_before / 1000),
      // rounded up: an entry is never forgotten before the tokens it names expire
      expires_at: Math.ceil(r.expires_at / 1000),
    })),
    cursor: more ? page[page.length - 1]!.seq : Math.max(after, head),
    more,
  };
}
