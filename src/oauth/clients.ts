/**
 * Machine clients (RFC 6749 §4.4): services that get their own access tokens with a
 * client id and secret. The secret is 256 random bits, shown once; only its SHA-256 is
 * stored and it is compared in constant time. A fast hash is right here: a slow KDF
 * defends low-entropy passwords against guessing (OWASP Password Storage Cheat Sheet),
 * and nobody guesses 256 random bits.
 *
 * Removing a client or rotating its secret revokes every token it holds: a "user" row of
 * the revocation feed whose subject is the client id (its tokens' `sub`), so every
 * instance and every verifier following the feed refuses them within the same bound.
 */
import { randomBytes } from 'node:crypto';
import type { AuditContext, AuditLog } from '../audit/log.ts';
import type { Config } from '../config/load.ts';
import { AppError } from '../errors/app-error.ts';
import type { Clock } from '../lib/clock.ts';
import { constantTimeEqual, randomToken, sha256Hex } from '../lib/random.ts';
import type { RevocationList } from '../sessions/revocation.ts';
import type { Db } from '../storage/db.ts';
import type { OauthClientRow } from '../storage/tables.ts';
import { CLIENT_ID, formatScope, isClientName, isScopeToken, MAX_SCOPES } from './scopes.ts';

const ID_BYTES = 16;
const SECRET_BYTES = 32;
/** Compared against when the client id is unknown, so that case costs the same hash and compare. */
const DUMMY_HASH = sha256Hex('bastion/no-such-client');

export interface Client {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly createdAt: number;
  readonly secretRotatedAt: number | null;
  /** ms: tokens are issued only after this stamp (the last rotation's revocation) */
  readonly tokensValidAfter: number;
}

/** What `client add` and `client rotate-secret` show once. */
export interface ClientWithSecret {
  readonly client: Client;
  readonly secret: string;
}

/** The JSON form (CLI `--json`): never the secret's hash. */
export const publicClient = (c: Client) => ({
  client_id: c.id,
  name: c.name,
  scopes: [...c.scopes],
  created_at: new Date(c.createdAt).toISOString(),
  secret_rotated_at: c.secretRotatedAt === null ? null : new Date(c.secretRotatedAt).toISOString(),
});

const toClient = (row: OauthClientRow): Client => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes === '' ? [] : row.scopes.split(' '),
  createdAt: row.created_at,
  secretRotatedAt: row.secret_rotated_at,
  tokensValidAfter: row.tokens_valid_after,
});

function checkScopes(scopes: readonly string[]): string[] {
  const unique = [...new Set(scopes)];
  const bad = unique.find((s) => !isScopeToken(s));
  if (bad !== undefined) {
    throw new AppError('validation_failed', `"${bad.slice(0, 40)}" is not a scope: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)`);
  }
  if (unique.length > MAX_SCOPES) throw new AppError('validation_failed', `a client holds at most ${MAX_SCOPES} scopes`);
  return unique;
}

export class ClientService {
  constructor(
    private readonly db: Db,
    private readonly jwt: Pick<Config['jwt'], 'accessTtlSec' | 'leewaySec'>,
    private readonly clock: Clock,
    private readonly revocations: RevocationList,
    private readonly audit: AuditLog,
  ) {}

  async create(name: string, scopes: readonly string[], context: AuditContext = {}): Promise<ClientWithSecret> {
    if (!isClientName(name)) {
      throw new AppError('validation_failed', 'A client name is 1-64 letters, digits, dots, underscores or dashes, starting with a letter or digit');
    }
    const granted = checkScopes(scopes);
    const secret = randomToken(SECRET_BYTES);
    const now = this.clock.now();
    const row: OauthClientRow = {
      id: randomBytes(ID_BYTES).toString('hex'),
      name,
      secret_hash: sha256Hex(secret),
      scopes: formatScope(granted),
      created_at: now,
      secret_rotated_at: null,
      tokens_valid_after: 0,
    };
    await this.db.transaction().execute(async (tx) => {
      // the unique index decides, also between two CLIs at once
      await tx.insertInto('oauth_clients').values(row).execute().catch((err: unknown) => {
        throw /unique/i.test(String((err as Error).message)) ? new AppError('client_name_taken', undefined, { cause: err }) : err;
      });
      await this.audit.record('client_created', { ...context, details: { client_id: row.id, name, scopes: granted } }, tx);
    });
    return { client: toClient(row), secret };
  }

  async list(): Promise<Client[]> {
    return (await this.db.selectFrom('oauth_clients').selectAll().orderBy('name').execute()).map(toClient);
  }

  async find(id: string): Promise<Client | undefined> {
    if (!CLIENT_ID.test(id)) return undefined;
    const row = await this.db.selectFrom('oauth_clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toClient(row) : undefined;
  }

  /** By client id, else by name (what the CLI takes). */
  async resolve(idOrName: string, db: Db = this.db): Promise<Client> {
    const column = CLIENT_ID.test(idOrName) ? 'id' : 'name';
    const row = await db.selectFrom('oauth_clients').selectAll().where(column, '=', idOrName).executeTakeFirst();
    if (!row) throw new AppError('client_not_found', `No client ${JSON.stringify(idOrName.slice(0, 80))}`);
    return toClient(row);
  }

  /** The client whose id and secret these are, or null: an unknown id and a wrong secret take the same path. */
  async authenticate(id: string, secret: string): Promise<Client | null> {
    const row = CLIENT_ID.test(id) ? await this.db.selectFrom('oauth_clients').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
    const matches = constantTimeEqual(sha256Hex(secret), row?.secret_hash ?? DUMMY_HASH);
    return row && matches ? toClient(row) : null;
  }

  /** Deletes the client and revokes every token it holds, in one transaction. */
  async remove(idOrName: string, context: AuditContext = {}): Promise<Client> {
    return this.db.transaction().execute(async (tx) => {
      const client = await this.resolve(idOrName, tx);
      await tx.deleteFrom('oauth_clients').where('id', '=', client.id).execute();
      await this.revokeTokens(client.id, tx);
      await this.audit.record('client_removed', { ...context, details: { client_id: client.id, name: client.name } }, tx);
      return client;
    });
  }

  /** A new secret (shown once); the old one stops working and the tokens it got are revoked. */
  async rotateSecret(idOrName: string, context: AuditContext = {}): Promise<ClientWithSecret> {
    const secret = randomToken(SECRET_BYTES);
    const client = await this.db.transaction().execute(async (tx) => {
      const found = await this.resolve(idOrName, tx);
      const stamp = await this.revokeTokens(found.id, tx);
      const now = this.clock.now();
      await tx
        .updateTable('oauth_clients')
        .set({ secret_hash: sha256Hex(secret), secret_rotated_at: now, tokens_valid_after: stamp })
        .where('id', '=', found.id)
        .execute();
      await this.audit.record('client_secret_rotated', { ...context, details: { client_id: found.id, name: found.name } }, tx);
      return { ...found, secretRotatedAt: now, tokensValidAfter: stamp };
    });
    return { client, secret };
  }

  /** Every token with sub = the client id, issued up to now, is void (the feed's "user" kind); returns the stamp (ms). */
  private revokeTokens(clientId: string, tx: Db): Promise<number> {
    return this.revocations.revokeUser(clientId, this.jwt.accessTtlSec, this.jwt.leewaySec, tx);
  }
}
