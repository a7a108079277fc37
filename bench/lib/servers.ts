/** Servers the bench starts as child processes on loopback, and what it reads of them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/postgres.ts';
import { stopProcess } from '../../test/helpers/process.ts';
import { startNodeFlags } from '../../scripts/bundle.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;

export interface Server {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** ms from spawn to the first 200 on the readiness path */
  readonly firstOkMs: number;
  stop(): Promise<void>;
}

/**
 * Spawns `node <args>` with PORT set, waits for a 200 on `readyPath`. A TypeScript entry
 * (the peers) runs through tsx, which costs only at load; Bastion runs from dist/.
 */
export async function startServer(name: string, args: string[], env: Record<string, string>, readyPath = '/api/unsecure'): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const argv = args[0]!.endsWith('.ts') ? ['--import', 'tsx', ...args] : args;
  const started = performance.now();
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const stop = () => stopProcess(child);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr}`);
    if (performance.now() - started > 60_000) {
      await stop();
      throw new Error(`${name} did not answer within 60 s: ${stderr}`);
    }
    try {
      const res = await fetch(url + readyPath);
      await res.arrayBuffer();
      if (res.status === 200) return { name, url, child, firstOkMs: performance.now() - started, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** user + system CPU time of a process in µs (/proc/<pid>/stat fields 14 and 15, clock ticks of 10 ms). */
export function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** VmRSS of a process in MB (Linux /proc). */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** The node flags `npm start` runs Bastion with (package.json): the bench measures Bastion as it is deployed. */
export const bastionNodeFlags: string[] = startNodeFlags(ROOT);

/** BENCH_BASTION_ROOT=<another checkout, built> measures that Bastion instead (a before/after). */
export const bastionMain = ((root: string) => {
  const bundled = join(root, 'dist/bin/bastion.mjs');
  return existsSync(bundled) ? bundled : join(root, 'dist/cli/main.js'); // checkouts from before the bundle
})(process.env['BENCH_BASTION_ROOT'] ?? ROOT);
