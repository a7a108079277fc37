import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type SqliteDatabase as KyselySqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
  type UnknownRow,
} from 'kysely';

/** Distinct SQL texts whose prepared statements are kept (the repos have a few dozen). */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew, and preparing (parsing and planning the SQL) was as
 * costly as running it: about a tenth of a refresh rotation's CPU. The compiled SQL of a
 * query is the same text each time (values are parameters), so its statement is reused;
 * better-sqlite3 runs one statement at a time, synchronously, so a cached statement is
 * never busy when it is used again (nothing here streams rows with iterate()).
 */
function withStatementCache(database: SqliteDatabase.Database): KyselySqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql);
      if (statement) {
        // most recently used last: the first key is the one to drop when full
        statements.delete(sql);
      } else {
        statement = database.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
      }
      statements.set(sql, statement);
      return statement;
    },
  };
}

/**
 * Transactions start with BEGIN IMMEDIATE: the write lock is taken up front, so two
 * processes on one file (the CLI beside the server, or several workers) queue on
 * busy_timeout instead of failing with SQLITE_BUSY when a reader tries to become a writer.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class BastionSqliteDialect extends SqliteDialect {
  constructor(private readonly settings: SqliteDialectConfig) {
    super(settings);
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.settings);
  }
}

/**
 * Repos lock rows with `.forUpdate()` for PostgreSQL. SQLite has no row locks and no such
 * syntax; its transactions already hold the database write lock (BEGIN IMMEDIATE), so the
 * clause is dropped here and the repos stay dialect-free.
 */
export class SqliteLockingPlugin implements KyselyPlugin {
  transformQuery({ node }: PluginTransformQueryArgs): RootOperationNode {
    if (node.kind !== 'SelectQueryNode' || !node.endModifiers?.some((m) => m.modifier === 'ForUpdate')) return node;
    return Object.freeze({ ...node, endModifiers: Object.freeze(node.endModifiers.filter((m) => m.modifier !== 'ForUpdate')) });
  }
  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result;
  }
}

/** `sqlite:./data/bastion.db` -> a better-sqlite3 dialect on that file, created if missing. */
export function sqliteDialect(path: string): SqliteDialect {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new SqliteDatabase(path);
  // busy_timeout first: even switching to WAL waits for a lock held by another process
  // (a worker, the CLI) instead of failing at once with SQLITE_BUSY. WAL lets readers
  // proceed during a write.
  database.pragma('busy_timeout = 5000');
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  database.pragma('synchronous = NORMAL');
  return new BastionSqliteDialect({ database: withStatementCache(database) });
}
