import { buildApp } from '../../app.ts';
import { parseCommand, UsageError } from '../args.ts';

export async function serve(argv: readonly string[]): Promise<void> {
  const { positionals, config } = parseCommand(argv);
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments (got "${positionals[0]}")`);
  const app = await buildApp(config);
  const stop = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  const address = await app.listen({ host: config.host, port: config.port });
  app.log.info(`Bastion ${config.demo ? '(demo data) ' : ''}serving ${address} — docs at ${address}/docs`);
}
