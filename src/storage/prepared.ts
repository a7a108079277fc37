/**
 * Queries of the hot paths (refresh rotation, login, the auth flood counter), built and
 * compiled once per database and then only run. Kysely builds an immutable tree for a query
 * and compiles it to SQL on every call, for queries whose SQL never changes: on a refresh
 * rotation that was about a third of the request's CPU (issue #10).
 *
 * The builder marks where each value goes with a placeholder (`arg('name')`); compiling
 * turns a placeholder into a bound parameter like any other value, so the SQL text is the
 * one Kysely writes and values never enter it. Each run copies the compiled parameters with
 * the placeholders replaced by that run's values. Only values may vary: anything that
 * changes the shape of a query (a column, a list's length) stays a plain Kysely query.
 */
import { createQueryId, type Compilable, type CompiledQuery, type DialectAdapter, type QueryResult } from 'kysely';
import type { Db } from './db.ts';

class Placeholder {
  constructor(readonly name: string) {}
}

interface Plan {
  readonly compiled: CompiledQuery;
  /** per parameter: the argument it takes, or null for a constant of the query */
  readonly slots: readonly (string | null)[];
}

/** Marks where argument `name` goes; typed as its value so the builder type-checks as usual. */
export type Arg<A> = <K extends keyof A & string>(name: K) => A[K];

const arg = (name: string) => new Placeholder(name);

/**
 * `prepared((db, arg) => db.selectFrom('t').selectAll().where('id', '=', arg('id')))` gives
 * `(db, { id }) => Promise<QueryResult<row>>`, for the root database or a transaction. The
 * compiled form is kept per dialect adapter (one per opened database; transactions share
 * their database's).
 */
export function prepared<A extends object, R>(build: (db: Db, arg: Arg<A>) => Compilable<R>): (db: Db, args: A) => Promise<QueryResult<R>> {
  const plans = new WeakMap<DialectAdapter, Plan>();
  const plan = (db: Db): Plan => {
    const compiled = build(db, arg as unknown as Arg<A>).compile();
    const slots = compiled.parameters.map((p) => (p instanceof Placeholder ? p.name : null));
    return { compiled, slots };
  };
  return (db, args) => {
    const adapter = db.getExecutor().adapter;
    let p = plans.get(adapter);
    if (!p) plans.set(adapter, (p = plan(db)));
    const { compiled, slots } = p;
    const parameters = compiled.parameters.map((value, i) => {
      const name = slots[i] ?? null;
      return name === null ? value : (args as Record<string, unknown>)[name];
    });
    return db.executeQuery<R>({ query: compiled.query, queryId: createQueryId(), sql: compiled.sql, parameters });
  };
}
