/**
 * A local OpenID Provider to try "Log in with …" from `npm run demo` (README, "Log in with
 * an OpenID Connect provider"): the same real `oidc-provider` the tests use
 * (test/helpers/oidc-provider.ts; a dev dependency), on http://127.0.0.1:9090, with one
 * client registered for Bastion at PUBLIC_URL (default http://127.0.0.1:8085) and three
 * accounts. Prints the OIDC_PROVIDERS value to start Bastion with. Development only.
 *
 *   npx tsx scripts/oidc-dev-provider.ts [--port 9090] [--public-url http://127.0.0.1:8085]
 */
import { parseArgs } from 'node:util';
import { PROVIDER_PASSWORD, startTestProvider } from '../test/helpers/oidc-provider.ts';

const { values } = parseArgs({ options: { port: { type: 'string', default: '9090' }, 'public-url': { type: 'string', default: 'http://127.0.0.1:8085' } } });
const publicUrl = values['public-url'].replace(/\/+$/, '');
const provider = await startTestProvider({
  port: Number(values.port),
  clientId: 'bastion-demo',
  clientSecret: 'demo-client-secret-change-me',
  redirectUris: [`${publicUrl}/api/auth/oidc/local/callback`],
  accounts: [
    // a new person: the first login makes a Bastion account
    { sub: 'local-grace', login: 'grace', email: 'grace@provider.example', email_verified: true, preferred_username: 'grace', name: 'Grace Hopper' },
    // kyle's demo address, verified here: links to the demo account kyle once kyle's email is confirmed, else refused
    { sub: 'local-kyle', login: 'kyle', email: 'kyle@example.com', email_verified: true, preferred_username: 'kyle', name: 'Kyle' },
    // an address the provider has not verified: never linked by email
    { sub: 'local-eve', login: 'eve', email: 'sherpa@example.com', email_verified: false, preferred_username: 'eve', name: 'Eve' },
  ],
});
const config = [{ id: 'local', name: 'Local provider', issuer: provider.issuer, client_id: provider.clientId, client_secret: provider.clientSecret }];
console.log(`OpenID Provider at ${provider.issuer} (accounts grace, kyle, eve; password "${PROVIDER_PASSWORD}")`);
console.log(`Start Bastion with:\n  OIDC_PROVIDERS='${JSON.stringify(config)}' npm run demo`);
process.on('SIGINT', () => void provider.stop().then(() => process.exit(0)));
