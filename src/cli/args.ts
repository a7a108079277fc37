import { parseArgs } from 'node:util';
import { configFlagOptions, loadConfig, type Config } from '../config/load.ts';

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type OwnOptions = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/**
 * Parses a command's positionals, its own options and every config flag in one pass,
 * then loads the config: `bastion user add kyle --role admin --database-url sqlite:x.db`.
 */
export function parseCommand(argv: readonly string[], own: OwnOptions = {}, env: NodeJS.ProcessEnv = process.env) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { ...configFlagOptions(), ...own }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message.split('\n')[0] : String(err));
  }
  const config: Config = loadConfig(env, parsed.values as Record<string, string | boolean | undefined>);
  return { positionals: parsed.positionals, values: parsed.values as Record<string, unknown>, config };
}
