import { parseCommand, UsageError } from '../args.ts';
import { withServices } from './user.ts';

export async function sessionsCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'revoke') throw new UsageError('usage: bastion sessions revoke <username>');
  const { positionals, config } = parseCommand(rest);
  const [username, extra] = positionals;
  if (!username || extra !== undefined) throw new UsageError('usage: bastion sessions revoke <username>');
  await withServices(config, async ({ users, sessions }) => {
    const user = await users.require(username);
    const count = await sessions.revokeAll(user.id, 'admin_revoke');
    console.log(`revoked ${count} session(s) of ${user.username}; running servers apply it within their REVOCATION_POLL`);
  });
}
