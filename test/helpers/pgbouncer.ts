/**
 * Debian's pgbouncer in front of a PostgreSQL server, in transaction pooling mode: each
 * transaction may run on a different server connection, so nothing that needs session
 * state (advisory locks, SET, LISTEN, named prepared statements) survives it. Tests point
 * Bastion at it to prove it needs none of that.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postgres.ts';
import { waitForPort } from './process.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface Pgbouncer {
  readonly port: number;
  readonly dir: string;
  /** postgres://postgres@127.0.0.1:<pgbouncer port>/<database> */
  url(database: string): string;
  /** what pgbouncer logged so far (for failure messages) */
  log(): string;
  /** kills pgbouncer, waits for it to exit, removes its directory */
  stop(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;


/** Starts pgbouncer in front of the PostgreSQL server on 127.0.0.1:`pgPort` (trust auth, user postgres). */
export async function startPgbouncer(pgPort: number): Promise<Pgbouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-pgbouncer-'));
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  const authFile = join(dir, 'userlist.txt');
  const logFile = join(dir, 'pgbouncer.log');
  const pidFile = join(dir, 'pgbouncer.pid');
  writeFileSync(authFile, '"postgres" ""\n');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=127.0.0.1 port=${pgPort}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${authFile}`,
      'pool_mode = transaction',
      'max_client_conn = 500',
      'default_pool_size = 20',
      // node-postgres sends statement_timeout (and may send these) as startup parameters,
      // which pgbouncer refuses unless told to ignore them
      'ignore_startup_parameters = extra_float_digits,statement_timeout,options',
      `logfile = ${logFile}`,
      `pidfile = ${pidFile}`,
      '',
    ].join('\n'),
  );
  // pgbouncer refuses to run as root: as root, it runs as the postgres user, which owns its files
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  chmodSync(dir, 0o755);
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', PGBOUNCER, ini]] : [PGBOUNCER, [ini]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // in the foreground pgbouncer logs to stderr and to its logfile; the file outlives a crash's pipe
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return out;
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGTERM is pgbouncer's immediate shutdown. It goes to pgbouncer itself (the pidfile):
      // runuser, told instead, waits two seconds before it passes a signal on.
      let pid = child.pid;
      try {
        pid = Number(readFileSync(pidFile, 'utf8').trim());
      } catch {
        // no pidfile yet: runuser then
      }
      try {
        if (pid !== undefined) process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        for (const p of [pid, child.pid]) {
          try {
            if (p !== undefined) process.kill(p, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }, 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort('pgbouncer', port, child, log, 10_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    dir,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    log,
    stop,
  };
}
