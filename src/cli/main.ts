#!/usr/bin/env -S node --max-semi-space-size=4 --v8-pool-size=2
/**
 * `bastion <command>`: errors print as one line; exit 2 for usage, 1 for everything else.
 * The flags (also in npm start, the bin and the systemd unit) cap V8's young generation at
 * 2×4 MB instead of 2×16 MB and give V8 two helper threads instead of four: ~18 MB less
 * resident memory under load, no loss of throughput measured (issue #10; README "Performance").
 */
import { ConfigError } from '../config/errors.ts';
import { AppError } from '../errors/app-error.ts';
import { UsageError } from './args.ts';

const HELP = `usage: bastion <command>
  serve [--demo] [--port N] [--host H] [--database-url sqlite:path] ...   run the server (every setting has a flag)
  migrate                                   apply database migrations
  backup <file> [--force]                   copy the SQLite database while servers run, then integrity_check it (PostgreSQL: prints the pg_dump line)
  db copy --from URL --to URL [--force]     copy every table to another database (SQLite -> PostgreSQL); --force replaces a non-empty target
  user add <username> [--email e] [--name n] [--role r]   password from the prompt or stdin
  user role <username> add|remove <role>
  user list [--json]
  sessions revoke <username>                log the user out everywhere
  keys rotate | keys list [--json]          signing keys: a new active key; the old one verifies until its tokens expire
  keys rewrap [--from-key K]                encrypt the stored signing keys under KEY_ENCRYPTION_KEY (old key: KEY_ENCRYPTION_KEY_OLD or --from-key)
  client add <name> [--scope s]... [--json] a machine client (client_credentials); prints its id and secret once
  client list [--json] | client remove <client_id|name> | client rotate-secret <client_id|name> [--json]
  import users <file> [--format jsonl|csv] [--flask-security-salt S] [--dry-run] [--json]   users of an old app (JSON lines or CSV)
  import flask-security --db sqlite:<path> [--single-hash] [--legacy-id id|fs_uniquifier] [--dry-run] [--json]   a Flask-Security app's users (salt: FLASK_SECURITY_PASSWORD_SALT)
  audit tail [-n 20] [--follow] [--json]    security events
  config --docs | config --check            the settings reference in Markdown | the effective settings, secrets masked
  doctor [--url URL] [--json]               check the settings, the database and (--url) a running instance; exit 1 on any error`;

type Command = (argv: readonly string[]) => Promise<void>;

/** Loaded on use: `bastion --help` need not load the server. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.ts')).serve,
  migrate: async () => (await import('./commands/migrate.ts')).migrateCommand,
  backup: async () => (await import('./commands/backup.ts')).backupCommand,
  config: async () => (await import('./commands/config.ts')).configCommand,
  db: async () => (await import('./commands/db.ts')).dbCommand,
  user: async () => (await import('./commands/user.ts')).userCommand,
  sessions: async () => (await import('./commands/sessions.ts')).sessionsCommand,
  keys: async () => (await import('./commands/keys.ts')).keysCommand,
  client: async () => (await import('./commands/client.ts')).clientCommand,
  import: async () => (await import('./commands/import.ts')).importCommand,
  audit: async () => (await import('./commands/audit.ts')).auditCommand,
  doctor: async () => (await import('./commands/doctor.ts')).doctorCommand,
};

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(HELP);
    return 2;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    console.log(HELP);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`bastion: unknown command "${name}"\n${HELP}`);
    return 2;
  }
  try {
    await (await load())(rest);
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
