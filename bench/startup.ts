/**
 * `npx tsx bench/startup.ts [runs]`: how long `bastion serve` takes from spawn to its first
 * 200 on GET /healthz, and its resident memory (VmRSS) after 2 s idle. Each way of starting
 * runs `runs` times (default 3) on a fresh temporary SQLite file, LOG_LEVEL=warn; the table
 * shows the median. Needs dist/ (`npm run build`). Linux only (/proc). Each way runs with
 * the node flags of `npm start`:
 *
 *   bundled    node dist/bin/bastion.mjs serve      (npm start, the bastion bin: one esbuild bundle, from its code cache)
 *   compiled   node dist/cli/main.js serve          (tsc's output, file by file: how npm start ran before the bundle)
 *   tsx        node --import tsx src/cli/main.ts serve   (how npm start ran before)
 *
 * STARTUP_MODES=compiled limits the run to some modes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/postgres.ts';
import { bastionNodeFlags, cpuUs, rssMb } from './lib/servers.ts';

/** STARTUP_ROOT=<another checkout> measures that one (e.g. a `git archive` of an older commit, for a before/after). */
const ROOT = process.env['STARTUP_ROOT'] ?? new URL('..', import.meta.url).pathname;
const IDLE_MS = 2000;
const TIMEOUT_MS = 60_000;

export const MODES: Record<string, { args: string[]; needs: string }> = {
  bundled: { args: [...bastionNodeFlags, join(ROOT, 'dist/bin/bastion.mjs'), 'serve'], needs: join(ROOT, 'dist/bin/bastion.mjs') },
  compiled: { args: [...bastionNodeFlags, join(ROOT, 'dist/cli/main.js'), 'serve'], needs: join(ROOT, 'dist/cli/main.js') },
  tsx: { args: [...bastionNodeFlags, '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve'], needs: join(ROOT, 'src/cli/main.ts') },
};

export interface StartupSample {
  /** spawn to the first 200 from /healthz */
  readonly firstOkMs: number;
  /** CPU time (user + system) the process used up to that 200: less noisy than wall time on a busy machine */
  readonly cpuMs: number;
  /** VmRSS after IDLE_MS (or idleMs) without requests */
  readonly rssMb: number;
}

/** user + system CPU time of a process in ms */
export const cpuMs = (pid: number): number => cpuUs(pid) / 1000;

/** One start: spawn, poll /healthz, wait idle, read RSS, stop. */
export async function measureStartup(args: string[], env: Record<string, string> = {}, idleMs = IDLE_MS): Promise<StartupSample> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-startup-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/healthz`;
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${join(dir, 'bastion.db')}`, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    let firstOkMs: number | null = null;
    let cpu = 0;
    while (firstOkMs === null) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${stderr}`);
      if (performance.now() - started > TIMEOUT_MS) throw new Error(`no 200 within ${TIMEOUT_MS} ms: ${stderr}`);
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        if (res.status === 200) {
          firstOkMs = performance.now() - started;
          cpu = cpuMs(child.pid!);
        }
      } catch {
        // not listening yet
      }
      if (firstOkMs === null) await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, idleMs));
    return { firstOkMs, cpuMs: cpu, rssMb: rssMb(child.pid!) };
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(hard);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const runs = Number(process.argv[2] ?? 3);
  const wanted = (process.env['STARTUP_MODES'] ?? Object.keys(MODES).join(',')).split(',');
  const rows: string[][] = [['mode', 'first 200 (ms)', 'CPU to first 200 (ms)', 'idle RSS (MB)', 'runs']];
  for (const name of wanted) {
    const mode = MODES[name];
    if (!mode) throw new Error(`unknown mode ${name}; one of ${Object.keys(MODES).join(', ')}`);
    if (!existsSync(mode.needs)) {
      rows.push([name, `missing ${mode.needs}`, '', '', '']);
      continue;
    }
    const samples: StartupSample[] = [];
    for (let i = 0; i < runs; i += 1) samples.push(await measureStartup(mode.args));
    /** median (min–max) */
    const summary = (xs: number[]) => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
    rows.push([
      name,
      summary(samples.map((s) => s.firstOkMs)),
      summary(samples.map((s) => s.cpuMs)),
      summary(samples.map((s) => s.rssMb)),
      String(runs),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
}
