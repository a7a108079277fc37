import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { needsRehash } from '../../../src/passwords/hash.ts';
import { PasswordHasher } from '../../../src/passwords/hasher.ts';
import { checkPassword } from '../../../src/passwords/policy.ts';

const LOW = { memoryCost: 256, timeCost: 1, parallelism: 1 };
const hasher = new PasswordHasher(LOW, 1, 0);
after(() => hasher.close());

test('argon2id hashes verify, wrong passwords do not', async () => {
  const phc = await hasher.hash('correct horse');
  assert.match(phc, /^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
  assert.equal(await hasher.verify(phc, 'correct horse'), true);
  assert.equal(await hasher.verify(phc, 'correct horsE'), false);
  assert.equal(await hasher.verify('not a hash', 'x'), false);
});

test('the same password hashes differently each time (salted)', async () => {
  assert.notEqual(await hasher.hash('same'), await hasher.hash('same'));
});

test('needsRehash when the parameters change', async () => {
  const phc = await hasher.hash('pw');
  assert.equal(needsRehash(phc, LOW), false);
  assert.equal(needsRehash(phc, { ...LOW, memoryCost: 512 }), true);
  assert.equal(needsRehash(phc, { ...LOW, timeCost: 2 }), true);
  assert.equal(needsRehash('garbage', LOW), true);
  // another variant or version of the same cost is rehashed too
  assert.equal(needsRehash(phc.replace('$argon2id$', '$argon2i$'), LOW), true);
  assert.equal(needsRehash(phc.replace('$v=19$', '$v=16$'), LOW), true);
});

/**
 * Field `n` (1-based, as in proc(5)) of /proc/self/task/<tid>/stat for each thread of this
 * process. A thread may end between the listing and the read (the hasher ends idle
 * threads): it is skipped.
 */
const threadStat = (n: number) =>
  readdirSync('/proc/self/task').flatMap((tid) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    // fields from 3 on follow the command name's closing parenthesis
    return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n - 3])];
  });
/** each thread's nice value (field 19) */
const threadNices = () => threadStat(19);
/** each thread's scheduling policy (field 41: 0 normal, 5 SCHED_IDLE) */
const threadPolicies = () => threadStat(41);
const SCHED_IDLE = 5;

test('hashing runs on its own threads at a lower priority, at most `threads` at once, in order', async () => {
  const two = new PasswordHasher(LOW, 2, 19);
  try {
    const before = threadNices().filter((n) => n === 19).length;
    const jobs = Array.from({ length: 7 }, (_, i) => two.hash(`password ${i}`));
    const phcs = await Promise.all(jobs);
    assert.equal(new Set(phcs).size, 7, 'every job answered with its own hash');
    for (const [i, phc] of phcs.entries()) assert.equal(await two.verify(phc, `password ${i}`), true, `job ${i} hashed its own password`);
    // the event loop's thread keeps its priority; the hashing threads run at nice 19
    assert.equal(threadNices()[0], 0, 'the main thread is untouched');
    assert.equal(threadNices().filter((n) => n === 19).length - before, 2, 'two hashing threads at nice 19, no more');
  } finally {
    await two.close();
  }
  await assert.rejects(two.hash('after close'), /closed/);
});

test('ARGON2_NICE=idle: the hashing thread moves to SCHED_IDLE at nice 19; the event loop keeps its priority', async () => {
  const hasher = new PasswordHasher(LOW, 1, 'idle');
  try {
    const before = threadPolicies().filter((p) => p === SCHED_IDLE).length;
    const phc = await hasher.hash('password');
    assert.equal(await hasher.verify(phc, 'password'), true);
    // chrt runs beside the thread's first job: wait for it
    for (const deadline = Date.now() + 10_000; threadPolicies().filter((p) => p === SCHED_IDLE).length === before; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > deadline) assert.fail(`no hashing thread is SCHED_IDLE: policies ${threadPolicies().join(',')}`);
    }
    assert.equal(threadPolicies().filter((p) => p === SCHED_IDLE).length - before, 1, 'one thread, the hasher\'s');
    assert.equal(threadPolicies()[0], 0, 'the main thread keeps the normal policy');
    assert.equal(threadNices()[0], 0, 'and its nice value');
    assert.ok(threadNices().includes(19), 'the hashing thread is at nice 19 too');
  } finally {
    await hasher.close();
  }
});

test('an idle hashing thread is ended, and the next job starts one again', async () => {
  const nice = 17; // a value no other thread of this process has: its threads are the hasher's
  const threads = () => threadNices().filter((n) => n === nice).length;
  const waitFor = async (count: number) => {
    for (const deadline = Date.now() + 20_000; threads() !== count; await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > deadline) assert.fail(`expected ${count} hashing threads, there are ${threads()}`);
    }
  };
  const hasher = new PasswordHasher(LOW, 1, nice, 200);
  try {
    const phc = await hasher.hash('password one');
    assert.equal(threads(), 1, 'one thread while it works');
    await waitFor(0);
    assert.equal(await hasher.verify(phc, 'password one'), true, 'a job after the thread ended is answered');
    assert.equal(threads(), 1);
    await waitFor(0);
  } finally {
    await hasher.close();
  }
});

test('password policy: length 8..1024, not the username or email', () => {
  assert.deepEqual(checkPassword('long enough'), []);
  assert.deepEqual(checkPassword('short'), ['must be at least 8 characters']);
  assert.deepEqual(checkPassword('x'.repeat(1025)), ['must be at most 1024 characters']);
  assert.deepEqual(checkPassword('Alice12345', { username: 'alice12345' }), ['must not be the username']);
  assert.deepEqual(checkPassword('bob@example.com', { email: 'BOB@example.com' }), ['must not be the email address']);
  assert.deepEqual(checkPassword('ab', { username: 'ab' }), ['must be at least 8 characters', 'must not be the username']);
  // length counts characters, not UTF-16 units
  assert.deepEqual(checkPassword('😀😀😀😀😀😀😀😀'), []);
});
