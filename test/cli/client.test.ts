/**
 * `bastion client add|list|rotate-secret|remove` as an operator uses them: real processes on
 * a real database, with a Bastion instance (in process) on the same database taking the
 * printed credentials at its token endpoint, and seeing the CLI's revocations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { tempDir, testConfig } from '../helpers/app.ts';
import { testDatabaseUrl } from '../helpers/db.ts';
import { runCli, type CliResult } from '../helpers/server.ts';

const show = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('client add -> list -> rotate-secret -> remove, against a running instance on the same database', async (t) => {
  const { dir, remove } = tempDir('bastion-client-cli-');
  t.after(remove);
  const env = { DATABASE_URL: testDatabaseUrl(dir) };

  const added = await runCli(['client', 'add', 'reports', '--scope', 'reports:read', '--scope', 'reports:write', '--json'], env);
  assert.equal(added.code, 0, show(added));
  const created = JSON.parse(added.stdout) as { client_id: string; client_secret: string; name: string; scopes: string[] };
  assert.match(created.client_id, /^[0-9a-f]{32}$/);
  assert.ok(created.client_secret.length >= 43, '256 bits');
  assert.deepEqual(created.scopes, ['reports:read', 'reports:write']);

  const app = await buildApp(testConfig({ ...env, REVOCATION_POLL: '100ms' }, dir));
  t.after(() => app.close());
  const token = (id: string, secret: string) =>
    app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret }).toString(),
    });
  const first = await token(created.client_id, created.client_secret);
  assert.equal(first.statusCode, 200, first.body);
  assert.equal(first.json().scope, 'reports:read reports:write');
  const firstToken = first.json().access_token as string;
  const introspect = async (access: string) =>
    (
      await app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token: access, client_id: created.client_id, client_secret: created.client_secret }).toString(),
      })
    ).json().active as boolean;
  assert.equal(await introspect(firstToken), true);

  const listed = await runCli(['client', 'list', '--json'], env);
  assert.equal(listed.code, 0, show(listed));
  const list = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
  assert.equal(list.length, 1);
  assert.equal(list[0]!['client_id'], created.client_id);
  assert.equal(list[0]!['name'], 'reports');
  assert.equal(list[0]!['secret_rotated_at'], null);
  assert.ok(!listed.stdout.includes(created.client_secret), 'the secret is shown once, at creation');

  const rotated = await runCli(['client', 'rotate-secret', 'reports'], env);
  assert.equal(rotated.code, 0, show(rotated));
  const secret = /client_secret: (\S+)/.exec(rotated.stdout)?.[1];
  assert.ok(secret && secret !== created.client_secret, show(rotated));
  assert.match(rotated.stdout, new RegExp(`client_id: +${created.client_id}`));
  // the running instance follows the feed: the tokens got with the old secret stop there too
  await waitFor('the rotation to revoke the old token', async () => (await app.inject({ url: '/api/secure', headers: { authorization: `Bearer ${firstToken}` } })).statusCode === 401);
  assert.equal((await token(created.client_id, created.client_secret)).statusCode, 401);
  const second = await token(created.client_id, secret);
  assert.equal(second.statusCode, 200, second.body);

  const removed = await runCli(['client', 'remove', 'reports'], env);
  assert.equal(removed.code, 0, show(removed));
  assert.match(removed.stdout, /removed client reports/);
  const secondToken = second.json().access_token as string;
  await waitFor('the removal to revoke the token', async () => (await app.inject({ url: '/api/secure', headers: { authorization: `Bearer ${secondToken}` } })).statusCode === 401);
  assert.equal((await token(created.client_id, secret)).statusCode, 401);

  const again = await runCli(['client', 'remove', 'reports'], env);
  assert.equal(again.code, 1, show(again));
  assert.match(again.stderr, /^bastion: No client "reports"/);
});

test('client: wrong usage exits 2 and says why', async (t) => {
  const { dir, remove } = tempDir('bastion-client-cli-');
  t.after(remove);
  const bad = await runCli(['client', 'add', 'reports', '--scope', 'has"quote'], { DATABASE_URL: testDatabaseUrl(dir) });
  assert.equal(bad.code, 2, show(bad));
  assert.match(bad.stderr, /is not a scope/);
  assert.equal(bad.stdout, '');
});
