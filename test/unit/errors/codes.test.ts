import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError } from '../../../src/errors/app-error.ts';
import { ERRORS, ERROR_CODES } from '../../../src/errors/codes.ts';

test('every error code is snake_case with a 4xx/5xx status and a message', () => {
  assert.ok(ERROR_CODES.length >= 20);
  for (const code of ERROR_CODES) {
    assert.match(code, /^[a-z]+(_[a-z]+)*$/);
    const { status, message } = ERRORS[code];
    assert.ok(status >= 400 && status <= 599, code);
    assert.ok(message.length > 0, code);
  }
});

test('AppError carries the code, its status and a private cause', () => {
  const cause = new Error('library detail');
  const err = new AppError('token_expired', undefined, { cause });
  assert.equal(err.status, 401);
  assert.equal(err.message, ERRORS.token_expired.message);
  assert.equal(err.cause, cause);
});

test('the seed messages are exact', () => {
  assert.equal(ERRORS.missing_token.message, 'Missing Authorization Header');
  assert.equal(ERRORS.invalid_credentials.message, 'Invalid credentials');
});
