/**
 * The signing-key ring, kept in the database so restarts (and other instances) keep
 * verifying the tokens already issued. The first start generates the key.
 */
import type { JWK } from 'jose';
import type { JwtAlg } from '../config/schema.ts';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import {
  generateSigningKey,
  importSigningKey,
  KeyRing,
  secretSigningKey,
  type SigningKey,
} from '../tokens/keys.ts';

/** A token with an unknown kid reloads the ring at most this often (keys made by another instance). */
const RELOAD_INTERVAL_MS = 5_000;

export class KeyService {
  private lastReload = 0;

  private constructor(
    private readonly db: Db,
    private readonly alg: JwtAlg,
    private readonly secret: string | null,
    private readonly clock: Clock,
    private current: KeyRing,
  ) {}

  static async open(db: Db, alg: JwtAlg, secret: string | null, clock: Clock): Promise<KeyService> {
    const service = new KeyService(db, alg, secret, clock, await loadRing(db, alg, secret, clock));
    service.lastReload = clock.now();
    return service;
  }

  get ring(): KeyRing {
    return this.current;
  }

  /** The verification key for a token's kid; reloads once in a while on a miss. */
  async find(kid: string | undefined): Promise<SigningKey | undefined> {
    const hit = this.current.find(kid);
    if (hit || kid === undefined || this.clock.now() - this.lastReload < RELOAD_INTERVAL_MS) return hit;
    this.lastReload = this.clock.now();
    this.current = await loadRing(this.db, this.alg, this.secret, this.clock);
    return this.current.find(kid);
  }
}

async function loadRing(db: Db, alg: JwtAlg, secret: string | null, clock: Clock): Promise<KeyRing> {
  if (alg === 'HS256') {
    if (!secret) throw new TypeError('HS256 needs a secret');
    return new KeyRing(secretSigningKey(secret));
  }
  let rows = await db
    .selectFrom('signing_keys')
    .selectAll()
    .where('alg', '=', alg)
    .where('retired_at', 'is', null)
    .orderBy('created_at', 'desc')
    .execute();
  if (rows.length === 0) {
    const material = await generateSigningKey(alg);
    await db
      .insertInto('signing_keys')
      .values({
        kid: material.kid,
        alg,
        private_jwk: JSON.stringify(material.privateJwk),
        public_jwk: JSON.stringify(material.publicJwk),
        created_at: clock.now(),
        retired_at: null,
      })
      .execute();
    rows = await db.selectFrom('signing_keys').selectAll().where('kid', '=', material.kid).execute();
  }
  const keys = await Promise.all(
    rows.map((r) =>
      importSigningKey({
        kid: r.kid,
        alg,
        privateJwk: JSON.parse(r.private_jwk) as JWK,
        publicJwk: JSON.parse(r.public_jwk) as JWK,
      }),
    ),
  );
  const [active, ...others] = keys;
  return new KeyRing(active!, others);
}
