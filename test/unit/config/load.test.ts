import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDurationMs } from '../../../src/config/duration.ts';
import { ConfigError } from '../../../src/config/errors.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { availableParallelism } from 'node:os';

const refused = (env: Record<string, string>, variable: string, pattern?: RegExp) => {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.equal(err.variable, variable);
      assert.ok(err.message.startsWith(`config: ${variable} `), err.message);
      assert.ok(!err.message.includes('\n'), 'one line');
      if (pattern) assert.match(err.message, pattern);
      return true;
    },
  );
};

describe('durations', () => {
  test('read like people write them', () => {
    assert.equal(parseDurationMs('20s'), 20_000);
    assert.equal(parseDurationMs('15m'), 900_000);
    assert.equal(parseDurationMs('14d'), 14 * 86_400_000);
    assert.equal(parseDurationMs('2h'), 7_200_000);
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('30'), 30_000);
  });
  test('refuse anything else', () => {
    for (const bad of ['', 'abc', '-5s', '1.5m', '10 years', '5w', '1e3']) assert.equal(parseDurationMs(bad), null, bad);
  });
});

describe('loadConfig', () => {
  test('defaults match DESIGN.md §4', () => {
    const c = loadConfig({});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8085);
    assert.equal(c.databaseUrl, 'sqlite:./data/bastion.db');
    assert.equal(c.jwt.alg, 'EdDSA');
    assert.equal(c.jwt.accessTtlSec, 900);
    assert.equal(c.refreshTtlSec, 14 * 86_400);
    assert.deepEqual(c.cookie, { secure: true, sameSite: 'lax' });
    assert.equal(c.demo, false);
    // ARGON2_CONCURRENCY=auto leaves one core to the event loop
    assert.deepEqual(c.argon2, { memoryCost: 19456, timeCost: 2, parallelism: 1, concurrency: Math.max(1, availableParallelism() - 1), nice: 'idle' });
    assert.deepEqual(c.corsOrigins, []);
  });

  test('is deeply frozen', () => {
    const c = loadConfig({});
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.jwt) && Object.isFrozen(c.corsOrigins));
  });

  test('environment and flags; flags win', () => {
    const c = loadConfig(
      { PORT: '9000', ACCESS_TTL: '20s', CORS_ORIGINS: 'http://localhost:5173, https://a.example', DEMO: 'true' },
      { port: '9001', 'cookie-samesite': 'None' },
    );
    assert.equal(c.port, 9001);
    assert.equal(c.jwt.accessTtlSec, 20);
    assert.deepEqual(c.corsOrigins, ['http://localhost:5173', 'https://a.example']);
    assert.equal(c.demo, true);
    assert.equal(c.cookie.sameSite, 'none');
  });

  test('bad values name the variable and what is allowed', () => {
    refused({ PORT: '99999' }, 'PORT', /0 to 65535/);
    refused({ PORT: 'eighty' }, 'PORT');
    refused({ JWT_ALG: 'none' }, 'JWT_ALG', /EdDSA, ES256, RS256, HS256/);
    refused({ JWT_ALG: 'HS512' }, 'JWT_ALG');
    refused({ ACCESS_TTL: 'abc' }, 'ACCESS_TTL', /15m/);
    refused({ ACCESS_TTL: '1h', REFRESH_TTL: '30m' }, 'REFRESH_TTL');
    refused({ COOKIE_SECURE: 'maybe' }, 'COOKIE_SECURE');
    refused({ COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'false' }, 'COOKIE_SAMESITE', /COOKIE_SECURE/);
    refused({ CORS_ORIGINS: '*' }, 'CORS_ORIGINS');
    refused({ CORS_ORIGINS: 'https://a.example/path' }, 'CORS_ORIGINS');
    refused({ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL');
    refused({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL');
    refused({ ARGON2_NICE: '20' }, 'ARGON2_NICE', /idle or a whole number from 0 to 19/);
    refused({ ARGON2_NICE: 'lowest' }, 'ARGON2_NICE');
    assert.equal(loadConfig({ ARGON2_NICE: '7' }).argon2.nice, 7);
    assert.equal(loadConfig({ ARGON2_NICE: 'IDLE' }).argon2.nice, 'idle');
  });

  test('HS256 needs a secret of at least 32 bytes and never echoes it', () => {
    refused({ JWT_ALG: 'HS256' }, 'JWT_SECRET', /required/);
    refused({ JWT_ALG: 'HS256', JWT_SECRET: 'sherpaSecret' }, 'JWT_SECRET', /32 bytes/);
    try {
      loadConfig({ JWT_ALG: 'HS256', JWT_SECRET: 'sherpaSecret' });
    } catch (err) {
      assert.ok(!(err as Error).message.includes('sherpaSecret'));
    }
    const ok = loadConfig({ JWT_ALG: 'HS256', JWT_SECRET: 'x'.repeat(32) });
    assert.equal(ok.jwt.secret, 'x'.repeat(32));
  });

  test('a database URL with a password is not echoed', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://user:hunter2@db/x' }), (err: Error) => !err.message.includes('hunter2'));
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'postgres://user:hun@ter2@db/x?sslmode=sometimes' }),
      (err: Error) => /^config: DATABASE_URL sslmode must be one of/.test(err.message) && !err.message.includes('ter2'),
    );
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'postgres://user:hunter2@/x' }),
      (err: Error) => err.message.includes('postgres://user:***@') && !err.message.includes('hunter2'),
    );
  });

  test('PostgreSQL: either scheme, pool, statement timeout, LISTEN connection', () => {
    const pg = loadConfig({ DATABASE_URL: 'postgresql://u:p@db.internal:5432/bastion?sslmode=verify-full&sslrootcert=/ca.pem' });
    assert.equal(pg.databaseUrl, 'postgresql://u:p@db.internal:5432/bastion?sslmode=verify-full&sslrootcert=/ca.pem');
    assert.deepEqual(pg.database, { poolMax: 10, statementTimeoutMs: 5000, listenUrl: pg.databaseUrl });
    const tuned = loadConfig({
      DATABASE_URL: 'postgres://u@pgbouncer:6432/bastion',
      DATABASE_POOL_MAX: '25',
      DATABASE_STATEMENT_TIMEOUT: '2s',
      DATABASE_LISTEN_URL: 'postgres://u@db:5432/bastion',
    });
    assert.deepEqual(tuned.database, { poolMax: 25, statementTimeoutMs: 2000, listenUrl: 'postgres://u@db:5432/bastion' });
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://u@db/x', DATABASE_LISTEN_URL: 'off' }).database.listenUrl, null);
    assert.equal(loadConfig({}).database.listenUrl, null, 'SQLite has no LISTEN');
    refused({ DATABASE_POOL_MAX: '0' }, 'DATABASE_POOL_MAX');
    refused({ DATABASE_URL: 'postgres://u@db/x', DATABASE_LISTEN_URL: 'sqlite:x.db' }, 'DATABASE_LISTEN_URL');
  });

  test('Origin null only when listed literally', () => {
    assert.deepEqual(loadConfig({ CORS_ORIGINS: 'null' }).corsOrigins, ['null']);
  });
});
