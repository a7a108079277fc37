/**
 * Authorization requests in flight, kept in the database so any instance can finish a
 * flow another started. The browser holds only a random flow key in an HttpOnly cookie;
 * the table holds its SHA-256, the PKCE verifier, state, nonce and where to go after.
 * A flow is spent by one conditional UPDATE (used_at from null to now): two callbacks
 * racing with the same flow cannot both win, on either dialect.
 */
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import { randomToken, sha256Hex } from '../lib/random.ts';
import type { Db } from '../storage/db.ts';
import type { OidcFlowsTable } from '../storage/tables.ts';

/** A flow lasts this long: enough to log in at the provider, short enough to bound a stolen cookie. */
export const FLOW_TTL_MS = 10 * 60_000;
/** Spent and expired flows are deleted a day later (kept that long so a replay is named as one). */
const KEEP_MS = 24 * 60 * 60_000;
const PRUNE_EVERY_MS = 60_000;

export type FlowRow = OidcFlowsTable;

export interface NewFlow {
  readonly providerId: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly returnTo: string;
  readonly intent: 'login' | 'link';
  readonly userId: string | null;
  readonly sessionId: string | null;
}

export class FlowStore {
  private lastPrune = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Stores the flow; returns the key for the browser's cookie (32 random bytes) and the lifetime in seconds. */
  async create(flow: NewFlow): Promise<{ key: string; maxAgeSec: number }> {
    const key = randomToken(32);
    const now = this.clock.now();
    await this.db
      .insertInto('oidc_flows')
      .values({
        id: sha256Hex(key),
        provider_id: flow.providerId,
        state: flow.state,
        nonce: flow.nonce,
        code_verifier: flow.codeVerifier,
        return_to: flow.returnTo,
        intent: flow.intent,
        user_id: flow.userId,
        session_id: flow.sessionId,
        created_at: now,
        expires_at: now + FLOW_TTL_MS,
        used_at: null,
      })
      .execute();
    this.prune(now);
    return { key, maxAgeSec: FLOW_TTL_MS / 1000 };
  }

  /**
   * Spends the flow the cookie names, once. A missing cookie or unknown flow is
   * oidc_flow_missing, a spent one oidc_flow_replayed, an old one oidc_flow_expired
   * (spent all the same: it can never be finished).
   */
  async consume(key: string | undefined): Promise<FlowRow> {
    if (!key || key.length > 128) throw new AppError('oidc_flow_missing');
    const id = sha256Hex(key);
    const now = this.clock.now();
    const row = await this.db
      .updateTable('oidc_flows')
      .set({ used_at: now })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (!row) {
      const seen = await this.db.selectFrom('oidc_flows').select('id').where('id', '=', id).executeTakeFirst();
      throw new AppError(seen ? 'oidc_flow_replayed' : 'oidc_flow_missing');
    }
    if (row.expires_at <= now) throw new AppError('oidc_flow_expired');
    return row;
  }

  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    void this.db.deleteFrom('oidc_flows').where('expires_at', '<', now - KEEP_MS).execute().catch(() => undefined);
  }
}
