// Console sign-in through the company's OpenID Connect provider, in
// Chromium against a real provider (`oidc-provider`, e2e/oidc/provider.mjs):
// Maria's first sign-in adds her with the role her group gives; Sam, added
// on the command line as an agent, comes back a lead because the provider
// now says so. Each hostile case ends on a page that says why, with no
// staff row made and no console session: a person whose groups give no
// role, the provider answering access_denied, a state that was tampered
// with or left out, an ID token for another nonce, a code issued to another
// client, a member disabled in actas, the provider down. With password
// sign-in off the form is gone and `POST /login` is refused.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  cliOn,
  launchBrowser,
  newDatabase as newActasDatabase,
  screenshots,
  serveOn,
  shot,
} from './lib.mjs';
import { CLIENT_ID, CLIENT_SECRET, OTHER_CLIENT_ID, startProvider } from './oidc/provider.mjs';

const ADMIN_PASSWORD = 'an admin password for the oidc tests';
// A small policy of its own: one action, and the groups that give roles.
const POLICY = `[[action]]
name = "settings.view"
label = "View account settings"
kind = "view"
approval = "none"

[oidc.roles]
"support-agents" = "agent"
"support-leads" = ["lead", "agent"]
`;

let dir;
let provider;
let browser;
let main; // actas with the provider: { base, child, log() }
const servers = [];

/** A fresh database with its key-encryption key: `{db, kek}`. */
const newDatabase = (name) => newActasDatabase(dir, name);

/** Runs the CLI on `d`; answers its standard output. */
const cli = cliOn;

/** `actas serve` on `d` with `args`; resolves once it listens. */
async function serve(d, args, env = {}) {
  const s = await serveOn(d, args, env);
  servers.push(s);
  return s;
}

/** A port nothing listens on. */
async function closedPort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** Every `staff.*` event of the trail: `{type, actor, data}`. */
function staffEvents(d) {
  return cli(d, ['audit', 'export', '--format', 'jsonl'])
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.type.startsWith('staff.'));
}

let mainDb;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'actas-oidc-'));
  mkdirSync(screenshots, { recursive: true });
  provider = await startProvider();
  const policy = path.join(dir, 'policy.toml');
  writeFileSync(policy, POLICY);
  mainDb = newDatabase('main');
  cli(mainDb, ['staff', 'add', 'ada', '--name', 'Ada Admin', '--role', 'admin', '--password-stdin'], ADMIN_PASSWORD);
  cli(mainDb, ['staff', 'add', 'sam', '--name', 'Sam Lee', '--role', 'agent']);
  main = await serve(
    mainDb,
    ['--policy', policy, '--oidc-issuer', provider.issuer, '--oidc-client-id', CLIENT_ID],
    { ACTAS_OIDC_CLIENT_SECRET: CLIENT_SECRET },
  );
  provider.register(`${main.base}/login/oidc/callback`);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const s of servers) {
    s.child.kill('SIGTERM');
  }
  await provider?.close();
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Starts a sign-in at `base` in a fresh browser context and goes through
 * the provider's login and consent pages as `login`; `route(page)` may set
 * up request rewriting first. Resolves once the browser is back at actas.
 */
async function viaProvider(login, { base = main.base, route } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (route) {
    await route(page);
  }
  await page.goto(`${base}/login`);
  await page.getByRole('link', { name: 'Sign in with your company account' }).click();
  await page.waitForURL((u) => u.origin === provider.issuer);
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password will do at this provider');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((u) => u.origin === base, { waitUntil: 'domcontentloaded' });
  return { context, page };
}

/** Waits for the console's home after a successful sign-in. */
async function landed(page) {
  await page.waitForURL((u) => u.pathname === '/', { waitUntil: 'domcontentloaded' });
}

/** The refusal's sentence on the page. */
async function refusal(page) {
  await page.waitForURL((u) => u.pathname === '/login/oidc/callback');
  return (await page.getByRole('alert').textContent()).trim();
}

/** No console session in `context`: the home page sends it to sign in. */
async function assertSignedOut(context, base = main.base) {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.close();
}

/** The staff table as Ada (an admin, with her password) sees it. */
async function staffTable() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${main.base}/login`);
  await page.getByLabel('Login').fill('ada');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.getByRole('button', { name: 'Sign in' }).click()]);
  await page.goto(`${main.base}/staff`);
  const rows = await page.locator('#staff tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
  );
  await context.close();
  return Object.fromEntries(rows.map(([login, name, roles, state]) => [login, { name, roles, state }]));
}

async function assertNoStaff(login) {
  const table = await staffTable();
  assert.equal(table[login], undefined, `no staff row for ${login}: ${JSON.stringify(table)}`);
  assert.ok(!staffEvents(mainDb).some((e) => e.data.login === login), `no staff event for ${login}`);
}

test('the sign-in page offers the company account beside the password form', async () => {
  const page = await browser.newPage();
  await page.goto(`${main.base}/login`);
  assert.equal(await page.getByRole('link', { name: 'Sign in with your company account' }).count(), 1);
  assert.equal(await page.getByLabel('Password').count(), 1);
  await shot(page, 'oidc-sign-in-page');
  await page.close();
});

test("a first sign-in adds the staff member with their group's role and opens the console", async () => {
  const { context, page } = await viaProvider('maria');
  await landed(page);
  await shot(page, 'oidc-maria-home');
  assert.match(await page.locator('header.top').textContent(), /Maria Lopez/);
  const nav = page.getByRole('navigation', { name: 'Console' });
  assert.equal(await nav.getByRole('link', { name: 'Approval queue' }).count(), 0, 'an agent has no queue');
  // The session holds: another page of the console opens.
  await page.goto(`${main.base}/launch`);
  assert.equal(new URL(page.url()).pathname, '/launch');
  await context.close();

  const table = await staffTable();
  assert.deepEqual(table.maria, { name: 'Maria Lopez', roles: 'agent', state: 'active' });
  const created = staffEvents(mainDb).filter((e) => e.type === 'staff.created' && e.data.login === 'maria');
  assert.equal(created.length, 1);
  assert.deepEqual(created[0].data.roles, ['agent']);
  assert.equal(created[0].actor.id, 'maria');

  // Signing in again changes nothing.
  const again = await viaProvider('maria');
  await landed(again.page);
  await again.context.close();
  assert.equal(staffEvents(mainDb).filter((e) => e.data.login === 'maria').length, 1);
});

test('an existing member takes the roles the provider gives now', async () => {
  const { context, page } = await viaProvider('sam');
  await landed(page);
  const nav = page.getByRole('navigation', { name: 'Console' });
  assert.equal(await nav.getByRole('link', { name: 'Approval queue' }).count(), 1, 'a lead has the queue');
  await context.close();
  assert.equal((await staffTable()).sam.roles, 'agent, lead');
  const updated = staffEvents(mainDb).filter((e) => e.type === 'staff.updated' && e.data.login === 'sam');
  assert.equal(updated.length, 1);
  assert.deepEqual(updated[0].data.roles, ['agent', 'lead']);
  assert.deepEqual(updated[0].data.changed, ['roles']);
});

test('a person whose groups give no actas role is refused and nothing is stored', async () => {
  const { context, page } = await viaProvider('pat');
  assert.match(await refusal(page), /gives you no actas role/);
  await shot(page, 'oidc-no-role');
  await assertSignedOut(context);
  await context.close();
  await assertNoStaff('pat');
});

test('the provider answering access_denied is refused with its reason', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${main.base}/login`);
  await page.getByRole('link', { name: 'Sign in with your company account' }).click();
  await page.waitForURL((u) => u.origin === provider.issuer);
  await page.getByRole('link', { name: '[ Cancel ]' }).click();
  assert.match(await refusal(page), /did not sign you in \(access_denied/);
  await assertSignedOut(context);
  await context.close();
});

/**
 * Rewrites the address the browser is redirected to after a request that
 * `which(request)` picks (a route sees only the first request of a
 * redirect chain, so the chain is followed here for `hops` redirects):
 * `change` gets the query parameters of the redirect's target.
 */
function rewriteRedirect(which, hops, change) {
  return (page) =>
    page.route('**/*', async (route) => {
      if (!which(route.request())) {
        return route.fallback();
      }
      let response = await route.fetch({ maxRedirects: 0 });
      // The context's request client shares the browser's cookies.
      for (let i = 0; i < hops; i++) {
        const next = new URL(response.headers().location, response.url());
        response = await page.context().request.get(next.toString(), { maxRedirects: 0 });
      }
      const headers = response.headers();
      const target = new URL(headers.location, response.url());
      change(target.searchParams);
      return route.fulfill({ response, headers: { ...headers, location: target.toString() } });
    });
}

/** Rewrites actas' authorization request on its way to the provider. */
const authorizationRequest = (change) =>
  rewriteRedirect((r) => r.url().startsWith(`${main.base}/login/oidc?`) || r.url() === `${main.base}/login/oidc`, 0, change);

/**
 * Rewrites the provider's answer on its way back to actas' callback: the
 * consent form's submission redirects to the authorization endpoint, which
 * redirects to the callback.
 */
const providerAnswer = (change) =>
  rewriteRedirect(
    (r) => r.url().startsWith(`${provider.issuer}/interaction/`) && (r.postData() || '').includes('prompt=consent'),
    1,
    change,
  );

for (const [what, change] of [
  ['tampered with', (q) => q.set('state', `${q.get('state')}x`)],
  ['left out', (q) => q.delete('state')],
]) {
  test(`a callback whose state was ${what} is refused and nothing is stored`, async () => {
    const { context, page } = await viaProvider('nodir', {
      route: providerAnswer((q) => {
        assert.ok(q.get('code'), 'the provider answered with a code');
        change(q);
      }),
    });
    assert.match(await refusal(page), /does not belong to the sign-in begun in this browser/);
    await assertSignedOut(context);
    await context.close();
    await assertNoStaff('nodir');
  });
}

test('an ID token issued for another nonce is refused and nothing is stored', async () => {
  const { context, page } = await viaProvider('nodir', {
    route: authorizationRequest((q) => q.set('nonce', 'a-nonce-actas-never-made')),
  });
  assert.match(await refusal(page), /ID token does not hold \(Invalid nonce/);
  await assertSignedOut(context);
  await context.close();
  await assertNoStaff('nodir');
});

test('a code issued to another client is refused and nothing is stored', async () => {
  const { context, page } = await viaProvider('nodir', {
    route: authorizationRequest((q) => q.set('client_id', OTHER_CLIENT_ID)),
  });
  assert.match(await refusal(page), /refused to complete this sign-in \(invalid_grant/);
  await assertSignedOut(context);
  await context.close();
  await assertNoStaff('nodir');
});

test('a groups claim of one string maps too', async () => {
  const { context, page } = await viaProvider('nodir');
  await landed(page);
  await context.close();
  assert.deepEqual((await staffTable()).nodir, { name: 'Nodir Karimov', roles: 'agent', state: 'active' });
});

test('a member disabled in actas cannot sign in through the provider', async () => {
  cli(mainDb, ['staff', 'disable', 'maria']);
  const { context, page } = await viaProvider('maria');
  assert.match(await refusal(page), /disabled in actas/);
  await assertSignedOut(context);
  await context.close();
  assert.equal((await staffTable()).maria.state, 'disabled');
  assert.ok(!staffEvents(mainDb).some((e) => e.type === 'staff.updated' && e.data.login === 'maria'));
});

test('with the provider down, actas starts and a sign-in says the provider cannot be reached', async () => {
  const d = newDatabase('down');
  const down = await serve(d, ['--oidc-issuer', `http://127.0.0.1:${await closedPort()}`, '--oidc-client-id', CLIENT_ID]);
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${down.base}/login`);
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/login/oidc');
  await page.getByRole('link', { name: 'Sign in with your company account' }).click();
  assert.equal((await answer).status(), 503);
  assert.match(await page.getByRole('alert').textContent(), /identity provider cannot be reached/);
  await shot(page, 'oidc-provider-down');
  await assertSignedOut(context, down.base);
  await context.close();
});

test('with password sign-in off the form is gone and POST /login is refused', async () => {
  const d = newDatabase('nopassword');
  cli(d, ['staff', 'add', 'ada', '--name', 'Ada Admin', '--role', 'admin', '--password-stdin'], ADMIN_PASSWORD);
  const s = await serve(d, [
    '--oidc-issuer',
    provider.issuer,
    '--oidc-client-id',
    CLIENT_ID,
    '--password-sign-in',
    'off',
  ]);
  const page = await browser.newPage();
  await page.goto(`${s.base}/login`);
  assert.equal(await page.getByRole('link', { name: 'Sign in with your company account' }).count(), 1);
  assert.equal(await page.getByLabel('Password').count(), 0);
  assert.equal(await page.locator('form[action="/login"]').count(), 0);
  await shot(page, 'oidc-password-off');
  await page.close();

  // The right password, as the form would have sent it, with its token.
  const form = await fetch(`${s.base}/login`);
  const csrf = (form.headers.get('set-cookie') || '').match(/actas_login=([^;]+)/);
  assert.equal(csrf, null, 'no sign-in form token is handed out');
  const res = await fetch(`${s.base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: 'actas_login=t' },
    body: new URLSearchParams({ csrf: 't', login: 'ada', password: ADMIN_PASSWORD }).toString(),
  });
  assert.equal(res.status, 403);
  assert.ok(!(res.headers.get('set-cookie') || '').includes('actas_console='), 'no console session');
  assert.match(await res.text(), /Password sign-in is turned off/);
});

test('password sign-in off without a provider refuses to start, saying why', async () => {
  const d = newDatabase('nobody');
  await assert.rejects(serve(d, ['--password-sign-in', 'off']), (e) => {
    assert.notEqual(e.code, 0);
    assert.match(e.log, /--password-sign-in off needs --oidc-issuer/);
    return true;
  });
});
