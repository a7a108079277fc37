/**
 * Login sessions: each login opens a refresh-token family; each refresh rotates the
 * token; a spent token shown again after REFRESH_REUSE_GRACE revokes the family (reuse
 * detection, RFC 9700 §4.14.2).
 * Access tokens are issued and verified here, with the revocation list on top.
 */
import { randomUUID } from 'node:crypto';
import type { AuditContext, AuditLog } from '../audit/log.ts';
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import { toSeconds, type Clock } from '../lib/clock.ts';
import { randomToken } from '../lib/random.ts';
import type { KeyService } from '../keys/service.ts';
import type { KeyRing } from '../tokens/keys.ts';
import { dialectOf, type Db } from '../storage/db.ts';
import { issueAccessToken, verifyAccessToken } from '../tokens/access.ts';
import type { AccessClaims } from '../tokens/claims.ts';
import {
  childRefreshToken,
  newRefreshToken,
  parseRefreshToken,
  refreshSecretMatches,
  type RefreshTokenParts,
} from '../tokens/refresh.ts';
import { findUserById, type UserWithRoles } from '../users/repo.ts';
import * as repo from './repo.ts';
import { waitForStamp, type RevocationList } from './revocation.ts';

export interface TokenPair {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  /** seconds */
  readonly expires_in: number;
  readonly refresh_token: string;
  /** set in cookie mode: the value the X-CSRF-Token header must carry */
  readonly csrf_token?: string;
  readonly claims: AccessClaims;
  /** when the session (refresh family) ends, ms */
  readonly session_expires_at: number;
}

export interface ClientInfo {
  readonly userAgent: string | null;
  readonly ip: string | null;
}

/**
 * Login outcomes as counted for operators. A wrong password and an unknown account are
 * one outcome, `invalid_credentials`, as they are one answer: separate counts would let
 * whoever reads the metrics tell which guessed names exist. `locked`: refused by the
 * lockout before the password was checked; `disabled`: right password, disabled account.
 */
export type LoginOutcome = 'success' | 'invalid_credentials' | 'locked' | 'mfa_required' | 'disabled';
export type VerifyResult = 'ok' | 'expired' | 'invalid' | 'revoked';
/** rotated: a new token; resent: a retry in the grace window got the same successor; reused: a replay revoked the session */
export type RefreshResult = 'rotated' | 'resent' | 'reused' | 'invalid' | 'conflict';

/**
 * Told of each login outcome, access-token verification and refresh (http/plugins/metrics.ts
 * counts them; this module knows no metrics library). Called synchronously on the request's
 * path: an observer must be cheap and must not throw.
 */
export interface SessionObserver {
  login?(outcome: LoginOutcome): void;
  verify?(result: VerifyResult): void;
  refresh?(result: RefreshResult): void;
}

const ignoreMissingSession = (err: unknown): void => {
  if (!(err instanceof AppError && err.code === 'session_not_found')) throw err;
};

type RefreshOutcome =
  | { readonly kind: 'invalid' }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'reused'; readonly userId: string; readonly familyId: string }
  | { readonly kind: 'issued'; readonly row: repo.TokenWithFamily; readonly token: string; readonly via: 'rotated' | 'resent' };

const INVALID: RefreshOutcome = { kind: 'invalid' };
const CONFLICT: RefreshOutcome = { kind: 'conflict' };

export class SessionService {
  /** token text -> its verified claims, for tokens verified under the current key ring */
  private readonly verified = new Map<string, AccessClaims>();
  private verifiedRing: KeyRing | null = null;
  private readonly observers: SessionObserver[] = [];

  constructor(
    private readonly db: Db,
    private readonly config: Pick<Config, 'jwt' | 'refreshTtlSec' | 'session' | 'tokenCacheSize' | 'databaseUrl'>,
    private readonly keys: KeyService,
    private readonly revocations: RevocationList,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {
    this.lockedFromBegin = dialectOf(config.databaseUrl) === 'sqlite';
  }

  /**
   * SQLite transactions here begin IMMEDIATE: the database's write lock is held from the
   * first statement, so nothing can change a row between a read and the commit. PostgreSQL
   * locks rows only when asked (FOR UPDATE), after which a row read earlier must be read again.
   */
  private readonly lockedFromBegin: boolean;

  observe(observer: SessionObserver): void {
    this.observers.push(observer);
  }

  /** A login outcome decided outside this service (success is told by `start`). */
  noteLogin(outcome: LoginOutcome): void {
    for (const o of this.observers) o.login?.(outcome);
  }

  private noteVerify(result: VerifyResult): void {
    for (const o of this.observers) o.verify?.(result);
  }

  private noteRefresh(result: RefreshResult): void {
    for (const o of this.observers) o.refresh?.(result);
  }

  /** Opens a session for an authenticated user: every completed login (password, or password then second factor). */
  async start(user: UserWithRoles, client: ClientInfo, cookieMode: boolean): Promise<TokenPair> {
    const now = this.clock.now();
    const familyId = randomUUID();
    const expiresAt = now + this.config.refreshTtlSec * 1000;
    const refresh = newRefreshToken();
    await this.db.transaction().execute(async (tx) => {
      await repo.insertFamily(tx, { id: familyId, userId: user.id, expiresAt, ...client }, now);
      await repo.insertRefreshToken(tx, { id: refresh.id, familyId, secretHash: refresh.secretHash, parentId: null, expiresAt }, now);
    });
    const pair = await this.pair(user, familyId, refresh.token, expiresAt, cookieMode, now);
    this.noteLogin('success');
    return pair;
  }

  /**
   * Rotates a refresh token into a new pair, in one transaction holding the family's
   * lock, so a family's refreshes are decided one at a time on every instance. A spent
   * token shown again within REFRESH_REUSE_GRACE is a race (two tabs) or a retry after a
   * lost response: it gets the successor it was already given (`resend`). Later, it is a
   * replay: the whole family is revoked and recorded (RFC 9700 §4.14.2). Sessions also
   * end after SESSION_IDLE_TTL without use and at their absolute expiry.
   */
  async refresh(presented: string, cookieMode: boolean, client: ClientInfo): Promise<TokenPair> {
    const parts = parseRefreshToken(presented);
    const outcome = parts ? await this.db.transaction().execute((tx) => this.decideRefresh(tx, parts)) : INVALID;
    if (outcome.kind !== 'issued') this.noteRefresh(outcome.kind);
    if (outcome.kind === 'invalid') throw new AppError('invalid_refresh_token');
    if (outcome.kind === 'conflict') throw new AppError('refresh_conflict');
    if (outcome.kind === 'reused') {
      await this.revocations.revokeSessionTokens(outcome.familyId, this.config.jwt.accessTtlSec, this.config.jwt.leewaySec);
      await this.audit.record('refresh_reuse', { userId: outcome.userId, ...client, details: { session: outcome.familyId } });
      throw new AppError('refresh_token_reused');
    }
    const user = await findUserById(this.db, outcome.row.user_id);
    if (!user || user.disabled_at !== null) {
      this.noteRefresh('invalid');
      throw new AppError('invalid_refresh_token');
    }
    this.noteRefresh(outcome.via);
    return this.pair(user, outcome.row.family_id, outcome.token, outcome.row.family_expires_at, cookieMode, outcome.row.family_created_at);
  }

  /** Locks the presented token's family, then judges the token as it stands under the lock. */
  private async decideRefresh(tx: Db, parts: RefreshTokenParts): Promise<RefreshOutcome> {
    const seen = await repo.findTokenWithFamily(tx, parts.id);
    // a wrong secret is refused before taking any lock: forged tokens cannot queue up a family
    if (!seen || !refreshSecretMatches(parts.secret, seen.secret_hash)) return INVALID;
    let row: repo.TokenWithFamily | undefined = seen;
    if (!this.lockedFromBegin) {
      await repo.lockFamily(tx, seen.family_id);
      // read again: a concurrent refresh may have spent the token or revoked the family meanwhile
      row = await repo.findTokenWithFamily(tx, parts.id);
    }
    const now = this.clock.now(); // after the wait for the lock, so grace and idle are measured from now
    if (!row) return INVALID;
    const lapse = repo.sessionLapse(row, now, this.config.session.idleTtlSec * 1000);
    if (lapse === 'idle') await repo.revokeFamilies(tx, { familyId: row.family_id }, 'idle', now);
    if (lapse) return INVALID;
    if (row.used_at === null) return this.rotate(tx, row, parts.secret, now);
    if (now - row.used_at <= this.config.session.reuseGraceSec * 1000) return this.resend(tx, row, parts.secret);
    // The revocation must commit even though the request fails (sb GrantRefreshTokenSwap).
    await repo.revokeFamilies(tx, { familyId: row.family_id }, 'refresh_token_reused', now);
    return { kind: 'reused', userId: row.user_id, familyId: row.family_id };
  }

  /** Spends the token and issues its successor, whose secret is derived from the token's own. */
  private async rotate(tx: Db, row: repo.TokenWithFamily, secret: string, now: number): Promise<RefreshOutcome> {
    // the family lock already makes this the only spender; the guarded update stays as a backstop
    if (!(await repo.spendToken(tx, row.id, now))) return CONFLICT;
    const next = childRefreshToken(secret);
    await repo.insertRefreshToken(
      tx,
      { id: next.id, familyId: row.family_id, secretHash: next.secretHash, parentId: row.id, expiresAt: row.family_expires_at },
      now,
    );
    await repo.touchFamily(tx, row.family_id, now);
    return { kind: 'issued', row, token: next.token, via: 'rotated' };
  }

  /**
   * A token spent within the grace window: the other tabs of a race, or a client that lost
   * the response. While its successor is unused, that same successor is derived again from
   * the presented secret and handed back, so the family keeps exactly one live refresh
   * token. Once the successor has been used, the presenter is behind the session: 409,
   * nothing revoked. A successor that does not match (minted with a random secret before
   * derivation existed) also gets 409.
   */
  private async resend(tx: Db, row: repo.TokenWithFamily, secret: string): Promise<RefreshOutcome> {
    const child = await repo.findChild(tx, row.id);
    if (!child || child.used_at !== null) return CONFLICT;
    const again = childRefreshToken(secret, child.id);
    if (!refreshSecretMatches(again.secret, child.secret_hash)) return CONFLICT;
    return { kind: 'issued', row, token: again.token, via: 'resent' };
  }

  /** Ends the session of the presented access token, its other access tokens, and that token itself. */
  async logout(claims: AccessClaims, context: AuditContext = {}): Promise<void> {
    if (claims.sid) await this.endSession(claims.sub, claims.sid).catch(ignoreMissingSession);
    await this.revocations.revokeToken(claims.jti, claims.exp, this.config.jwt.leewaySec);
    await this.audit.record('logout', { ...context, userId: claims.sub, details: { session: claims.sid ?? null } });
  }

  /** user id -> live session count */
  countSessions(): Promise<Map<string, number>> {
    return repo.countLiveFamilies(this.db, this.clock.now());
  }

  /** The user's live sessions, newest use first. */
  listSessions(userId: string) {
    return repo.listLiveFamilies(this.db, userId, this.clock.now());
  }

  /** Ends one of the user's own sessions: its refresh family and every access token it issued. */
  async revokeSession(userId: string, familyId: string, context: AuditContext = {}): Promise<void> {
    await this.endSession(userId, familyId);
    await this.audit.record('session_revoked', { ...context, userId, details: { session: familyId } });
  }

  private async endSession(userId: string, familyId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const count = await repo.revokeFamilies(tx, { familyId, userId }, 'logout', this.clock.now());
      if (count === 0) throw new AppError('session_not_found');
      await this.revocations.revokeSessionTokens(familyId, this.config.jwt.accessTtlSec, this.config.jwt.leewaySec, tx);
    });
  }

  /** Logout everywhere: every session of the user and every access token already issued. */
  async revokeAll(userId: string, reason: string, context: AuditContext = {}): Promise<number> {
    const count = await this.db.transaction().execute(async (tx) => {
      const n = await repo.revokeFamilies(tx, { userId }, reason, this.clock.now());
      await this.revokeAccessTokens(userId, tx);
      return n;
    });
    await this.audit.record(reason === 'logout_all' ? 'logout_all' : 'session_revoked', { ...context, userId, details: { reason, sessions: count } });
    return count;
  }

  /** Voids the user's access tokens issued so far (e.g. after a role change). */
  async revokeAccessTokens(userId: string, db: Db = this.db): Promise<void> {
    const stamp = await this.revocations.revokeUser(userId, this.config.jwt.accessTtlSec, this.config.jwt.leewaySec, db);
    await db.updateTable('users').set({ tokens_valid_after: stamp, updated_at: this.clock.now() }).where('id', '=', userId).execute();
  }

  /**
   * Signature and claims (remembered per exact token text while the key ring is
   * unchanged; expiry is checked on every call), then the in-memory revocation list:
   * no database read.
   */
  async verify(token: string): Promise<AccessClaims> {
    return this.verifyCached(token) ?? this.verifySignature(token);
  }

  /**
   * The hot path of every guarded request, synchronous: the claims of a token already
   * verified under the current key ring, after the expiry and revocation checks that run
   * on every request; null when the signature still has to be checked (`verify`).
   */
  verifyCached(token: string): AccessClaims | null {
    if (this.verifiedRing !== this.keys.ring) {
      this.verified.clear();
      this.verifiedRing = this.keys.ring;
    }
    const claims = this.verified.get(token);
    if (!claims) return null;
    if (toSeconds(this.clock.now()) > claims.exp + this.config.jwt.leewaySec) {
      this.verified.delete(token);
      this.noteVerify('expired');
      throw new AppError('token_expired');
    }
    return this.accept(claims);
  }

  /** The cache-miss path (after `verifyCached` answered null): signature and claims, then revocation. */
  async verifySignature(token: string): Promise<AccessClaims> {
    const { jwt } = this.config;
    const ring = this.keys.ring;
    let claims: AccessClaims;
    try {
      claims = await verifyAccessToken(token, {
        keys: (header) => this.keys.find(header.kid),
        alg: jwt.alg,
        issuer: jwt.issuer,
        audience: jwt.audience,
        leewaySec: jwt.leewaySec,
        nowSec: toSeconds(this.clock.now()),
      });
    } catch (err) {
      if (err instanceof AppError) this.noteVerify(err.code === 'token_expired' ? 'expired' : 'invalid');
      throw err;
    }
    // bounded (TOKEN_CACHE_SIZE, oldest out first): the signature check is the costly part
    // of a request; remembered only if the ring it was checked under is still the current one
    const max = this.config.tokenCacheSize;
    if (max > 0 && this.verifiedRing === ring) {
      if (this.verified.size >= max) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
    }
    return this.accept(claims);
  }

  /** The revocation check every request gets, cached or not. */
  private accept(claims: AccessClaims): AccessClaims {
    if (this.revocations.isRevoked(claims)) {
      this.noteVerify('revoked');
      throw new AppError('token_revoked');
    }
    this.noteVerify('ok');
    return claims;
  }

  private async pair(
    user: UserWithRoles,
    familyId: string,
    refreshToken: string,
    sessionExpiresAt: number,
    cookieMode: boolean,
    authTimeMs: number,
  ): Promise<TokenPair> {
    await waitForStamp(user.tokens_valid_after, this.clock);
    const csrf = cookieMode ? randomToken(24) : undefined;
    const { jwt } = this.config;
    const { token, claims } = await issueAccessToken({
      sub: user.id,
      roles: user.roles,
      sid: familyId,
      ...(csrf ? { csrf } : {}),
      authTime: toSeconds(authTimeMs),
      key: this.keys.ring.active,
      issuer: jwt.issuer,
      audience: jwt.audience,
      ttlSec: jwt.accessTtlSec,
      nowSec: toSeconds(this.clock.now()),
    });
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: jwt.accessTtlSec,
      refresh_token: refreshToken,
      ...(csrf ? { csrf_token: csrf } : {}),
      claims,
      session_expires_at: sessionExpiresAt,
    };
  }
}
