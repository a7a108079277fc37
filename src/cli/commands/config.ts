import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { configReference, effectiveSettings, ReferenceMarkersError, replaceReference } from '../../config/docs.ts';
import { parseCommand, UsageError } from '../args.ts';

const USAGE = 'usage: bastion config --docs [--write <markdown file>] | config --check [--<setting> value]...';

/**
 * `config --docs`: the settings reference in Markdown, from the schema; with --write, the
 * text between `<!-- config:begin -->` and `<!-- config:end -->` in that file is replaced
 * (`npm run docs:config` keeps docs/deploy.md in step). It reads no setting, so it works
 * whatever the environment holds.
 *
 * `config --check`: loads the settings as `serve` would (flags, environment, defaults; a
 * bad value is the same one-line error, exit 1) and prints each with where it came from,
 * secrets masked. Nothing is opened: the database is not contacted.
 */
export async function configCommand(argv: readonly string[]): Promise<void> {
  const [mode, ...rest] = argv;
  if (mode === '--docs') return docs(rest);
  if (mode === '--check') return check(rest);
  throw new UsageError(USAGE);
}

function docs(argv: readonly string[]): void {
  let values: { write?: string | undefined };
  try {
    ({ values } = parseArgs({ args: [...argv], options: { write: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message.split('\n')[0] : String(err)}; ${USAGE}`);
  }
  const reference = configReference();
  if (values.write === undefined) {
    process.stdout.write(reference);
    return;
  }
  const file = values.write;
  const before = readFileSync(file, 'utf8');
  let after: string;
  try {
    after = replaceReference(before, reference);
  } catch (err) {
    if (err instanceof ReferenceMarkersError) throw new Error(`${file}: ${err.message}`);
    throw err;
  }
  if (after === before) {
    console.log(`${file}: configuration reference is up to date`);
    return;
  }
  writeFileSync(file, after);
  console.log(`${file}: configuration reference rewritten`);
}

function check(argv: readonly string[]): void {
  const { positionals, values } = parseCommand(argv);
  if (positionals.length > 0) throw new UsageError(`config --check takes no arguments (got "${positionals[0]}"); ${USAGE}`);
  const settings = effectiveSettings(process.env, values as Record<string, string | boolean | undefined>);
  const width = Math.max(...settings.map((s) => s.name.length));
  for (const s of settings) {
    console.log(`${s.name.padEnd(width)}  ${s.value === null ? '(unset)' : `${s.value === '' ? '(empty)' : s.value}  [${s.source}]`}`);
  }
  console.log('config ok');
}
