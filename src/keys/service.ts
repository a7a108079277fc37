/**
 * The signing-key ring, kept in the database so restarts (and other instances) keep
 * verifying the tokens already issued. The first start generates the key.
 *
 * Rotation: a new key becomes active; the old one stops signing (`retired_at`) but stays
 * in the ring and the JWKS until every token it signed has expired (access TTL + leeway),
 * then drops out. Every instance reloads the ring periodically and on an unknown kid.
 */
import type { JWK } from 'jose';
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { SigningKeyRow } from '../storage/tables.ts';
import { generateSigningKey, importSigningKey, KeyRing, secretSigningKey, type SigningKey } from '../tokens/keys.ts';

/** A token with an unknown kid reloads the ring at most this often (keys made by another instance). */
const RELOAD_ON_MISS_MS = 5_000;

export interface KeyInfo {
  readonly kid: string;
  readonly alg: string;
  /** active: signs; verifying: retired, still in the JWKS; retired: gone from the JWKS */
  readonly status: 'active' | 'verifying' | 'retired';
  /** null for shared secrets, which come from configuration */
  readonly created_at: string | null;
  readonly retired_at: string | null;
  readonly verify_until: string | null;
}

/** Told, inside the transaction that made it, that a new key is active (the feed tells the other instances). */
export type KeysChanged = (kid: string, db: Db) => Promise<void>;

/**
 * Key changes are made under one lock (the feed's counter row): two instances starting on
 * an empty database, or two admins rotating at once, leave exactly one active key.
 */
async function lockKeys(tx: Db): Promise<void> {
  await tx.selectFrom('sequences').select('value').where('name', '=', 'revocations').forUpdate().execute();
}

export class KeyService {
  private lastReload = 0;
  private current!: KeyRing;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly jwt: Config['jwt'],
    private readonly clock: Clock,
    private readonly changed: KeysChanged = async () => undefined,
  ) {}

  /** Loads (or creates) the ring and refreshes it every `reloadMs`. */
  async start(reloadMs: number): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.reload().catch(() => undefined), reloadMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get ring(): KeyRing {
    return this.current;
  }

  /** The verification key for a token's kid; reloads once in a while on a miss. */
  async find(kid: string | undefined): Promise<SigningKey | undefined> {
    const hit = this.current.find(kid);
    if (hit || kid === undefined || this.clock.now() - this.lastReload < RELOAD_ON_MISS_MS) return hit;
    await this.reload();
    return this.current.find(kid);
  }

  /** Makes a new key active; the previous one keeps verifying for one token lifetime. */
  async rotate(): Promise<SigningKey> {
    if (this.jwt.alg === 'HS256') {
      throw new AppError('bad_request', 'HS256 rotates by setting a new JWT_SECRET and listing the old one in JWT_SECRET_PREVIOUS');
    }
    const now = this.clock.now();
    await this.db.transaction().execute(async (tx) => {
      await lockKeys(tx);
      await tx.updateTable('signing_keys').set({ retired_at: now }).where('alg', '=', this.jwt.alg).where('retired_at', 'is', null).execute();
      const kid = await insertNewKey(tx, this.jwt.alg as Exclude<Config['jwt']['alg'], 'HS256'>, now);
      await this.changed(kid, tx);
    });
    await this.reload();
    return this.current.active;
  }

  async list(): Promise<KeyInfo[]> {
    if (this.jwt.alg === 'HS256') {
      return [this.current.active, ...this.current.accepted()].map((k, i) => ({
        kid: k.kid,
        alg: 'HS256',
        status: i === 0 ? 'active' : 'verifying',
        created_at: null,
        retired_at: null,
        verify_until: null,
      }));
    }
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').execute();
    const now = this.clock.now();
    return rows.map((r) => {
      const until = r.retired_at === null ? null : r.retired_at + this.overlapMs();
      return {
        kid: r.kid,
        alg: r.alg,
        status: r.retired_at === null ? 'active' : until! > now ? 'verifying' : 'retired',
        created_at: new Date(r.created_at).toISOString(),
        retired_at: r.retired_at === null ? null : new Date(r.retired_at).toISOString(),
        verify_until: until === null ? null : new Date(until).toISOString(),
      };
    });
  }

  private overlapMs(): number {
    return (this.jwt.accessTtlSec + this.jwt.leewaySec) * 1000;
  }

  /** Re-reads the ring (another instance rotated). */
  async reload(): Promise<void> {
    this.lastReload = this.clock.now();
    const next = await this.loadRing();
    // keep the same object when nothing changed, so caches keyed on it survive
    if (!this.current || next.fingerprint() !== this.current.fingerprint()) this.current = next;
  }

  private async loadRing(): Promise<KeyRing> {
    if (this.jwt.alg === 'HS256') {
      if (!this.jwt.secret) throw new TypeError('HS256 needs a secret');
      return new KeyRing(secretSigningKey(this.jwt.secret), this.jwt.previousSecrets.map(secretSigningKey));
    }
    const alg = this.jwt.alg;
    const now = this.clock.now();
    const live = () =>
      this.db
        .selectFrom('signing_keys')
        .selectAll()
        .where('alg', '=', alg)
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', now - this.overlapMs())]))
        .orderBy('created_at', 'desc')
        .execute();
    let rows = await live();
    if (!rows.some((r) => r.retired_at === null)) {
      await this.db.transaction().execute(async (tx) => {
        await lockKeys(tx);
        const active = await tx.selectFrom('signing_keys').select('kid').where('alg', '=', alg).where('retired_at', 'is', null).executeTakeFirst();
        if (!active) await insertNewKey(tx, alg, now);
      });
      rows = await live();
    }
    const [active, ...others] = await Promise.all(rows.filter((r) => r.retired_at === null).concat(rows.filter((r) => r.retired_at !== null)).map(importRow));
    return new KeyRing(active!, others);
  }
}

async function insertNewKey(db: Db, alg: 'EdDSA' | 'ES256' | 'RS256', now: number): Promise<string> {
  const material = await generateSigningKey(alg);
  await db
    .insertInto('signing_keys')
    .values({
      kid: material.kid,
      alg,
      private_jwk: JSON.stringify(material.privateJwk),
      public_jwk: JSON.stringify(material.publicJwk),
      created_at: now,
      retired_at: null,
    })
    .execute();
  return material.kid;
}

const importRow = (r: SigningKeyRow) =>
  importSigningKey({
    kid: r.kid,
    alg: r.alg as 'EdDSA' | 'ES256' | 'RS256',
    privateJwk: JSON.parse(r.private_jwk) as JWK,
    publicJwk: JSON.parse(r.public_jwk) as JWK,
  });
