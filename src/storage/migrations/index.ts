import type { Migration, MigrationProvider } from 'kysely';
import { init } from './0001_init.ts';
import { security } from './0002_security.ts';
import { multiInstance } from './0003_multi_instance.ts';
import { passkeys } from './0004_passkeys.ts';
import { oidc } from './0005_oidc.ts';
import { clients } from './0006_clients.ts';
import { imports } from './0007_imports.ts';

/** Numbered, in order; a static list, so the compiled build and tsx see the same set. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_init': init,
  '0002_security': security,
  '0003_multi_instance': multiInstance,
  '0004_passkeys': passkeys,
  '0005_oidc': oidc,
  '0006_clients': clients,
  '0007_imports': imports,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
