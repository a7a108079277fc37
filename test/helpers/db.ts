/**
 * Which database the tests run on. `npm test` runs the suites twice: once on SQLite
 * files, once on the private PostgreSQL server it starts (BASTION_TEST_PG_URL), with
 * BASTION_TEST_DIALECT saying which. Each temporary directory maps to its own database,
 * so test files (and apps within one) never share state unless they share a directory,
 * which is how tests model several instances on one database.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { psql } from './postgres.ts';

export type TestDialect = 'sqlite' | 'postgres';

export const DIALECT: TestDialect = process.env['BASTION_TEST_DIALECT'] === 'postgres' ? 'postgres' : 'sqlite';

/** The shared server's admin URL; only under the postgres pass of `npm test`. */
export function pgAdminUrl(): string {
  const url = process.env['BASTION_TEST_PG_URL'];
  if (!url) throw new Error('BASTION_TEST_PG_URL is not set: run PostgreSQL tests through `npm test`');
  return url;
}

const created = new Set<string>();

/** A new, empty PostgreSQL database on the shared server; `name` makes it idempotent. */
export function createPgDatabase(name = `t_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`): string {
  const admin = new URL(pgAdminUrl());
  if (!created.has(name)) {
    psql(admin.toString(), `create database ${name}`);
    created.add(name);
  }
  admin.pathname = `/${name}`;
  return admin.toString();
}

/** The database for a test directory: a SQLite file in it, or a PostgreSQL database named after it. */
export function testDatabaseUrl(dir: string, dialect: TestDialect = DIALECT): string {
  if (dialect === 'sqlite') return `sqlite:${join(dir, 'bastion.db')}`;
  return createPgDatabase(`t_${createHash('sha256').update(dir).digest('hex').slice(0, 24)}`);
}
