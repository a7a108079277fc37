#!/usr/bin/env node
/** `bastion <command>`: errors print as one line; exit 2 for usage, 1 for everything else. */
import { ConfigError } from '../config/errors.ts';
import { AppError } from '../errors/app-error.ts';
import { UsageError } from './args.ts';
import { migrateCommand } from './commands/migrate.ts';
import { serve } from './commands/serve.ts';
import { sessionsCommand } from './commands/sessions.ts';
import { userCommand } from './commands/user.ts';

const HELP = `usage: bastion <command>
  serve [--demo] [--port N] [--host H] [--database-url sqlite:path] ...   run the server (every setting has a flag)
  migrate                                   apply database migrations
  user add <username> [--email e] [--name n] [--role r]   password from the prompt or stdin
  user role <username> add|remove <role>
  user list [--json]
  sessions revoke <username>                log the user out everywhere`;

const COMMANDS: Record<string, (argv: readonly string[]) => Promise<void>> = {
  serve,
  migrate: migrateCommand,
  user: userCommand,
  sessions: sessionsCommand,
};

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`bastion: unknown command "${name}"\n${HELP}`);
    return 2;
  }
  try {
    await command(rest);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bastion: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError) console.error(err.message);
    else if (err instanceof AppError) console.error(`bastion: ${err.message}`);
    else console.error(`bastion: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve keeps running; every other command ends here
    if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bastion: ${String(err)}`);
    process.exitCode = 1;
  },
);
