import { parseArgs } from 'node:util';
import { ConfigError } from '../../config/errors.ts';
import { configFlagOptions, loadConfig } from '../../config/load.ts';
import { countErrors, error, formatJson, formatText, summary, type Finding } from '../../doctor/findings.ts';
import { originOf } from '../../doctor/hosts.ts';
import { runDoctor } from '../../doctor/run.ts';
import { UsageError } from '../args.ts';

const USAGE = 'usage: bastion doctor [--url https://instance] [--json] [--<setting> value]...';

/**
 * `bastion doctor`: loads the settings as `serve` would (flags, environment, defaults),
 * checks them, the database they name (read-only) and, with --url, a running instance;
 * prints each finding with its fix (`--json`: one JSON document). Exit 1 when any finding
 * is an error, 0 otherwise. A setting that does not load is itself a finding, so --json
 * still answers with JSON.
 */
export async function doctorCommand(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...configFlagOptions(), url: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message.split('\n')[0] : String(err)}; ${USAGE}`);
  }
  const { positionals, values } = parsed;
  if (positionals.length > 0) throw new UsageError(`doctor takes no arguments (got "${positionals[0]}"); ${USAGE}`);
  const url = typeof values['url'] === 'string' ? values['url'] : null;
  if (url !== null && originOf(url) === null) throw new UsageError(`--url must be an http(s) URL of a running instance (got "${url}"); ${USAGE}`);

  let findings: Finding[];
  try {
    const config = loadConfig(process.env, values as Record<string, string | boolean | undefined>);
    findings = await runDoctor(config, { url });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    findings = [error('config', err.message, 'correct the setting it names; bastion config --check shows every setting and where it came from')];
  }
  process.stdout.write(values['json'] === true ? formatJson(findings) : formatText(findings));
  // exit 1 through main's one stderr line
  if (countErrors(findings) > 0) throw new Error(summary(findings));
}
