/**
 * A second test reporter for `npm test`: at the end of a pass, the files that took longest
 * (the sum of their top-level tests' durations), so the run's time can be kept in check.
 * Plain JavaScript: node loads reporters before the tsx hooks.
 */
import { relative } from 'node:path';

const SHOWN = 12;

/** @param {AsyncIterable<{ type: string, data: { nesting?: number, file?: string, details?: { duration_ms?: number } } }>} source */
export default async function* fileTimes(source) {
  /** @type {Map<string, number>} */
  const perFile = new Map();
  for await (const event of source) {
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0 || !event.data.file) continue;
    const file = relative(process.cwd(), event.data.file);
    perFile.set(file, (perFile.get(file) ?? 0) + (event.data.details?.duration_ms ?? 0));
  }
  const slowest = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, SHOWN);
  const total = [...perFile.values()].reduce((a, b) => a + b, 0);
  yield `slowest files (of ${perFile.size}, ${(total / 1000).toFixed(0)} s in all):\n`;
  for (const [file, ms] of slowest) yield `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${file}\n`;
}
