import { parseCommand, UsageError } from '../args.ts';
import { withServices } from './user.ts';

const USAGE = 'usage: bastion keys rotate | keys list [--json]';

export async function keysCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
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
