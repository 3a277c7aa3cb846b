// Every console page, as the people who use it see it, on a desktop
// (1280 px) and a phone (375 px): an agent, a lead, an auditor and an admin
// sign in to a fresh actas with a small story behind it (tickets, a live
// session with a change and a refusal, an ended session, a request
// waiting, a denial, a refused request), and each page is shown at both
// widths. Each leaves a screenshot
// (target/screenshots/pages-NAME-WIDTH.png); at 375 px no page scrolls
// sideways; and axe-core finds nothing serious or critical on any of them
// (every violation found is printed).
//
// The console's Content-Security-Policy lets only its own script run, so
// axe cannot be injected into a page under it: axe runs in a second
// context of the same person that bypasses the policy, while the
// screenshots and the scroll checks run under the real policy.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { cliOn, launchBrowser, newDatabase, screenshots, serveOn, sidewaysScroll, signIn } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const PASSWORD = 'the console password of the pages test';
const WIDTHS = [1280, 375];
const ACCOUNT = { id: 'acct_42', name: 'Acme Corp' };
const REASON = 'Customer cannot change the invoice email after the plan change';
const STAFF = [
  ['maria', 'Maria Lopez', ['agent']],
  ['jon', 'Jon Park', ['agent']],
  ['sam', 'Sam Lee', ['lead', 'agent']],
  ['audrey', 'Audrey Kim', ['auditor']],
  ['ada', 'Ada Quinn', ['admin']],
  ['bea', 'Bea Stone', ['agent', 'breakglass']],
];

let dir;
let db;
let actas; // { base, child }
let browser;
let appKey;
const tokens = {};
const ids = {}; // request: Maria's waiting request; session: her live session; app: Acme Billing
const people = new Map(); // login -> { plain, axe } browser contexts, signed in

/** Calls the actas API with `token` (a staff token or the app key). */
async function api(method, p, token, body) {
  const res = await fetch(`${actas.base}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function must(want, method, p, token, body) {
  const r = await api(method, p, token, body);
  assert.equal(r.status, want, `${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'actas-pages-'));
  mkdirSync(screenshots, { recursive: true });
  db = newDatabase(dir, 'pages');
  for (const [login, name, roles] of STAFF) {
    const out = cliOn(db, ['staff', 'add', login, '--name', name, '--role', ...roles, '--password-stdin'], `${PASSWORD}\n`);
    tokens[login] = out.trim().split('\n').pop().trim();
  }
  const added = cliOn(db, ['app', 'add', 'Acme Billing', '--tickets', '--origin', 'http://127.0.0.1:9']).trim().split('\n');
  appKey = added.pop().trim();
  ids.app = added.join('\n').match(/ as (app_[A-Za-z0-9_]+)\./)[1];
  // A webhook to a receiver that is not there: its log shows failed attempts.
  const hook = cliOn(db, ['webhook', 'add', 'http://127.0.0.1:9/siem?token=t', '--events', '*']);
  assert.match(hook.trim().split('\n').pop(), /^whsec_/);
  actas = await serveOn(db, []);

  const ticket = (ref, subject, extra = {}) =>
    must(201, 'POST', '/tickets', appKey, {
      ref,
      account_id: ACCOUNT.id,
      account_name: ACCOUNT.name,
      subject,
      url: `https://tickets.example.test/${ref}`,
      ...extra,
    });
  await ticket('48192', 'Invoice email cannot be changed after the plan change', { assignee: 'maria', tags: ['invoice'] });
  await ticket('48193', 'Settings are not saved since yesterday', { assignee: 'maria', tags: ['settings'] });
  await ticket('48194', 'A data sync failed overnight', { tags: ['sync'] });

  // Maria's session: asked, approved by Sam, started; one change made and one action refused.
  const asked = await must(201, 'POST', '/requests', tokens.maria, {
    ticket: '48192',
    reason: REASON,
    actions: ['settings.view', 'invoices.view', 'invoice_email.update'],
  });
  await must(200, 'POST', `/requests/${asked.id}/approve`, tokens.sam, {});
  const started = await must(201, 'POST', `/requests/${asked.id}/start`, tokens.maria, {});
  ids.session = started.session.id;
  const token = started.token;
  await must(200, 'POST', '/authorize', appKey, {
    token,
    action: 'invoice_email.update',
    changes: [{ field: 'invoice_email', old: 'billing@acme.test', new: 'invoices@acme.test' }],
  });
  const refused = await must(200, 'POST', '/authorize', appKey, { token, action: 'billing.update' });
  assert.equal(refused.allowed, false);
  // One change Maria asks a lead for, left waiting: the queue shows it old to new, her session page lists it.
  await must(201, 'POST', `/sessions/${ids.session}/stepup`, token, {
    action: 'billing.update',
    target: { type: 'subscription', id: 'sub_42' },
    changes: [
      { field: 'plan', old: 'Business', new: 'Enterprise' },
      { field: 'billing_email', old: 'billing@acme.test', new: 'accounts-payable-and-procurement-team@acme-corporation.test' },
    ],
    reason: 'The customer asked on the call to move from Business to Enterprise before the renewal',
  });

  // A request of Maria's that waits for a lead, one of Jon's too, one of Jon's denied, and a refused one.
  const waiting = await must(201, 'POST', '/requests', tokens.maria, {
    ticket: '48193',
    reason: 'Settings are not saved since yesterday; checking the settings page and its history',
    actions: ['settings.view', 'activity.view', 'settings.update'],
  });
  ids.request = waiting.id;
  await must(201, 'POST', '/requests', tokens.jon, {
    ticket: '48194',
    reason: 'The overnight sync failed; resetting it once the logs are read',
    actions: ['activity.view', 'sync.reset'],
  });
  const denied = await must(201, 'POST', '/requests', tokens.jon, {
    ticket: '48194',
    reason: 'Changing the billing details the customer sent by e-mail',
    actions: ['billing.update'],
  });
  await must(200, 'POST', `/requests/${denied.id}/deny`, tokens.sam, { note: 'The customer changes billing details themselves.' });
  await must(422, 'POST', '/requests', tokens.jon, { ticket: '48194', reason: 'need access', actions: ['settings.view'] });

  // An ended session of Jon's, approved by the policy, so the measures have every step to chart.
  const viewed = await must(201, 'POST', '/requests', tokens.jon, {
    ticket: '48193',
    reason: 'Settings are not saved since yesterday; reading the settings page as the customer sees it',
    actions: ['settings.view'],
  });
  const jons = await must(201, 'POST', `/requests/${viewed.id}/start`, tokens.jon, {});
  await must(200, 'POST', '/authorize', appKey, { token: jons.token, action: 'settings.view' });
  await must(200, 'POST', `/sessions/${jons.session.id}/end`, tokens.jon, {});

  // Bea broke the glass in an outage; her session ended and waits for a lead's review.
  const glass = await must(201, 'POST', '/requests', tokens.bea, {
    ticket: '48194',
    reason: 'Sync outage: every account stuck since the overnight deploy and no lead answers',
    actions: ['activity.view', 'sync.reset'],
    breakglass: true,
  });
  const beas = await must(201, 'POST', `/requests/${glass.id}/start`, tokens.bea, {});
  ids.glass = beas.session.id;
  await must(200, 'POST', `/sessions/${ids.glass}/end`, tokens.bea, {});

  // The webhook's id, and at least one failed attempt in its log.
  for (let i = 0; i < 50 && !ids.webhook; i++) {
    const list = await must(200, 'GET', '/webhooks', tokens.ada);
    const w = list.webhooks[0];
    if (w && w.failures > 0) {
      ids.webhook = w.id;
    } else {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  assert.ok(ids.webhook, 'the webhook was tried');

  browser = await launchBrowser();
});

after(async () => {
  for (const p of people.values()) {
    await p.plain.close().catch(() => {});
    await p.axe.close().catch(() => {});
  }
  await browser?.close().catch(() => {});
  actas?.child.kill('SIGTERM');
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `login`'s two contexts (`null`: nobody signed in): one under the CSP, one for axe. */
async function contexts(login) {
  const key = login ?? '';
  if (!people.has(key)) {
    const plain = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const axe = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    if (login) {
      for (const c of [plain, axe]) {
        const page = await c.newPage();
        await signIn(page, actas.base, login, PASSWORD);
        await page.close();
      }
    }
    people.set(key, { plain, axe });
  }
  return people.get(key);
}

/** The serious and critical violations axe-core finds on `page`. */
async function axeViolations(page) {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ')}`),
      }));
  });
}

const PAGES = [
  { name: 'login', who: null, path: () => '/login' },
  { name: 'home-agent', who: 'maria', path: () => '/' },
  { name: 'launch', who: 'maria', path: () => '/launch?ticket=48193' },
  { name: 'request', who: 'maria', path: () => `/requests/${ids.request}` },
  { name: 'session', who: 'maria', path: () => `/sessions/${ids.session}` },
  { name: 'story', who: 'maria', path: () => `/sessions/${ids.session}/story` },
  { name: 'home-lead', who: 'sam', path: () => '/' },
  { name: 'queue', who: 'sam', path: () => '/queue' },
  { name: 'session-lead', who: 'sam', path: () => `/sessions/${ids.session}` },
  { name: 'accounts', who: 'sam', path: () => '/accounts?id=', status: 400 },
  { name: 'access-log', who: 'sam', path: () => `/accounts/${ACCOUNT.id}/access-log` },
  { name: 'measures', who: 'sam', path: () => '/measures' },
  { name: 'launch-breakglass', who: 'bea', path: () => '/launch?ticket=48194' },
  { name: 'session-breakglass', who: 'sam', path: () => `/sessions/${ids.glass}` },
  { name: 'home-auditor', who: 'audrey', path: () => '/' },
  { name: 'audit', who: 'audrey', path: () => '/audit' },
  { name: 'audit-verify', who: 'audrey', path: () => '/audit/verify' },
  { name: 'home-admin', who: 'ada', path: () => '/' },
  { name: 'staff', who: 'ada', path: () => '/staff' },
  { name: 'staff-member', who: 'ada', path: () => '/staff/maria' },
  { name: 'apps', who: 'ada', path: () => '/apps' },
  { name: 'app', who: 'ada', path: () => `/apps/${ids.app}` },
  { name: 'policy', who: 'ada', path: () => '/policy' },
  { name: 'webhooks', who: 'ada', path: () => '/webhooks' },
  { name: 'webhook', who: 'ada', path: () => `/webhooks/${ids.webhook}` },
];

for (const p of PAGES) {
  test(`${p.name}: ${p.who ?? 'nobody signed in'} sees it at ${WIDTHS.join(' and ')} px, with no sideways scroll on a phone and no serious axe finding`, async () => {
    const { plain, axe } = await contexts(p.who);
    const want = p.status ?? 200;
    const found = [];
    for (const width of WIDTHS) {
      const viewport = { width, height: width < 600 ? 800 : 900 };
      const page = await plain.newPage();
      await page.setViewportSize(viewport);
      try {
        const res = await page.goto(`${actas.base}${p.path()}`);
        assert.equal(res.status(), want, `${p.name} at ${width} px: ${res.status()} ${page.url()}`);
        await page.screenshot({ path: path.join(screenshots, `pages-${p.name}-${width}.png`), fullPage: true });
        if (width < 600) {
          const wider = await page.evaluate(() =>
            [...document.querySelectorAll('body *')]
              .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
              .slice(0, 5)
              .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${[...el.classList].join('.')} (${Math.round(el.getBoundingClientRect().right)} px)`),
          );
          assert.equal(await sidewaysScroll(page), 0, `${p.path()} scrolls sideways at ${width} px: ${wider.join(', ')}`);
        }
      } finally {
        await page.close();
      }
      const checked = await axe.newPage();
      await checked.setViewportSize(viewport);
      try {
        await checked.goto(`${actas.base}${p.path()}`);
        for (const v of await axeViolations(checked)) {
          found.push({ width, ...v });
        }
      } finally {
        await checked.close();
      }
    }
    if (found.length) {
      console.log(`axe on ${p.name} (${p.path()}):\n${JSON.stringify(found, null, 2)}`);
    }
    assert.deepEqual(
      found.map((v) => `${v.width} px: ${v.impact} ${v.id}: ${v.help}`),
      [],
      `axe finds serious or critical problems on ${p.name}`,
    );
  });
}

// The admin forms and the pages they answer: each is filled in and sent
// in the context under the CSP (once per width, so what it adds is named
// after the width); axe then reads the very page answered, served again to
// its own context at a path of the same origin.
const FORMS = [
  {
    name: 'staff-added',
    path: '/staff',
    fill: async (page, width) => {
      await page.getByLabel('Login', { exact: true }).fill(`nora${width}`);
      await page.getByLabel('Name', { exact: true }).fill(`Nora Diaz ${width}`);
      await page.getByRole('checkbox', { name: /^auditor\b/ }).check();
      await page.getByLabel('Console password (optional)').fill('a long enough console password');
      await page.getByRole('button', { name: 'Add the staff member' }).click();
    },
    status: 200,
    shows: '#token',
  },
  {
    name: 'staff-refused',
    path: '/staff',
    fill: async (page) => {
      await page.getByLabel('Login', { exact: true }).fill('nina');
      await page.getByLabel('Name', { exact: true }).fill('Nina Park');
      await page.getByRole('checkbox', { name: /^agent\b/ }).check();
      await page.getByLabel('Console password (optional)').fill('short');
      await page.getByRole('button', { name: 'Add the staff member' }).click();
    },
    status: 422,
    shows: '#password-error',
  },
  {
    name: 'staff-roles-saved',
    path: '/staff/jon',
    fill: async (page) => {
      await page.getByRole('checkbox', { name: /^lead\b/ }).check();
      await page.getByRole('button', { name: 'Save the roles' }).click();
    },
    status: 200,
    shows: '.ok',
  },
  {
    name: 'staff-password-refused',
    path: '/staff/jon',
    fill: async (page) => {
      await page.getByLabel('New console password').fill('too short');
      await page.getByRole('button', { name: 'Set the password' }).click();
    },
    status: 422,
    shows: '#password-error',
  },
  {
    name: 'staff-password-set',
    path: '/staff/jon',
    fill: async (page) => {
      await page.getByLabel('New console password').fill('a new console password for Jon');
      await page.getByRole('button', { name: 'Set the password' }).click();
    },
    status: 200,
    shows: '.ok',
  },
  {
    name: 'app-connector-refused',
    title: '/apps/{id}',
    get path() {
      return `/apps/${ids.app}`;
    },
    fill: async (page) => {
      await page.getByLabel('Ticket system', { exact: true }).selectOption('jira');
      await page.locator('#secret').fill('too short');
      await page.getByRole('button', { name: 'Add the connector' }).click();
    },
    status: 422,
    shows: '#secret-error',
  },
  {
    // The first width adds the connector, the second replaces its secret.
    name: 'app-connector-set',
    title: '/apps/{id}',
    get path() {
      return `/apps/${ids.app}`;
    },
    fill: async (page) => {
      const add = (await page.getByLabel('Ticket system', { exact: true }).count()) > 0;
      if (add) await page.getByLabel('Ticket system', { exact: true }).selectOption('zendesk');
      await page.locator('#secret').fill('zendesk-signing-secret-0123456789');
      await page.getByRole('button', { name: add ? 'Add the connector' : 'Replace the secret' }).click();
    },
    status: 200,
    shows: '.ok',
  },
  {
    name: 'app-registered',
    path: '/apps',
    fill: async (page, width) => {
      await page.getByLabel('Name', { exact: true }).fill(`Support Desk ${width}`);
      await page.getByRole('checkbox', { name: 'May push tickets' }).check();
      await page.getByLabel('Web origins').fill('https://desk.example.test\nhttps://admin.desk.example.test');
      await page.getByLabel('Ticket system', { exact: true }).selectOption('zendesk');
      await page.getByLabel('Webhook secret').fill('zendesk-signing-secret-0123456789');
      await page.getByRole('button', { name: 'Register the app' }).click();
    },
    status: 200,
    shows: '#key',
  },
  {
    name: 'app-refused',
    path: '/apps',
    fill: async (page) => {
      await page.getByLabel('Name', { exact: true }).fill('Broken Desk');
      await page.getByLabel('Web origins').fill('https://desk.example.test/with/a/path');
      await page.getByRole('button', { name: 'Register the app' }).click();
    },
    status: 422,
    shows: '#origins-error',
  },
];

for (const f of FORMS) {
  test(`${f.name}: an admin sends the form on ${f.title ?? f.path} at ${WIDTHS.join(' and ')} px; the page answered has no sideways scroll and no serious axe finding`, async () => {
    const { plain, axe } = await contexts('ada');
    const found = [];
    for (const width of WIDTHS) {
      const viewport = { width, height: width < 600 ? 800 : 900 };
      const page = await plain.newPage();
      await page.setViewportSize(viewport);
      let html;
      try {
        await page.goto(`${actas.base}${f.path}`);
        const [res] = await Promise.all([page.waitForNavigation(), f.fill(page, width)]);
        assert.equal(res.status(), f.status, `${f.name} at ${width} px: ${res.status()} ${page.url()}`);
        assert.ok(await page.locator(f.shows).first().isVisible(), `${f.name}: ${f.shows} is shown`);
        await page.screenshot({ path: path.join(screenshots, `pages-${f.name}-${width}.png`), fullPage: true });
        if (width < 600) {
          assert.equal(await sidewaysScroll(page), 0, `${f.name} scrolls sideways at ${width} px`);
        }
        html = await page.content();
      } finally {
        await page.close();
      }
      const checked = await axe.newPage();
      await checked.setViewportSize(viewport);
      const again = `${actas.base}/__answered/${f.name}`;
      await checked.route(again, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
      try {
        await checked.goto(again);
        for (const v of await axeViolations(checked)) {
          found.push({ width, ...v });
        }
      } finally {
        await checked.close();
      }
    }
    if (found.length) {
      console.log(`axe on ${f.name}:\n${JSON.stringify(found, null, 2)}`);
    }
    assert.deepEqual(
      found.map((v) => `${v.width} px: ${v.impact} ${v.id}: ${v.help}`),
      [],
      `axe finds serious or critical problems on ${f.name}`,
    );
  });
}

test('the nav marks the page being shown, and the story page prints without the frame', async () => {
  const { plain } = await contexts('audrey');
  const page = await plain.newPage();
  try {
    await page.goto(`${actas.base}/audit/verify`);
    const current = page.getByRole('navigation').locator('a[aria-current="page"]');
    assert.deepEqual(await current.allInnerTexts(), ['Verify the trail']);
    await page.goto(`${actas.base}/sessions/${ids.session}/story`);
    const lines = await page.locator('#story li').allInnerTexts();
    assert.ok(lines.some((l) => /asked to act as Acme Corp \(acct_42\) under ticket 48192/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /was refused "Change billing details"/.test(l)), lines.join('\n'));
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.top').isVisible(), false, 'the frame is printed');
    assert.ok(await page.locator('#story').isVisible());
    await page.screenshot({ path: path.join(screenshots, 'pages-story-print.png'), fullPage: true });
  } finally {
    await page.close();
  }
});
