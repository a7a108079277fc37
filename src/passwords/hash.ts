import { hash, parseOptions, verify, type Algorithm } from '@node-rs/argon2';

export interface Argon2Params {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

// Argon2id, the variant OWASP's Password Storage Cheat Sheet recommends. The package's
// enum is a const enum (not importable under isolated modules), hence the literal.
const ARGON2ID = 2 as Algorithm;

/** argon2id, run on the libuv pool so the event loop keeps serving requests. */
export function hashPassword(password: string, params: Argon2Params): Promise<string> {
  return hash(password, { ...params, algorithm: ARGON2ID });
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
