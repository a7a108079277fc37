/** Builds Bastion for tests: a real SQLite file in a temp dir, real argon2id at a low cost. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildOptions } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config/load.ts';
import { testDatabaseUrl } from './db.ts';
import { freePort } from './postgres.ts';

/**
 * argon2id with the smallest honest cost: the algorithm stays, only the cost drops (STYLE.md
 * §4.15). At normal CPU priority: the test machine is busy with other test files, where a
 * hashing thread at the default priority (SCHED_IDLE) would wait its turn for seconds
 * (test/unit/passwords checks the priorities).
 */
export const FAST_ARGON2 = { ARGON2_MEMORY: '256', ARGON2_ITERATIONS: '1', ARGON2_PARALLELISM: '1', ARGON2_NICE: '0' };

export function tempDir(prefix = 'bastion-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function testConfig(env: Record<string, string> = {}, dir = tempDir().dir): Config {
  return loadConfig({
    DATABASE_URL: testDatabaseUrl(dir),
    LOG_LEVEL: 'silent',
    OUTBOX_DIR: join(dir, 'outbox'),
    ...FAST_ARGON2,
    ...env,
  });
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly dir: string;
  close(): Promise<void>;
}

export async function buildTestApp(env: Record<string, string> = {}, options: BuildOptions = {}): Promise<TestApp> {
  const { dir, remove } = tempDir();
  const config = testConfig(env, dir);
  const app = await buildApp(config, options);
  return {
    app,
    config,
    dir,
    close: async () => {
      await app.close();
      remove();
    },
  };
}

/** Signs up and logs in through the API; returns the token pair. */
/**
 * buildTestApp listening on a free loopback port, with PUBLIC_URL (so the issuer and the
 * discovery document) naming that address: Bastion as other services reach it.
 */
export async function listenTestApp(env: Record<string, string> = {}): Promise<{ t: TestApp; url: string }> {
  for (let attempt = 0; ; attempt += 1) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const t = await buildTestApp({ PUBLIC_URL: url, ...env });
    try {
      await t.app.listen({ host: '127.0.0.1', port });
      return { t, url };
    } catch (err) {
      await t.close();
      // another process took the port between freePort and listen: try another
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
}

export async function signupAndLogin(app: FastifyInstance, username = 'alice', password = 'correct horse battery') {
  const signup = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username, password } });
  if (signup.statusCode !== 201) throw new Error(`signup failed: ${signup.body}`);
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
  if (login.statusCode !== 200) throw new Error(`login failed: ${login.body}`);
  return login.json() as { access_token: string; refresh_token: string; expires_in: number; token_type: string };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
