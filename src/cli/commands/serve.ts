import cluster from 'node:cluster';
import { parseCommand, UsageError } from '../args.ts';

/**
 * `bastion serve`: one process (WORKERS=1), or a node:cluster primary that forks WORKERS
 * workers, each of which runs this command again and serves. Both drain on SIGTERM/SIGINT
 * (server/shutdown.ts, server/cluster.ts). The server is loaded only once the settings
 * are valid: a bad setting fails at once.
 */
export async function serve(argv: readonly string[]): Promise<void> {
  const { positionals, config } = parseCommand(argv);
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments (got "${positionals[0]}")`);
  if (cluster.isPrimary && config.workers > 1) return (await import('../../server/cluster.ts')).runPrimary(config);
  return (await import('../../server/shutdown.ts')).runServer(config);
}
