import { existsSync } from 'node:fs';
import { closeServices, openServices } from '../../app.ts';
import type { Config } from '../../config/load.ts';
import type { Services } from '../../services.ts';
import { parseCommand, UsageError } from '../args.ts';
import { readPassword } from '../prompt.ts';

const USAGE = 'usage: bastion user add <username> [--email e] [--name n] [--role r]... | user role <username> add|remove <role> | user list [--json]';

/**
 * Opens the store for a command. Commands that only read or change existing users refuse
 * a SQLite file that does not exist, rather than create an empty database at a typo.
 */
async function withServices<T>(config: Config, fn: (s: Services) => Promise<T>, mayCreate = false): Promise<T> {
  const path = config.databaseUrl.startsWith('sqlite:') ? config.databaseUrl.slice('sqlite:'.length) : null;
  if (!mayCreate && path !== null && path !== ':memory:' && !existsSync(path)) {
    throw new Error(`no database at ${path} (run "bastion migrate" or "bastion user add" first, or set DATABASE_URL)`);
  }
  const services = await openServices(config);
  try {
    return await fn(services);
  } finally {
    await closeServices(services);
  }
}

export async function userCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'add': {
      const { positionals, values, config } = parseCommand(rest, {
        role: { type: 'string', multiple: true },
        email: { type: 'string' },
        name: { type: 'string' },
      });
      const [username, extra] = positionals;
      if (!username || extra !== undefined) throw new UsageError(USAGE);
      const password = await readPassword(`Password for ${username}`);
      await withServices(config, async ({ users }) => {
        const user = await users.create({
          username,
          password,
          email: (values['email'] as string | undefined) ?? null,
          name: (values['name'] as string | undefined) ?? null,
          roles: (values['role'] as string[] | undefined) ?? [],
        });
        console.log(`created user ${user.username} (${user.id})${user.roles.length ? ` with roles ${user.roles.join(', ')}` : ''}`);
      }, true);
      return;
    }
    case 'role': {
      const { positionals, config } = parseCommand(rest);
      const [username, action, role, extra] = positionals;
      if (!username || (action !== 'add' && action !== 'remove') || !role || extra !== undefined) throw new UsageError(USAGE);
      await withServices(config, async ({ users }) => {
        const user = await users.changeRole((await users.require(username)).id, action, role);
        console.log(`${user.username} roles: ${user.roles.join(', ') || '(none)'}`);
      });
      return;
    }
    case 'list': {
      const { positionals, values, config } = parseCommand(rest, { json: { type: 'boolean' } });
      if (positionals.length > 0) throw new UsageError(USAGE);
      await withServices(config, async ({ users }) => {
        const list = await users.list();
        if (values['json']) {
          console.log(JSON.stringify(list.map((u) => ({ username: u.username, email: u.email, roles: u.roles, disabled: u.disabled_at !== null }))));
          return;
        }
        for (const u of list) {
          console.log([u.username, u.email ?? '-', u.roles.join(',') || '-', u.disabled_at === null ? 'active' : 'disabled'].join('\t'));
        }
      });
      return;
    }
    default:
      throw new UsageError(USAGE);
  }
}

export { withServices };
