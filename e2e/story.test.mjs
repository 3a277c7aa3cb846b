// The seed's story from end to end, in Chromium: a customer's ticket
// arrives from Zendesk (a signed webhook, in Zendesk's own body shape) with
// the tag of a known kind of case and Maria, who signed in through the
// company's identity provider (the real `oidc-provider`), as its assignee;
// she finds the ticket in her inbox, launches the request form with the
// playbook's scope ticked, starts the session and enters the host app under
// the banner. When Zendesk says the ticket is solved, the session ends at once:
// the banner says why, the console shows it, the customer note is queued
// and the trail tells it in plain sentences. Screenshots land in
// target/screenshots/story-*.png.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  cliOn,
  launchBrowser,
  newDatabase,
  root,
  screenshots,
  serveOn,
  shot,
  sidewaysScroll,
  waitForState,
} from './lib.mjs';
import { CLIENT_ID, CLIENT_SECRET, startProvider } from './oidc/provider.mjs';

const TICKET = '90001';
const SUBJECT = 'Our admin cannot log in since the password reset';
const ZENDESK_SECRET = 'the-zendesk-webhook-secret-of-the-story';
const REASON = 'Customer admin cannot log in since the password reset; checking the account and its recent activity';
// The shipped policy (with its playbooks), and the groups that give roles.
const POLICY = `${readFileSync(path.join(root, 'crates/actas-core/src/default_policy.toml'), 'utf8')}
[oidc.roles]
"support-agents" = "agent"
"support-leads" = ["lead", "agent"]
`;

let dir;
let db;
let provider;
let browser;
let actas; // { base, child }
let host; // the host app: { origin, server }
let appKey; // the host app's key
let zendeskId; // the Zendesk connector app

const cli = (args, input) => cliOn(db, args, input);

/**
 * The host app: `/support/enter?code=...` exchanges the one-time code for
 * the session's token with its app key, as a host app does, and answers a
 * page of the customer's account with the banner on it.
 */
function startHost() {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://host.invalid');
    if (url.pathname !== '/support/enter') {
      res.writeHead(404).end('not found');
      return;
    }
    const answer = await fetch(`${actas.base}/api/v1/entry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: url.searchParams.get('code') }),
    });
    const body = await answer.json();
    if (!answer.ok) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(JSON.stringify(body));
      return;
    }
    const token = String(body.token).replace(/[^A-Za-z0-9._-]/g, '');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Billing: account</title>
<script src="${actas.base}/banner.js" data-token="${token}" defer></script></head>
<body><h1>Acme Corp: account settings</h1><p>The customer's account, as support sees it.</p></body></html>`);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` })),
  );
}

/** Zendesk's ticket event for the story's ticket with `status`, signed as Zendesk signs it. */
function zendeskDelivery(status, invocation) {
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const body = JSON.stringify({
    account_id: 9242270,
    detail: {
      // Her address at the identity provider, not her login.
      assignee_id: 'm.lopez@support.example',
      id: TICKET,
      organization_id: 'acct_42',
      status,
      subject: SUBJECT,
      tags: ['login_trouble'],
      type: 'INCIDENT',
      updated_at: stamp,
    },
    event: { current: status },
    id: `evt-${invocation}`,
    subject: `zen:ticket:${TICKET}`,
    time: stamp,
    type: 'zen:event-type:ticket.status_changed',
    zendesk_event_version: '2022-11-06',
  });
  const signature = createHmac('sha256', ZENDESK_SECRET).update(stamp).update(body).digest('base64');
  const headers = {
    'content-type': 'application/json',
    'x-zendesk-webhook-signature': signature,
    'x-zendesk-webhook-signature-timestamp': stamp,
    'x-zendesk-webhook-invocation-id': invocation,
  };
  return { headers, body };
}

/** Posts a delivery to the Zendesk connector. */
async function deliver(d) {
  const res = await fetch(`${actas.base}/api/v1/connectors/zendesk/${zendeskId}`, { method: 'POST', ...d });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'actas-story-'));
  mkdirSync(screenshots, { recursive: true });
  db = newDatabase(dir, 'story');
  const policy = path.join(dir, 'policy.toml');
  writeFileSync(policy, POLICY);
  provider = await startProvider();
  host = await startHost();
  appKey = cli(['app', 'add', 'Acme Billing', '--origin', host.origin]).trim().split('\n').pop().trim();
  const added = cli(['app', 'add', 'Acme Zendesk', '--tickets', '--connector', 'zendesk', '--secret-stdin'], `${ZENDESK_SECRET}\n`);
  zendeskId = added.match(/app_[a-z0-9]+/)[0];
  actas = await serveOn(db, ['--policy', policy, '--oidc-issuer', provider.issuer, '--oidc-client-id', CLIENT_ID], {
    ACTAS_OIDC_CLIENT_SECRET: CLIENT_SECRET,
  });
  provider.register(`${actas.base}/login/oidc/callback`);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  actas?.child.kill('SIGTERM');
  host?.server.close();
  await provider?.close();
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('from a Zendesk ticket to a session that ends when the ticket is solved', async () => {
  // Maria signs in through the identity provider for the first time.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${actas.base}/login`);
  await page.getByRole('link', { name: 'Sign in with your company account' }).click();
  await page.waitForURL((u) => u.origin === provider.issuer);
  await page.locator('input[name=login]').fill('maria');
  await page.locator('input[name=password]').fill('any password will do at this provider');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((u) => u.origin === actas.base && u.pathname === '/', { waitUntil: 'domcontentloaded' });

  // Zendesk sends the ticket.
  const opened = zendeskDelivery('OPEN', 'inv-open');
  const created = await deliver(opened);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.ticket.playbook.name, 'login_trouble');
  // The same delivery again is a replay; one without its signature is not
  // Zendesk's: both refused.
  assert.equal((await deliver(opened)).status, 409);
  const unsigned = zendeskDelivery('SOLVED', 'inv-forged');
  delete unsigned.headers['x-zendesk-webhook-signature'];
  assert.equal((await deliver(unsigned)).status, 401);

  await page.reload();

  // Her inbox has the ticket, with its kind of case and a Launch button.
  const row = page.locator('#assigned tbody tr', { hasText: TICKET });
  await row.waitFor();
  assert.match(await row.textContent(), /The customer cannot log in/);
  assert.match(await row.textContent(), new RegExp(SUBJECT));
  await shot(page, 'story-inbox');
  // On a phone the inbox fits: only its table scrolls sideways.
  await page.setViewportSize({ width: 375, height: 800 });
  await shot(page, 'story-inbox-phone');
  assert.equal(await sidewaysScroll(page), 0, 'the home page scrolls sideways at 375 px');
  await page.setViewportSize({ width: 1280, height: 720 });
  await row.getByRole('link', { name: `Launch a request for ticket ${TICKET}` }).click();
  await page.waitForURL((u) => u.pathname === '/launch');

  // The request form suggests the playbook's scope, ticked.
  assert.match(await page.locator('main').textContent(), /Kind of case: The customer cannot log in/);
  for (const name of ['account.view', 'activity.view']) {
    assert.equal(await page.locator(`input[name=actions][value="${name}"]`).isChecked(), true, name);
  }
  assert.equal(await page.locator('input[name=actions][value="settings.update"]').isChecked(), false);
  await page.getByLabel('Reason').fill(REASON);
  await shot(page, 'story-request-form');
  await page.getByRole('button', { name: 'Ask for access' }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/requests/'));
  await page.getByRole('button', { name: 'Start the session' }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/sessions/'));
  const sessionPath = new URL(page.url()).pathname;

  // She enters the host app: the banner is on the customer's page.
  await page.getByRole('button', { name: 'Open in the host app' }).click();
  const customer = page;
  await customer.waitForURL((u) => u.origin === host.origin, { waitUntil: 'domcontentloaded' });
  await waitForState(customer, 'live', 10000);
  await shot(customer, 'story-banner-live');

  // Zendesk says the ticket is solved: the session ends, everywhere.
  const solved = await deliver(zendeskDelivery('SOLVED', 'inv-solved'));
  assert.equal(solved.status, 200, JSON.stringify(solved.body));
  assert.equal(solved.body.sessions_ended.length, 1);
  await waitForState(customer, 'ended', 10000);
  assert.equal(
    await customer.evaluate(() => document.querySelector('actas-banner').getAttribute('data-end-reason')),
    'ticket_closed',
  );
  await shot(customer, 'story-banner-ended');

  // The console says so too.
  const consolePage = await context.newPage();
  await consolePage.goto(`${actas.base}${sessionPath}`);
  assert.match(await consolePage.locator('main').textContent(), /solved or closed/);
  await shot(consolePage, 'story-session-ended');
  await context.close();

  // The trail tells it in plain sentences; the customer note is queued.
  const text = cli(['audit', 'export', '--format', 'text']);
  assert.match(text, /Acme Zendesk sent ticket 90001 from Zendesk for acct_42/);
  assert.match(text, /Zendesk updated ticket 90001 for acct_42: status open to solved; its live session ended\./);
  assert.match(text, /Maria Lopez's session on acct_42 ended at \d\d:\d\d UTC because ticket 90001 was solved or closed in Acme Zendesk\./);
  const notes = await fetch(`${actas.base}/api/v1/notices`, { headers: { authorization: `Bearer ${appKey}` } });
  const { notices } = await notes.json();
  assert.equal(notices.length, 1);
  assert.equal(notices[0].data.end_reason, 'ticket_closed');
});
