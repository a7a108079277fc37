/** Starts the real server as a child process on a free loopback port (real HTTP, real SQLite file). */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { FAST_ARGON2, tempDir } from './app.ts';
import { testDatabaseUrl } from './db.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'src/cli/main.ts');

export interface RunningServer {
  readonly url: string;
  readonly dir: string;
  readonly databaseUrl: string;
  /** everything the server printed so far */
  output(): string;
  stop(): Promise<void>;
}

/** `bastion <args>` through tsx, as `npm run bastion` does. */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...FAST_ARGON2, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export async function startServer(env: Record<string, string> = {}, args: string[] = []): Promise<RunningServer> {
  const { dir, remove } = tempDir('bastion-e2e-');
  const databaseUrl = env['DATABASE_URL'] ?? testDatabaseUrl(dir);
  const child = spawnCli(['serve', ...args], { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATABASE_URL: databaseUrl, ...env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const check = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    dir,
    databaseUrl,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      remove();
    },
  };
}

/** Runs a CLI command to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end(stdin ?? '');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  return { code, stdout, stderr };
}
