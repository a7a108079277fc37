/** Starts the real server as a child process on a free loopback port (real HTTP, real SQLite file). */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { FAST_ARGON2, tempDir } from './app.ts';
import { testDatabaseUrl } from './db.ts';
import { stopProcess } from './process.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;
/** The bundled bin when `npm test` provides it (fresh dist/bin), else the sources through tsx. */
export const CLI = process.env['BASTION_TEST_CLI'] ?? join(ROOT, 'src/cli/main.ts');

export interface RunningServer {
  readonly url: string;
  readonly dir: string;
  readonly databaseUrl: string;
  /** everything the server printed so far */
  output(): string;
  stop(): Promise<void>;
}

/** `bastion <args>`: `node dist/bin/bastion.mjs`, as `npm run bastion` does (or the sources through tsx). */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [...(CLI.endsWith('.ts') ? ['--import', 'tsx'] : []), CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...FAST_ARGON2, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A start may take this long: each process loads the whole app through tsx, slow on a busy machine. */
const START_TIMEOUT_MS = 120_000;

export interface LaunchedServer {
  readonly url: string;
  readonly child: ChildProcess;
  /** everything the server printed so far */
  output(): string;
  /** SIGTERM (SIGKILL after 10 s); resolves when the process has exited */
  stop(): Promise<void>;
}


/**
 * `bastion serve` on a free loopback port (http, or https under TLS_CERT). A process that does not start in time is
 * killed, never left running (it would keep the test file from ever exiting).
 */
export async function launchServer(env: Record<string, string>, args: string[] = []): Promise<LaunchedServer> {
  const child = spawnCli(['serve', ...args], { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start within ${START_TIMEOUT_MS} ms:\n${out}`)), START_TIMEOUT_MS);
      child.stdout!.on('data', () => {
        const m = /Server listening at (https?:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${out}`));
      });
    });
    return { url, child, output: () => out, stop: () => stopProcess(child) };
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
}

/** launchServer in a temporary directory of its own, on that directory's test database unless `env` names one. */
export async function startServer(env: Record<string, string> = {}, args: string[] = []): Promise<RunningServer> {
  const { dir, remove } = tempDir('bastion-e2e-');
  const databaseUrl = env['DATABASE_URL'] ?? testDatabaseUrl(dir);
  try {
    const server = await launchServer({ DATABASE_URL: databaseUrl, ...env }, args);
    return {
      ...server,
      dir,
      databaseUrl,
      stop: async () => {
        await server.stop();
        remove();
      },
    };
  } catch (err) {
    remove();
    throw err;
  }
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Each spawn loads the whole app (tests run concurrently; the processes queue here, at most
 * this many at once, so a busy machine does not push them past their timeouts).
 */
const MAX_PROCESSES = Math.max(2, availableParallelism());
let runningCli = 0;
const cliQueue: Array<() => void> = [];
async function cliSlot(): Promise<() => void> {
  if (runningCli >= MAX_PROCESSES) await new Promise<void>((r) => cliQueue.push(r));
  else runningCli += 1;
  return () => {
    const next = cliQueue.shift();
    if (next) next();
    else runningCli -= 1;
  };
}

/**
 * Runs `bastion <args>` to completion, with `stdin` as its input. A command that does not
 * exit by itself (say, `serve` listening after all) is killed and the call fails, instead
 * of the run hanging on a stray process.
 */
export async function runCli(args: string[], env: Record<string, string> = {}, stdin = '', timeoutMs = 120_000): Promise<CliResult> {
  const release = await cliSlot();
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.on('error', () => undefined); // the command may exit before reading stdin
  child.stdin!.end(stdin);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<CliResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`bastion ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
    });
  } finally {
    clearTimeout(timer);
    release();
  }
}
