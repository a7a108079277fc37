/**
 * `bastion import users FILE` and `bastion import flask-security --db sqlite:app.db`: the
 * users of an old application into Bastion (imports/service.ts), one line per record
 * (imported, or skipped with the reason), then a summary; --json prints the report as one
 * JSON object. A file or database that cannot be read at all is one line and exit 1, with
 * nothing imported. Flask-Security's SECURITY_PASSWORD_SALT comes from the environment
 * (FLASK_SECURITY_PASSWORD_SALT), which no other user of the machine can read, or from
 * --flask-security-salt, which shows in the process list.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Config } from '../../config/load.ts';
import { readFlaskSecurityDb, type LegacyIdColumn } from '../../imports/flask-security.ts';
import { describeRef, readRecords, UnreadableInput, type ImportFormat, type RawRecord } from '../../imports/records.ts';
import { importUsers, type ImportReport, type ImportSourceKind } from '../../imports/service.ts';
import { parseCommand, UsageError } from '../args.ts';
import { withServices } from './user.ts';

const USAGE = [
  'usage: bastion import users <file> [--format jsonl|csv] [--flask-security-salt S] [--dry-run] [--json]',
  '       bastion import flask-security --db sqlite:<path> [--flask-security-salt S | --single-hash] [--legacy-id id|fs_uniquifier] [--dry-run] [--json]',
].join('\n');

export const SALT_ENV = 'FLASK_SECURITY_PASSWORD_SALT';

const COMMON = {
  'flask-security-salt': { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export async function importCommand(argv: readonly string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'users') return importFile(rest);
  if (sub === 'flask-security') return importFlaskSecurity(rest);
  throw new UsageError(USAGE);
}

async function importFile(argv: readonly string[]): Promise<void> {
  const { positionals, values, config } = parseCommand(argv, { ...COMMON, format: { type: 'string' } });
  const [file, extra] = positionals;
  if (file === undefined || extra !== undefined) throw new UsageError(USAGE);
  const format = formatOf(file, values['format'] as string | undefined);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const records = unreadable(file, () => readRecords(text, format));
  const salt = saltOf(values);
  // a salt left in the environment from another import would make every hash unusable: say so
  if (salt !== null && values['json'] !== true) console.log(`password_hash values are taken as Flask-Security's (salt from ${values['flask-security-salt'] !== undefined ? '--flask-security-salt' : SALT_ENV})`);
  await run(config, records, format, values, salt, false);
}

async function importFlaskSecurity(argv: readonly string[]): Promise<void> {
  const { positionals, values, config } = parseCommand(argv, {
    ...COMMON,
    db: { type: 'string' },
    'single-hash': { type: 'boolean' },
    'legacy-id': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(USAGE);
  const url = values['db'] as string | undefined;
  if (url === undefined || !url.startsWith('sqlite:') || url.length === 'sqlite:'.length) {
    throw new UsageError(`--db sqlite:<path to the Flask app's database> is required\n${USAGE}`);
  }
  const legacyId = (values['legacy-id'] as string | undefined) ?? 'id';
  if (legacyId !== 'id' && legacyId !== 'fs_uniquifier') throw new UsageError(`--legacy-id must be id or fs_uniquifier\n${USAGE}`);
  const salt = saltOf(values);
  const single = values['single-hash'] === true;
  if (salt !== null && single) throw new UsageError(`--single-hash means the app hashed without its salt: give one or the other\n${USAGE}`);
  if (salt === null && !single) {
    throw new UsageError(
      `Flask-Security hashes passwords with SECURITY_PASSWORD_SALT: set ${SALT_ENV} to the app's value (or --flask-security-salt), or pass --single-hash if the app set SECURITY_PASSWORD_SINGLE_HASH = True`,
    );
  }
  const path = url.slice('sqlite:'.length);
  const records = unreadable(path, () => readFlaskSecurityDb(path, legacyId as LegacyIdColumn));
  await run(config, records, 'flask-security', values, salt, true);
}

async function run(
  config: Config,
  records: RawRecord[],
  source: ImportSourceKind,
  values: Record<string, unknown>,
  flaskSecuritySalt: string | null,
  deriveUsername: boolean,
): Promise<void> {
  const dryRun = values['dry-run'] === true;
  const report = await withServices(
    config,
    ({ store, clock, audit, users }) =>
      importUsers({ db: store.db, clock, audit, hashPassword: (pw) => users.hashPassword(pw) }, records, { source, dryRun, flaskSecuritySalt, deriveUsername }),
    true,
  );
  if (values['json']) console.log(JSON.stringify(report));
  else printReport(report);
}

function printReport(report: ImportReport): void {
  for (const row of report.rows) {
    const who = row.username ? ` ${row.username}` : '';
    console.log(row.status === 'imported' ? `${describeRef(row)}: imported${who}` : `${describeRef(row)}: skipped${who} (${row.reason})`);
  }
  const tail = report.dry_run ? ' (dry run: nothing was written)' : '';
  console.log(`imported ${report.imported}, skipped ${report.skipped}${tail}`);
}

function formatOf(file: string, given: string | undefined): ImportFormat {
  if (given !== undefined) {
    if (given === 'jsonl' || given === 'csv') return given;
    throw new UsageError(`--format must be jsonl or csv (got "${given}")`);
  }
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  throw new UsageError(`cannot tell the format of ${file} from its name: give --format jsonl or --format csv`);
}

function saltOf(values: Record<string, unknown>): string | null {
  const salt = (values['flask-security-salt'] as string | undefined) ?? process.env[SALT_ENV];
  return salt === undefined || salt === '' ? null : salt;
}

/** An input that cannot be read at all: one line naming it, nothing imported. */
function unreadable<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof UnreadableInput) throw new Error(`${name}: ${err.message}; nothing was imported`);
    throw err;
  }
}
