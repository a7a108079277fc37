/** Child processes the tests start (servers, nginx, pgbouncer): wait for their port, stop them. */
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(hard);
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; fails if `child` exits first. */
export async function waitForPort(name: string, port: number, child: ChildProcess, describe: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${describe()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port} within ${timeoutMs} ms:\n${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
