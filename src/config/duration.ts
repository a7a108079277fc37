/** Durations as people write them: "20s", "15m", "14d", "500ms", or bare seconds. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+)(ms|s|m|h|d)?$/;

/** Parses a duration to milliseconds, or returns null when the text is not one. */
export function parseDurationMs(text: string): number | null {
  const match = PATTERN.exec(text.trim());
  if (!match) return null;
  const unit = (match[2] ?? 's') as keyof typeof UNIT_MS;
  const ms = Number(match[1]) * UNIT_MS[unit];
  return Number.isSafeInteger(ms) ? ms : null;
}
