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
/** nice 10: the kernel then gives this thread about a tenth of a core that the event loop also wants */
const BACKGROUND = 10;

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
