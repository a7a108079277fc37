import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { childRefreshToken, newRefreshToken, parseRefreshToken, refreshSecretMatches } from '../../../src/tokens/refresh.ts';

test('refresh tokens are <id>.<secret> with a 256-bit secret, stored only as a hash', () => {
  const t = newRefreshToken();
  assert.equal(t.token, `${t.id}.${t.secret}`);
  assert.equal(Buffer.from(t.secret, 'base64url').length, 32);
  assert.match(t.secretHash, /^[0-9a-f]{64}$/);
  assert.ok(!t.secretHash.includes(t.secret));
  assert.deepEqual(parseRefreshToken(t.token), { id: t.id, secret: t.secret });
  assert.ok(refreshSecretMatches(t.secret, t.secretHash));
  assert.ok(!refreshSecretMatches(`${t.secret.slice(0, -1)}A`, t.secretHash) || t.secret.endsWith('A'));
});

test('two tokens never collide', () => {
  const seen = new Set(Array.from({ length: 1000 }, () => newRefreshToken().token));
  assert.equal(seen.size, 1000);
});

test('malformed refresh tokens do not parse', () => {
  const t = newRefreshToken();
  for (const bad of ['', 'abc', `${t.id}`, `${t.id}.`, `.${t.secret}`, `${t.id}.${t.secret}.x`, `${t.id}.${t.secret}!`, ` ${t.token}`]) {
    assert.equal(parseRefreshToken(bad), null, bad);
  }
});

test('a successor secret is derived from the parent secret and the successor id, and only from them', () => {
  const parent = newRefreshToken();
  const child = childRefreshToken(parent.secret);
  assert.deepEqual(parseRefreshToken(child.token), { id: child.id, secret: child.secret }, 'same format as any refresh token');
  assert.equal(Buffer.from(child.secret, 'base64url').length, 32);
  assert.ok(refreshSecretMatches(child.secret, child.secretHash));
  const expected = createHmac('sha256', parent.secret).update(`bastion/refresh-child/v1:${child.id}`).digest('base64url');
  assert.equal(child.secret, expected);
  assert.deepEqual(childRefreshToken(parent.secret, child.id), child, 'derived again: the same token');
  assert.notEqual(childRefreshToken(newRefreshToken().secret, child.id).secret, child.secret, 'another parent: another secret');
  assert.notEqual(childRefreshToken(parent.secret).id, child.id, 'successor ids stay random');
  assert.notEqual(childRefreshToken(parent.secret, newRefreshToken().id).secret, child.secret);
});
