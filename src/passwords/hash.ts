import type { Algorithm } from '@node-rs/argon2';

/** argon2id's cost (hashing itself runs in hasher.ts). */
export interface Argon2Params {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

// Argon2id, the variant OWASP's Password Storage Cheat Sheet recommends. The package's
// enum is a const enum (not importable under isolated modules), hence the literal.
export const ARGON2ID = 2 as Algorithm;

/**
 * The parameters of an argon2id PHC string of the current version (0x13):
 * `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`. Read here rather than by
 * the package, so that the server's main thread never loads the native addon (hashing runs
 * on threads of its own): ~14 ms of start-up and its memory.
 */
const ARGON2ID_PHC = /^\$argon2id\$v=19\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** True when the stored hash was made otherwise than today (another variant, version or cost): rehash on login. */
export function needsRehash(phc: string, params: Argon2Params): boolean {
  const m = ARGON2ID_PHC.exec(phc);
  return !m || Number(m[1]) !== params.memoryCost || Number(m[2]) !== params.timeCost || Number(m[3]) !== params.parallelism;
}
