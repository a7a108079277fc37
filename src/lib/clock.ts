/** Time as a dependency, so tests move it instead of sleeping (STYLE.md §4.14). */
export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
  /** resolves after about `ms`; may be early or late against now(), so callers re-check */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const toSeconds = (ms: number): number => Math.floor(ms / 1000);

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  constructor(private ms = Date.now()) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  /** time passes at once: code that waits for the clock does not wait for real */
  async sleep(ms: number): Promise<void> {
    this.advance(ms);
  }
}
