import { existsSync } from 'node:fs';
import { openStore } from '../../app.ts';
import { ConfigError } from '../../config/errors.ts';
import { rewrapKeys } from '../../keys/service.ts';
import { KeyEncryptionKey } from '../../keys/wrap.ts';
import { parseCommand, UsageError } from '../args.ts';
import { withServices } from './user.ts';

const USAGE = 'usage: bastion keys rotate | keys list [--json] | keys rewrap [--from-key <old key-encryption key>]';

export async function keysCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'rewrap') return rewrap(rest);
  const { positionals, values, config } = parseCommand(rest, { json: { type: 'boolean' } });
  if (positionals.length > 0 || (sub !== 'rotate' && sub !== 'list')) throw new UsageError(USAGE);
  await withServices(config, async ({ keys, audit }) => {
    if (sub === 'rotate') {
      const key = await keys.rotate();
      await audit.record('key_rotation', { actorId: 'cli', details: { kid: key.kid } });
      console.log(`active key is now ${key.kid} (${key.alg}); the previous key verifies for ${config.jwt.accessTtlSec + config.jwt.leewaySec} s more`);
      return;
    }
    const list = await keys.list();
    if (values['json']) console.log(JSON.stringify(list));
    else for (const k of list) console.log([k.kid, k.alg, k.status, k.created_at ?? '-', k.verify_until ?? '-'].join('\t'));
  });
}

/**
 * `keys rewrap`: every stored private key, plain or wrapped under the old key-encryption key
 * (KEY_ENCRYPTION_KEY_OLD, or --from-key, which shows in the process list), is wrapped
 * under KEY_ENCRYPTION_KEY in one transaction. Then start every instance with the new key.
 * Works without the services: they could not start until the keys open under the new KEK.
 */
async function rewrap(argv: readonly string[]): Promise<void> {
  const { positionals, values, config } = parseCommand(argv, { 'from-key': { type: 'string' } });
  if (positionals.length > 0) throw new UsageError(USAGE);
  if (config.keyEncryptionKey === null) throw new ConfigError('KEY_ENCRYPTION_KEY', 'is required: keys rewrap encrypts the signing keys under it');
  const to = KeyEncryptionKey.fromBase64(config.keyEncryptionKey)!;
  const fromText = (values['from-key'] as string | undefined) ?? process.env['KEY_ENCRYPTION_KEY_OLD'];
  let from: KeyEncryptionKey | null = null;
  if (fromText !== undefined && fromText !== '') {
    from = KeyEncryptionKey.fromBase64(fromText);
    if (!from) throw new ConfigError('KEY_ENCRYPTION_KEY_OLD', 'must be base64 of exactly 32 bytes (given as KEY_ENCRYPTION_KEY_OLD or --from-key)');
  }
  const path = config.databaseUrl.startsWith('sqlite:') ? config.databaseUrl.slice('sqlite:'.length) : null;
  if (path !== null && path !== ':memory:' && !existsSync(path)) throw new Error(`no database at ${path} (set DATABASE_URL)`);
  const { store } = await openStore(config);
  try {
    const count = await rewrapKeys(store.db, to, from);
    console.log(`rewrapped ${count} signing key${count === 1 ? '' : 's'} under KEY_ENCRYPTION_KEY; start every instance with it`);
  } finally {
    await store.close();
  }
}
