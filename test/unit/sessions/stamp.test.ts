/**
 * Issue #8 part 5: after "log out everywhere" the user's stamp is the next whole second,
 * and issuance waits for it. A timer may fire early against the wall clock, so
 * waitForStamp must ask the clock again after every sleep instead of trusting the sleep.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { systemClock, type Clock } from '../../../src/lib/clock.ts';
import { waitForStamp } from '../../../src/sessions/revocation.ts';

/** A clock whose sleep(ms) wakes `shortfall(ms)` ms too early, recording each sleep. */
class EarlyClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(
    private ms: number,
    private readonly shortfall: (ms: number) => number,
  ) {}
  now(): number {
    return this.ms;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.ms += ms - this.shortfall(ms);
  }
}

const START = 1_700_000_000_400;
const STAMP = 1_700_000_001_000;

describe('waitForStamp', () => {
  const early: Array<[string, (ms: number) => number]> = [
    ['1 ms early (sleep advances ms - 1)', (ms) => (ms > 1 ? 1 : 0)],
    ['halfway (sleep advances ms / 2)', (ms) => Math.floor(ms / 2)],
  ];
  for (const [name, shortfall] of early) {
    test(`a sleep that wakes ${name}: returns only once now() has reached the stamp`, async () => {
      const clock = new EarlyClock(START, shortfall);
      await waitForStamp(STAMP, clock);
      assert.ok(clock.now() >= STAMP, `returned at ${clock.now()}, ${STAMP - clock.now()} ms before the stamp`);
      assert.equal(clock.now(), STAMP, 'and no later than needed');
      assert.ok(clock.sleeps.length > 1, 'the early wake was noticed and slept off');
      assert.equal(clock.sleeps[0], STAMP - START);
    });
  }

  test('a stamp already passed needs no sleep; one absurdly far ahead (a clock badly off) is not waited for', async () => {
    const clock = new EarlyClock(STAMP, () => 0);
    await waitForStamp(STAMP, clock);
    await waitForStamp(STAMP - 1, clock);
    await waitForStamp(STAMP + 60_000, clock);
    assert.deepEqual(clock.sleeps, []);
  });

  test('with the real clock: returns at or after the next whole second', async () => {
    const stamp = (Math.floor(Date.now() / 1000) + 1) * 1000;
    await waitForStamp(stamp, systemClock);
    assert.ok(Date.now() >= stamp, `${stamp - Date.now()} ms early`);
    assert.ok(Math.floor(Date.now() / 1000) >= stamp / 1000, 'a token issued now has iat >= the stamp');
  });
});
