/**
 * The signing-key ring, kept in the database so restarts (and other instances) keep
 * verifying the tokens already issued. The first start generates the key.
 *
 * Rotation: a new key becomes active; the old one stops signing (`retired_at`) but stays
 * in the ring and the JWKS until every token it signed has expired (access TTL + leeway),
 * then drops out. Every instance reloads the ring periodically and on an unknown kid.
 *
 * At rest (KEY_ENCRYPTION_KEY set): private keys are stored wrapped (keys/wrap.ts). New keys
 * are wrapped when made; keys stored plain before the KEK was set are wrapped at start-up;
 * `bastion keys rewrap` moves every key to a new KEK.
 */
import type { JWK } from 'jose';
import { ConfigError } from '../config/errors.ts';
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { SigningKeyRow } from '../storage/tables.ts';
import { generateSigningKey, importSigningKey, KeyRing, secretSigningKey, type SigningKey } from '../tokens/keys.ts';
import { isWrapped, openStoredKey, UnwrapError, type KeyEncryptionKey } from './wrap.ts';

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
    /** KEY_ENCRYPTION_KEY: private keys are stored wrapped under it; null: stored plain */
    private readonly kek: KeyEncryptionKey | null = null,
  ) {}

  /** Loads (or creates) the ring and refreshes it every `reloadMs`. */
  async start(reloadMs: number): Promise<void> {
    if (this.kek) await this.sealAtRest(this.kek);
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
      const kid = await insertNewKey(tx, this.jwt.alg as Exclude<Config['jwt']['alg'], 'HS256'>, now, this.kek);
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
        if (!active) await insertNewKey(tx, alg, now, this.kek);
      });
      rows = await live();
    }
    const ordered = rows.filter((r) => r.retired_at === null).concat(rows.filter((r) => r.retired_at !== null));
    const [active, ...others] = await Promise.all(ordered.map((r) => importRow(r, this.kek)));
    return new KeyRing(active!, others);
  }

  /**
   * Start-up with a KEK: every wrapped key must open under it (a wrong KEK stops start-up
   * here, naming KEY_ENCRYPTION_KEY), then keys still stored plain are wrapped, under the
   * keys lock so instances starting together do it once.
   */
  private async sealAtRest(kek: KeyEncryptionKey): Promise<void> {
    const rows = await this.db.selectFrom('signing_keys').select(['kid', 'private_jwk']).execute();
    for (const r of rows) if (isWrapped(r.private_jwk)) openPrivateJwk(r, kek);
    if (rows.every((r) => isWrapped(r.private_jwk))) return;
    await this.db.transaction().execute(async (tx) => {
      await lockKeys(tx);
      const stored = await tx.selectFrom('signing_keys').select(['kid', 'private_jwk']).execute();
      for (const r of stored.filter((s) => !isWrapped(s.private_jwk))) {
        await tx.updateTable('signing_keys').set({ private_jwk: kek.wrap(r.private_jwk, r.kid) }).where('kid', '=', r.kid).execute();
      }
    });
  }
}

/**
 * `bastion keys rewrap`: every stored private key (plain ones too) wrapped again under
 * `to`, in one transaction. Wrapped keys open under `from`, or already under `to` (a run
 * that is repeated, or keys made meanwhile by instances already on the new KEK).
 * Everything is opened before anything is written. Returns how many keys were written.
 */
export async function rewrapKeys(db: Db, to: KeyEncryptionKey, from: KeyEncryptionKey | null): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await lockKeys(tx);
    const rows = await tx.selectFrom('signing_keys').select(['kid', 'private_jwk']).execute();
    const next = rows.map((r) => ({ kid: r.kid, private_jwk: to.wrap(openForRewrap(r, to, from), r.kid) }));
    for (const r of next) await tx.updateTable('signing_keys').set({ private_jwk: r.private_jwk }).where('kid', '=', r.kid).execute();
    return next.length;
  });
}

function openForRewrap(row: Pick<SigningKeyRow, 'kid' | 'private_jwk'>, to: KeyEncryptionKey, from: KeyEncryptionKey | null): string {
  if (!isWrapped(row.private_jwk)) return row.private_jwk;
  for (const kek of from ? [from, to] : [to]) {
    try {
      return kek.unwrap(row.private_jwk, row.kid);
    } catch (err) {
      if (!(err instanceof UnwrapError)) throw err;
    }
  }
  throw from
    ? new ConfigError('KEY_ENCRYPTION_KEY_OLD', `does not decrypt signing key ${row.kid} (nor does KEY_ENCRYPTION_KEY)`)
    : new ConfigError('KEY_ENCRYPTION_KEY_OLD', `is required: signing key ${row.kid} is encrypted under another key (give it as KEY_ENCRYPTION_KEY_OLD or --from-key)`);
}

/** A stored private key's text; a key that does not open stops start-up with one line naming KEY_ENCRYPTION_KEY. */
function openPrivateJwk(row: Pick<SigningKeyRow, 'kid' | 'private_jwk'>, kek: KeyEncryptionKey | null): string {
  try {
    return openStoredKey(row.private_jwk, row.kid, kek);
  } catch (err) {
    if (!(err instanceof UnwrapError)) throw err;
    throw kek
      ? new ConfigError('KEY_ENCRYPTION_KEY', `does not decrypt the signing keys in the database (kid ${row.kid}); set the key they were encrypted with, or move them with "bastion keys rewrap"`)
      : new ConfigError('KEY_ENCRYPTION_KEY', 'is required: the signing keys in the database are encrypted');
  }
}

async function insertNewKey(db: Db, alg: 'EdDSA' | 'ES256' | 'RS256', now: number, kek: KeyEncryptionKey | null): Promise<string> {
  const material = await generateSigningKey(alg);
  const privateJwk = JSON.stringify(material.privateJwk);
  await db
    .insertInto('signing_keys')
    .values({
      kid: material.kid,
      alg,
      private_jwk: kek ? kek.wrap(privateJwk, material.kid) : privateJwk,
      public_jwk: JSON.stringify(material.publicJwk),
      created_at: now,
      retired_at: null,
    })
    .execute();
  return material.kid;
}

const importRow = (r: SigningKeyRow, kek: KeyEncryptionKey | null) =>
  importSigningKey({
    kid: r.kid,
    alg: r.alg as 'EdDSA' | 'ES256' | 'RS256',
    privateJwk: JSON.parse(openPrivateJwk(r, kek)) as JWK,
    publicJwk: JSON.parse(r.public_jwk) as JWK,
  });
