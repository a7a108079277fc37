/**
 * `bastion client add|list|remove|rotate-secret`: machine clients (oauth/clients.ts). The
 * secret is printed once, by add and rotate-secret; only its hash is stored.
 */
import { publicClient, type ClientWithSecret } from '../../oauth/clients.ts';
import { isClientName, isScopeToken } from '../../oauth/scopes.ts';
import { parseCommand, UsageError } from '../args.ts';
import { withServices } from './user.ts';

const USAGE =
  'usage: bastion client add <name> [--scope s]... [--json] | client list [--json] | client remove <client_id|name> | client rotate-secret <client_id|name> [--json]';

const CLI_ACTOR = { actorId: 'cli' };

function printSecret({ client, secret }: ClientWithSecret, json: boolean, verb: string): void {
  if (json) {
    console.log(JSON.stringify({ client_id: client.id, client_secret: secret, name: client.name, scopes: [...client.scopes] }));
    return;
  }
  console.log(`${verb} client ${client.name}`);
  console.log(`client_id:     ${client.id}`);
  console.log(`client_secret: ${secret}`);
  console.log(`scopes:        ${client.scopes.join(' ') || '(none)'}`);
  console.log('The secret is shown only now: store it where the service reads it. Bastion keeps only its hash.');
}

/** One positional, the client's id or name. */
function target(positionals: readonly string[]): string {
  const [which, extra] = positionals;
  if (!which || extra !== undefined) throw new UsageError(USAGE);
  return which;
}

export async function clientCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const { positionals, values, config } = parseCommand(rest, { scope: { type: 'string', multiple: true }, json: { type: 'boolean' } });
      const name = target(positionals);
      if (!isClientName(name)) throw new UsageError('a client name is 1-64 letters, digits, dots, underscores or dashes, starting with a letter or digit');
      // `--scope "a b"` is two scopes, as in the scope parameter
      const scopes = ((values['scope'] as string[] | undefined) ?? []).flatMap((s) => s.split(' ')).filter((s) => s !== '');
      const bad = scopes.find((s) => !isScopeToken(s));
      if (bad !== undefined) throw new UsageError(`"${bad}" is not a scope: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)`);
      await withServices(config, async ({ clients }) => printSecret(await clients.create(name, scopes, CLI_ACTOR), values['json'] === true, 'created'), true);
      return;
    }
    case 'list': {
      const { positionals, values, config } = parseCommand(rest, { json: { type: 'boolean' } });
      if (positionals.length > 0) throw new UsageError(USAGE);
      await withServices(config, async ({ clients }) => {
        const list = (await clients.list()).map(publicClient);
        if (values['json']) {
          console.log(JSON.stringify(list));
          return;
        }
        for (const c of list) console.log([c.name, c.client_id, c.scopes.join(' ') || '-', c.created_at, c.secret_rotated_at ?? '-'].join('\t'));
      });
      return;
    }
    case 'remove': {
      const { positionals, config } = parseCommand(rest);
      const which = target(positionals);
      await withServices(config, async ({ clients }) => {
        const client = await clients.remove(which, CLI_ACTOR);
        console.log(`removed client ${client.name} (${client.id}); its tokens are revoked (running servers apply it within REVOCATION_POLL)`);
      });
      return;
    }
    case 'rotate-secret': {
      const { positionals, values, config } = parseCommand(rest, { json: { type: 'boolean' } });
      const which = target(positionals);
      await withServices(config, async ({ clients }) => {
        const rotated = await clients.rotateSecret(which, CLI_ACTOR);
        printSecret(rotated, values['json'] === true, 'new secret for');
        if (!values['json']) console.error('The old secret no longer works, and the tokens it got are revoked.');
      });
      return;
    }
    default:
      throw new UsageError(USAGE);
  }
}
