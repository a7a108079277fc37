import { migrate, openDb } from '../../storage/db.ts';
import { parseCommand } from '../args.ts';

export async function migrateCommand(argv: readonly string[]): Promise<void> {
  const { config } = parseCommand(argv);
  const store = openDb(config.databaseUrl);
  try {
    const applied = await migrate(store.db);
    console.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await store.close();
  }
}
