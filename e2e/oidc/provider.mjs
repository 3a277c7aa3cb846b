// A real OpenID Connect provider for the console's sign-in tests: the
// `oidc-provider` package on an ephemeral port of 127.0.0.1 (plain http),
// with its built-in development pages for login and consent (any password
// is taken; the login names the account).
//
// Its address must be known before actas starts (`--oidc-issuer`), and
// actas' callback address only once it has: `startProvider()` listens at
// once and answers 503 until `register(redirectUri)` registers the clients.

import { createServer } from 'node:http';

import Provider from 'oidc-provider';

/** actas' client: confidential, authorization code with PKCE. */
export const CLIENT_ID = 'actas-console';
export const CLIENT_SECRET = 'actas-console-secret-for-the-browser-tests';
/** Another application at the same provider, with the same callback. */
export const OTHER_CLIENT_ID = 'other-app';

/**
 * The accounts, by login: the claims the provider gives each. `maria` is
 * in a group the test policy maps to `agent`; `sam` in one mapped to `lead`
 * and `agent`; `pat` only in groups that give no role; `nodir` has a
 * mapped group given as one string rather than a list. Maria's e-mail
 * address is not her username: tickets assigned to it reach her inbox
 * because the provider gave it.
 */
export const ACCOUNTS = {
  maria: {
    preferred_username: 'Maria',
    name: 'Maria Lopez',
    groups: ['everyone', 'support-agents'],
    email: 'm.lopez@support.example',
    email_verified: true,
  },
  sam: { preferred_username: 'sam', name: 'Sam Lee', groups: ['everyone', 'support-leads'] },
  pat: { preferred_username: 'pat', name: 'Pat Doe', groups: ['everyone', 'marketing'] },
  nodir: { preferred_username: 'nodir', name: 'Nodir Karimov', groups: 'support-agents' },
};

/**
 * Starts the provider; resolves with `{issuer, register(redirectUri),
 * close()}`.
 */
export async function startProvider() {
  let handler = null;
  const server = createServer((req, res) => {
    if (handler) {
      handler(req, res);
      return;
    }
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('the provider has no clients yet');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const register = (redirectUri) => {
    const client = (id, secret) => ({
      client_id: id,
      client_secret: secret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    const provider = new Provider(issuer, {
      clients: [client(CLIENT_ID, CLIENT_SECRET), client(OTHER_CLIENT_ID, 'other-app-secret-of-its-own')],
      // Every client must use PKCE, with S256.
      pkce: { methods: ['S256'], required: () => true },
      claims: {
        openid: ['sub'],
        profile: ['name', 'preferred_username', 'groups'],
        email: ['email', 'email_verified'],
      },
      // The profile claims go into the ID token itself, as company
      // providers are set up to do for a groups claim.
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: true } },
      cookies: { keys: ['the browser tests sign their provider cookies with this'] },
      findAccount: (ctx, id) => {
        const claims = ACCOUNTS[id];
        if (!claims) {
          return undefined;
        }
        return { accountId: id, claims: () => ({ sub: id, ...claims }) };
      },
    });
    // The development pages and their keys are not for production; the
    // provider says so on every start, which is expected here.
    provider.on('server_error', (ctx, err) => console.error('oidc-provider:', err));
    handler = provider.callback();
  };

  const close = () =>
    new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    });

  return { issuer, register, close };
}
