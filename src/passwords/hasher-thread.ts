/**
 * A password-hashing thread (see hasher.ts). It lowers its own scheduling priority first:
 * on Linux, setpriority() on "this process" applies to the calling thread only, so the
 * event loop that serves requests keeps the CPU whenever both want it.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { hashSync, verifySync } from '@node-rs/argon2';
import { ARGON2ID } from './hash.ts';
import type { HashJob, HashOutcome } from './hasher.ts';
/**
 * nice 19, the lowest priority: a hash runs at full speed on an idle core, but where the
 * event loop wants the same core the kernel gives the hash about 1.5% of it. Under a login
 * flood logins slow down, not the requests of people already logged in.
 */
const BACKGROUND = 19;

try {
  setPriority(BACKGROUND);
} catch {
  // not permitted on this system: hashing still works, at normal priority
}

parentPort!.on('message', (job: HashJob) => {
  let outcome: HashOutcome;
  try {
    if (job.op === 'hash') {
      const { memoryCost, timeCost, parallelism } = job.params;
      outcome = { value: hashSync(job.password, { memoryCost, timeCost, parallelism, algorithm: ARGON2ID }) };
    } else {
      outcome = { value: verifySafely(job.phc, job.password) };
    }
  } catch (err) {
    outcome = { error: err instanceof Error ? err.message : 'hashing failed' };
  }
  parentPort!.postMessage(outcome);
});

/** False for a wrong password and for a hash that cannot be read. */
function verifySafely(phc: string, password: string): boolean {
  try {
    return verifySync(phc, password);
  } catch {
    return false;
  }
}
