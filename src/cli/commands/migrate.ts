import { openStore } from '../../app.ts';
import { parseCommand } from '../args.ts';

export async function migrateCommand(argv: readonly string[]): Promise<void> {
  const { config } = parseCommand(argv);
  const { store, applied } = await openStore(config);
  await store.close();
  console.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'database is up to date');
}
