import { parseOptions, type Algorithm } from '@node-rs/argon2';

/** argon2id's cost (hashing itself runs in hasher.ts). */
export interface Argon2Params {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

// Argon2id, the variant OWASP's Password Storage Cheat Sheet recommends. The package's
// enum is a const enum (not importable under isolated modules), hence the literal.
export const ARGON2ID = 2 as Algorithm;

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
