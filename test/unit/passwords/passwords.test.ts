import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, needsRehash, verifyPassword } from '../../../src/passwords/hash.ts';
import { checkPassword } from '../../../src/passwords/policy.ts';

const LOW = { memoryCost: 256, timeCost: 1, parallelism: 1 };

test('argon2id hashes verify, wrong passwords do not', async () => {
  const phc = await hashPassword('correct horse', LOW);
  assert.match(phc, /^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
  assert.equal(await verifyPassword(phc, 'correct horse'), true);
  assert.equal(await verifyPassword(phc, 'correct horsE'), false);
  assert.equal(await verifyPassword('not a hash', 'x'), false);
});

test('the same password hashes differently each time (salted)', async () => {
  assert.notEqual(await hashPassword('same', LOW), await hashPassword('same', LOW));
});

test('needsRehash when the parameters change', async () => {
  const phc = await hashPassword('pw', LOW);
  assert.equal(needsRehash(phc, LOW), false);
  assert.equal(needsRehash(phc, { ...LOW, memoryCost: 512 }), true);
  assert.equal(needsRehash(phc, { ...LOW, timeCost: 2 }), true);
  assert.equal(needsRehash('garbage', LOW), true);
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
