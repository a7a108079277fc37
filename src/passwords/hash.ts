import { hash, parseOptions, verify, type Algorithm } from '@node-rs/argon2';

export interface Argon2Params {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/**
 * At most `max` argon2 computations at once, the rest wait their turn in order. argon2
 * runs on libuv's pool (4 threads): a login flood would otherwise put 4 hashes on the
 * cores at once and starve the event loop that serves every other request. With one
 * core left to the loop (ARGON2_CONCURRENCY=auto), logins queue instead (OWASP DoS
 * Cheat Sheet: bound the expensive operations).
 */
export class HashSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on
      else this.running -= 1;
    }
  }
}

// Argon2id, the variant OWASP's Password Storage Cheat Sheet recommends. The package's
// enum is a const enum (not importable under isolated modules), hence the literal.
const ARGON2ID = 2 as Algorithm;

/** argon2id, run on the libuv pool so the event loop keeps serving requests. */
export function hashPassword(password: string, params: Argon2Params): Promise<string> {
  const { memoryCost, timeCost, parallelism } = params;
  return hash(password, { memoryCost, timeCost, parallelism, algorithm: ARGON2ID });
}

/** False for a wrong password and for a hash that cannot be read. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}

/** True when the stored hash was made with other parameters than today's: rehash on login. */
export function needsRehash(phc: string, params: Argon2Params): boolean {
  try {
    const o = parseOptions(phc);
    return (
      o.algorithm !== ARGON2ID ||
      o.memoryCost !== params.memoryCost ||
      o.timeCost !== params.timeCost ||
      o.parallelism !== params.parallelism
    );
  } catch {
    return true;
  }
}
