/**
 * Account recovery and email confirmation end to end: a real SMTP server in this process
 * receives what nodemailer sends, links are read out of the received mail, and the flows
 * are driven through app.inject(). Outbox mode writes files instead.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { FORGOT_MESSAGE } from '../../src/http/routes/recovery.ts';
import { smtpOptions } from '../../src/mail/mailer.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { bearer, buildTestApp, tempDir, type TestApp } from '../helpers/app.ts';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new passphrase';
const PUBLIC_URL = 'https://bastion.example';
const TOKEN = /[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/;

interface Received {
  readonly to: string[];
  readonly subject: string;
  readonly text: string;
}

/** The text/plain part of a MIME message, transfer encoding undone. */
function plainText(raw: string): string {
  const head = /Content-Type: text\/plain[^]*?\r?\n\r?\n/i.exec(raw);
  assert.ok(head, `no text/plain part in:\n${raw}`);
  const start = head.index + head[0].length;
  const end = raw.indexOf('\n--', start);
  let body = raw.slice(start, end === -1 ? undefined : end);
  const encoding = /Content-Transfer-Encoding:\s*([\w-]+)/i.exec(head[0])?.[1]?.toLowerCase();
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    body = Buffer.from(bytes, 'latin1').toString('utf8');
  } else if (encoding === 'base64') {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return body;
}

/** A real SMTP server on a free loopback port, collecting every message it accepts. */
async function startSmtp(): Promise<{ port: number; received: Received[]; stop: () => Promise<void> }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: /^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '',
          text: plainText(raw),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, received, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Log lines as pino writes them. */
function captureLogs() {
  const lines: string[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(line) } };
}

describe('account recovery over a real SMTP server', () => {
  const clock = new ManualClock();
  const logs = captureLogs();
  /** every token and password used here: none may reach a log line */
  const secrets = new Set<string>([PASSWORD, NEW_PASSWORD]);
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let t: TestApp;

  before(async () => {
    smtp = await startSmtp();
    t = await buildTestApp(
      { SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, PUBLIC_URL, LOG_LEVEL: 'info', AUTH_RATE_LIMIT: '100000' },
      { clock, logStream: logs.stream },
    );
  });
  after(async () => {
    await t.close();
    await smtp.stop();
  });

  const idle = () => t.app.services.recovery.idle();
  const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url, payload, headers });
  const signup = async (username: string, email?: string) => {
    const res = await post('/api/auth/signup', { username, password: PASSWORD, ...(email ? { email } : {}) });
    assert.equal(res.statusCode, 201, res.body);
    await idle(); // the confirmation mail goes out after the response
    return (res.json() as { id: string }).id;
  };
  const login = async (username: string, password = PASSWORD) => {
    const res = await post('/api/auth/login', { username, password });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { access_token: string; refresh_token: string };
  };
  const mailsTo = (address: string, subject?: string) =>
    smtp.received.filter((m) => m.to.includes(address) && (subject === undefined || m.subject === subject));
  /** The token in the newest mail to `address` with that subject, checked to sit in a PUBLIC_URL link to `page`. */
  const tokenFrom = (address: string, subject: string, page: 'reset-password' | 'confirm-email') => {
    const mail = mailsTo(address, subject).at(-1);
    assert.ok(mail, `no "${subject}" mail to ${address}`);
    const link = new RegExp(`${PUBLIC_URL.replace(/\./g, '\\.')}/#/${page}\\?token=(${TOKEN.source})`).exec(mail.text);
    assert.ok(link, `no ${page} link in:\n${mail.text}`);
    secrets.add(link[1]!);
    return link[1]!;
  };
  const resetToken = (address: string) => tokenFrom(address, 'Reset your Bastion password', 'reset-password');
  const confirmToken = (address: string) => tokenFrom(address, 'Confirm your email for Bastion', 'confirm-email');
  const audits = async (userId: string, type: string) =>
    (await t.app.services.audit.list({ limit: 50, userId, type })).length;
  const user = (id: string) => t.app.services.store.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();

  test('forgot-password answers alike for existing, unknown and disabled accounts; only the existing one gets a mail', async () => {
    const aliceId = await signup('alice', 'alice@example.com');
    const doraId = await signup('dora', 'dora@example.com');
    await t.app.services.users.setDisabled(doraId, true);
    const before = smtp.received.length;

    const responses = [
      await post('/api/auth/forgot-password', { email: 'Alice@Example.com' }),
      await post('/api/auth/forgot-password', { email: 'nobody@example.com' }),
      await post('/api/auth/forgot-password', { username: 'nobody' }),
      await post('/api/auth/forgot-password', { username: 'dora' }),
    ];
    // Nothing has been sent when the answers are out: the work happens after responding,
    // so neither the answer nor its timing depends on the account.
    assert.equal(smtp.received.length, before);
    const comparable = (res: (typeof responses)[number]) => ({
      status: res.statusCode,
      body: res.body,
      // x-request-id is random for every request, whatever the account
      headers: Object.fromEntries(Object.entries(res.headers).filter(([k]) => k !== 'date' && k !== 'x-request-id' && !k.startsWith('x-ratelimit'))),
    });
    for (const res of responses) assert.deepEqual(comparable(res), comparable(responses[0]!));
    assert.equal(responses[0]!.statusCode, 202);
    assert.deepEqual(responses[0]!.json(), { message: FORGOT_MESSAGE });

    await idle();
    const sent = smtp.received.slice(before);
    assert.equal(sent.length, 1, `one mail, got: ${sent.map((m) => `${m.to} ${m.subject}`).join(', ')}`);
    assert.deepEqual(sent[0]!.to, ['alice@example.com']);
    assert.equal(sent[0]!.subject, 'Reset your Bastion password');
    resetToken('alice@example.com');

    assert.equal(await audits(aliceId, 'password_reset_requested'), 1);
    const doraEvents = await t.app.services.audit.list({ limit: 50, userId: doraId, type: 'password_reset_requested' });
    assert.deepEqual(doraEvents.map((e) => e.details), [{ outcome: 'disabled' }]);
    assert.equal((await t.app.services.audit.list({ limit: 50, type: 'password_reset_requested' })).length, 2);

    const neither = await post('/api/auth/forgot-password', {});
    assert.equal(neither.statusCode, 400);
    assert.equal(neither.json().code, 'validation_failed');
  });

  test('a reset link works once, ends every session and access token, and replaces the password', async () => {
    const erinId = await signup('erin', 'erin@example.com');
    const sessions = [await login('erin'), await login('erin')];
    assert.equal((await post('/api/auth/forgot-password', { email: 'erin@example.com' })).statusCode, 202);
    await idle();
    const token = resetToken('erin@example.com');

    const weak = await post('/api/auth/reset-password', { token, new_password: 'erin' });
    assert.equal(weak.statusCode, 400);
    assert.equal(weak.json().code, 'weak_password');
    assert.ok((weak.json().details.reasons as string[]).length > 0);

    // the refused attempt did not spend the link
    assert.equal((await post('/api/auth/reset-password', { token, new_password: NEW_PASSWORD })).statusCode, 204);
    const again = await post('/api/auth/reset-password', { token, new_password: `${NEW_PASSWORD}!` });
    assert.equal(again.statusCode, 400);
    assert.equal(again.json().code, 'invalid_one_time_token');

    for (const pair of sessions) {
      const me = await t.app.inject({ url: '/api/auth/me', headers: bearer(pair.access_token) });
      assert.equal(me.statusCode, 401);
      assert.equal(me.json().code, 'token_revoked');
      assert.equal((await post('/api/auth/refresh', { refresh_token: pair.refresh_token })).statusCode, 401);
    }

    clock.advance(1000); // tokens minted in the revocation's second would be void too
    const old = await post('/api/auth/login', { username: 'erin', password: PASSWORD });
    assert.equal(old.statusCode, 401);
    assert.equal(old.json().code, 'invalid_credentials');
    const fresh = await login('erin', NEW_PASSWORD);
    assert.equal((await t.app.inject({ url: '/api/auth/me', headers: bearer(fresh.access_token) })).statusCode, 200);

    assert.equal(await audits(erinId, 'password_reset'), 1);
    await idle();
    assert.equal(mailsTo('erin@example.com', 'Your Bastion password was reset').length, 1);
  });

  test('two concurrent uses of one reset link: exactly one wins', async () => {
    await signup('mona', 'mona@example.com');
    await post('/api/auth/forgot-password', { username: 'mona' });
    await idle();
    const token = resetToken('mona@example.com');
    // both pass the first look-up, then race for the guarded update while argon2 hashes
    const results = await Promise.all(
      ['first concurrent password', 'second concurrent password'].map((p) => post('/api/auth/reset-password', { token, new_password: p })),
    );
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [204, 400]);
    const winner = results[0]!.statusCode === 204 ? 'first concurrent password' : 'second concurrent password';
    const loser = winner.startsWith('first') ? 'second concurrent password' : 'first concurrent password';
    clock.advance(1000);
    assert.equal((await post('/api/auth/login', { username: 'mona', password: loser })).statusCode, 401);
    assert.equal((await post('/api/auth/login', { username: 'mona', password: winner })).statusCode, 200);
  });

  test('expired, tampered, unknown, wrong-purpose and superseded tokens are refused', async () => {
    await signup('frank', 'frank@example.com');
    const refused = async (url: string, token: string) => {
      const body = url.endsWith('reset-password') ? { token, new_password: NEW_PASSWORD } : { token };
      const res = await post(url, body);
      assert.equal(res.statusCode, 400, `${url} ${res.body}`);
      return res.json().code as string;
    };
    const reset = '/api/auth/reset-password';
    const confirm = '/api/auth/confirm-email';
    const { resetTtlSec } = t.config.mail;

    await post('/api/auth/forgot-password', { username: 'frank' });
    await idle();
    const first = resetToken('frank@example.com');
    const [id, secret] = first.split('.') as [string, string];
    const flip = (s: string) => s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A');
    assert.equal(await refused(reset, `${id}.${flip(secret)}`), 'invalid_one_time_token');
    assert.equal(await refused(reset, `${flip(id)}.${secret}`), 'invalid_one_time_token');
    assert.equal(await refused(reset, 'not-a-token'), 'invalid_one_time_token');
    assert.equal(await refused(reset, 'x'.repeat(500)), 'validation_failed');
    // a reset link cannot confirm an email, nor a confirmation link reset a password
    assert.equal(await refused(confirm, first), 'invalid_one_time_token');
    assert.equal(await refused(reset, confirmToken('frank@example.com')), 'invalid_one_time_token');

    clock.advance(resetTtlSec * 1000 + 1000);
    assert.equal(await refused(reset, first), 'invalid_one_time_token');

    // a link used just before it expires still works: the refusal above was the expiry
    await post('/api/auth/forgot-password', { username: 'frank' });
    await idle();
    const second = resetToken('frank@example.com');
    assert.notEqual(second, first);
    clock.advance(resetTtlSec * 1000 - 1000);
    assert.equal((await post(reset, { token: second, new_password: NEW_PASSWORD })).statusCode, 204);

    // one mail per minute per account; a newer link voids the older one
    await post('/api/auth/forgot-password', { username: 'frank' });
    await idle();
    const third = resetToken('frank@example.com');
    const count = mailsTo('frank@example.com', 'Reset your Bastion password').length;
    await post('/api/auth/forgot-password', { username: 'frank' });
    await idle();
    assert.equal(mailsTo('frank@example.com', 'Reset your Bastion password').length, count);
    clock.advance(61_000);
    await post('/api/auth/forgot-password', { username: 'frank' });
    await idle();
    assert.equal(mailsTo('frank@example.com', 'Reset your Bastion password').length, count + 1);
    const fourth = resetToken('frank@example.com');
    assert.equal(await refused(reset, third), 'invalid_one_time_token');
    assert.equal((await post(reset, { token: fourth, new_password: PASSWORD })).statusCode, 204);
  });

  test('an email change needs a fresh login and applies only once the new address confirms it', async () => {
    const ginaId = await signup('gina', 'gina@old.example');
    await signup('hank', 'hank@example.com');
    const signupToken = confirmToken('gina@old.example');
    const stale = await login('gina');
    clock.advance((t.config.jwt.freshLoginSec + 1) * 1000);
    const notFresh = await post('/api/auth/email', { email: 'gina@new.example' }, bearer(stale.access_token));
    assert.equal(notFresh.statusCode, 401);
    assert.equal(notFresh.json().code, 'fresh_login_required');
    assert.equal((await post('/api/auth/email', { email: 'gina@new.example' })).statusCode, 401);
    assert.equal(mailsTo('gina@new.example').length, 0);

    const auth = bearer((await login('gina')).access_token);
    const taken = await post('/api/auth/email', { email: 'HANK@example.com' }, auth);
    assert.equal(taken.statusCode, 409);
    assert.equal(taken.json().code, 'email_taken');
    const asked = await post('/api/auth/email', { email: 'gina@new.example' }, auth);
    assert.equal(asked.statusCode, 202, asked.body);
    const token = confirmToken('gina@new.example');
    const me = async () => (await t.app.inject({ url: '/api/auth/me', headers: auth })).json().email as string;
    assert.equal(await me(), 'gina@old.example');
    assert.equal(await audits(ginaId, 'email_change_requested'), 1);

    // the change request voided the pending signup confirmation of the old address
    assert.equal((await post('/api/auth/confirm-email', { token: signupToken })).json().code, 'invalid_one_time_token');
    assert.equal((await post('/api/auth/confirm-email', { token })).statusCode, 204);
    assert.equal(await me(), 'gina@new.example');
    assert.notEqual((await user(ginaId))!.email_confirmed_at, null);
    assert.equal((await t.app.inject({ url: '/api/auth/me', headers: auth })).json().email_confirmed, true, '/me says so');
    const twice = await post('/api/auth/confirm-email', { token });
    assert.equal(twice.statusCode, 400);
    assert.equal(twice.json().code, 'invalid_one_time_token');
    assert.equal(await audits(ginaId, 'email_confirmed'), 1);

    await idle();
    assert.equal(mailsTo('gina@old.example', 'Your Bastion email address was changed').length, 1);
    assert.equal((await post('/api/auth/login', { email: 'gina@new.example', password: PASSWORD })).statusCode, 200);
  });

  test('signup with an email sends a confirmation; the account works unconfirmed; resend voids the older link', async () => {
    const ivyId = await signup('ivy', 'ivy@example.com');
    const first = confirmToken('ivy@example.com');
    assert.equal((await user(ivyId))!.email_confirmed_at, null);
    const auth = bearer((await login('ivy')).access_token);

    const resent = await post('/api/auth/confirm-email/resend', {}, auth);
    assert.equal(resent.statusCode, 202, resent.body);
    const second = confirmToken('ivy@example.com');
    assert.notEqual(second, first);
    assert.equal((await post('/api/auth/confirm-email', { token: first })).statusCode, 400);
    assert.equal((await user(ivyId))!.email_confirmed_at, null);
    assert.equal((await post('/api/auth/confirm-email', { token: second })).statusCode, 204);
    assert.equal((await user(ivyId))!.email_confirmed_at, clock.now());

    const done = await t.app.inject({ method: 'POST', url: '/api/auth/confirm-email/resend', headers: auth });
    assert.equal(done.statusCode, 409);
    assert.equal(done.json().code, 'email_already_confirmed');
    assert.equal((await post('/api/auth/email', { email: 'ivy@example.com' }, auth)).json().code, 'email_already_confirmed');

    // a link dies when the address changed by other means (an operator) since it was sent
    const ninaId = await signup('nina', 'nina@example.com');
    const ninaToken = confirmToken('nina@example.com');
    await t.app.services.store.db.updateTable('users').set({ email: 'nina@elsewhere.example' }).where('id', '=', ninaId).execute();
    assert.equal((await post('/api/auth/confirm-email', { token: ninaToken })).json().code, 'invalid_one_time_token');
    assert.equal((await user(ninaId))!.email, 'nina@elsewhere.example');

    const before = smtp.received.length;
    await signup('jack');
    assert.equal(smtp.received.length, before, 'no mail without an email');
    const none = await post('/api/auth/confirm-email/resend', {}, bearer((await login('jack')).access_token));
    assert.equal(none.statusCode, 409);
    assert.equal(none.json().code, 'no_email');
  });

  test('deleting my account needs a fresh login, ends my tokens and removes my data', async () => {
    const kateId = await signup('kate', 'kate@example.com');
    const stale = await login('kate');
    clock.advance((t.config.jwt.freshLoginSec + 1) * 1000);
    const notFresh = await t.app.inject({ method: 'DELETE', url: '/api/auth/me', headers: bearer(stale.access_token) });
    assert.equal(notFresh.statusCode, 401);
    assert.equal(notFresh.json().code, 'fresh_login_required');
    assert.ok(await user(kateId));

    const pair = await login('kate');
    const del = await t.app.inject({ method: 'DELETE', url: '/api/auth/me', headers: bearer(pair.access_token) });
    assert.equal(del.statusCode, 204, del.body);
    assert.equal(await user(kateId), undefined);
    const db = t.app.services.store.db;
    assert.equal((await db.selectFrom('one_time_tokens').select('id').where('user_id', '=', kateId).execute()).length, 0);
    assert.equal((await db.selectFrom('refresh_families').select('id').where('user_id', '=', kateId).execute()).length, 0);

    const me = await t.app.inject({ url: '/api/auth/me', headers: bearer(pair.access_token) });
    assert.equal(me.statusCode, 401);
    assert.equal(me.json().code, 'token_revoked');
    assert.equal((await post('/api/auth/refresh', { refresh_token: pair.refresh_token })).statusCode, 401);
    const relogin = await post('/api/auth/login', { username: 'kate', password: PASSWORD });
    assert.equal(relogin.statusCode, 401);
    assert.equal(relogin.json().code, 'invalid_credentials');
    const events = await t.app.services.audit.list({ limit: 50, userId: kateId, type: 'account_deleted' });
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]!.details, { username: 'kate' });
  });

  test('no token or password reaches a log line', async () => {
    await idle();
    assert.ok(logs.lines.some((l) => JSON.parse(l).msg === 'mail sent'), 'the mail log lines were captured');
    assert.ok(secrets.size > 10, `collected ${secrets.size} secrets`);
    for (const line of logs.lines) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `secret in log line: ${line}`);
    }
  });
});

describe('account recovery with the outbox (no SMTP_URL)', () => {
  const logs = captureLogs();
  const out = tempDir('bastion-outbox-');
  const outbox = join(out.dir, 'outbox');
  let t: TestApp;

  before(async () => {
    t = await buildTestApp({ OUTBOX_DIR: outbox, PUBLIC_URL, LOG_LEVEL: 'info' }, { logStream: logs.stream });
  });
  after(async () => {
    await t.close();
    out.remove();
  });

  test('each mail is a file holding the link; the log names the file and recipient, never the token', async () => {
    const signup = await t.app.inject({ method: 'POST', url: '/api/auth/signup', payload: { username: 'lena', password: PASSWORD, email: 'lena@example.com' } });
    assert.equal(signup.statusCode, 201);
    await t.app.inject({ method: 'POST', url: '/api/auth/forgot-password', payload: { email: 'lena@example.com' } });
    await t.app.services.recovery.idle();

    const files = readdirSync(outbox).map((name) => join(outbox, name));
    assert.equal(files.length, 2);
    const mails = files.map((file) => ({ file, ...(JSON.parse(readFileSync(file, 'utf8')) as { to: string; subject: string; text: string; html: string }) }));
    const reset = mails.find((m) => m.subject === 'Reset your Bastion password');
    assert.ok(reset);
    assert.equal(reset.to, 'lena@example.com');
    assert.equal(statSync(reset.file).mode & 0o077, 0, 'only the owner may read a mail file');
    const token = new RegExp(`${PUBLIC_URL.replace(/\./g, '\\.')}/#/reset-password\\?token=(${TOKEN.source})`).exec(reset.text)?.[1];
    assert.ok(token, reset.text);
    assert.ok(reset.html.includes(`token=${token}`));

    const entries = logs.lines.map((l) => JSON.parse(l) as { msg?: string; file?: string; to?: string });
    const line = entries.find((e) => e.msg === 'mail written to outbox' && e.file === reset.file);
    assert.ok(line, 'one log line names the file');
    assert.equal(line.to, 'lena@example.com');
    assert.equal(entries.filter((e) => e.msg === 'mail written to outbox').length, 2);
    for (const l of logs.lines) assert.ok(!l.includes(token) && !l.includes(PASSWORD), `secret in log line: ${l}`);

    // the file's link is live
    const used = await t.app.inject({ method: 'POST', url: '/api/auth/reset-password', payload: { token, new_password: NEW_PASSWORD } });
    assert.equal(used.statusCode, 204);
  });
});

test('SMTP_URL: STARTTLS is required except to a loopback relay; the URL can say otherwise', () => {
  const remote = smtpOptions('smtp://mailer:p%40ss@mail.example.com:587');
  assert.deepEqual([remote.host, remote.port, remote.secure, remote.requireTLS, remote.ignoreTLS], ['mail.example.com', 587, false, true, false]);
  assert.deepEqual(remote.auth, { user: 'mailer', pass: 'p@ss' });
  const local = smtpOptions('smtp://127.0.0.1:2525');
  assert.deepEqual([local.requireTLS, local.ignoreTLS, local.auth], [false, true, undefined]);
  assert.equal(smtpOptions('smtp://relay.internal:25?requireTLS=false').requireTLS, false);
  assert.equal(smtpOptions('smtps://mail.example.com').secure, true);
  assert.equal(smtpOptions('smtps://mail.example.com').requireTLS, false); // implicit TLS already
});
