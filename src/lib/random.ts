import { createHash, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Bytes from the CSPRNG, drawn 4 KiB at a time as Node's randomUUID does: one getrandom
 * per 128 refresh tokens instead of one each (a call cost 8 µs on the 2-core bench machine,
 * issue #10). A byte is handed out once and zeroed in the pool as it leaves.
 */
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

function takeRandom(bytes: number): Buffer {
  if (bytes > POOL_SIZE) return randomFillSync(Buffer.alloc(bytes));
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + bytes));
  pool.fill(0, offset, offset + bytes);
  offset += bytes;
  return out;
}

/** URL-safe random text carrying `bytes` bytes of entropy. */
export const randomToken = (bytes: number): string => takeRandom(bytes).toString('base64url');

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Compares two strings without leaking where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
