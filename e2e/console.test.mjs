// The staff console (SPEC §3, §7) in a real browser, playing the simple
// support case from start to finish in one `actas demo`: Maria signs in,
// opens the request form from ticket 48192, sees the actions grouped (view,
// needs a lead's approval, sensitive), what she will and will not be able to
// do as she ticks and the planned start and end as the duration changes, is
// refused a vague reason, then asks with a specific one; Sam, whose queue is
// open, reads the request in one card, narrows it through "Change before
// approving" and approves it, sees the confirmation, and cannot approve a
// request of his own; on a phone he approves Jon's request with one click
// and denies another with a reason; Maria starts the session,
// enters Acme Billing under the banner, changes the invoice email, is
// refused the plan change and ends the session in the console. The session
// page, the account's access log, the customer's page in Acme Billing and
// Audrey's audit search and CSV export then tell what happened. Around the
// story: forms without the CSRF token change nothing, an agent reaches no
// auditor or admin page, the pages fit a 375 px phone and the request form
// works from the keyboard. Each step leaves target/screenshots/console-*.png.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  DEMO_PASSWORD,
  focusedAccessible,
  launchBrowser,
  screenshots,
  shot,
  sidewaysScroll,
  signIn,
  startDemo,
  waitForState,
} from './lib.mjs';

const TICKET = '48192';
const ACCOUNT = { id: 'acct_42', name: 'Acme Corp' };
const ACCOUNT_LABEL = `${ACCOUNT.name} (${ACCOUNT.id})`;
const VAGUE = 'need access';
const REASON = "Customer can't update tax settings after plan change";
const ASKED = ['View account settings', 'Update account settings'];
const GRANTED = ['View account settings', 'Update invoice email'];
const GRANTED_NAMES = ['settings.view', 'invoice_email.update'];
const OLD_EMAIL = 'billing@acme.test';
const NEW_EMAIL = 'tax-invoices@acme.test';
const CHANGE = `changed invoice email from ${OLD_EMAIL} to ${NEW_EMAIL}`;
const NOT_APPROVED =
  'actas refused this, so nothing was done: this action is not among those approved for the support session.';
const CSRF_REFUSED = 'This form is out of date or did not come from the console, so nothing was done.';
const QUEUE_REFRESH_MS = 3000;

let demo; // the running `actas demo`
let browser;
let maria; // Maria's browser context
let mariaPage; // her page, from the sign-in to the end of the session
let sam; // Sam's browser context and page: { context, page }
let requestId; // Maria's request under ticket 48192
let sessionId; // the session started from it
let ownRequestId; // Sam's own request, which he cannot approve

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await demo?.stop();
});

/** Calls the actas API as `login` (a demo staff member). */
function api(method, p, login, body) {
  return demo.api(method, p, login, body);
}

async function must(want, method, p, login, body) {
  const r = await api(method, p, login, body);
  assert.equal(r.status, want, `${method} ${p} as ${login}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A new browser context and page for `login`, signed in to the console. */
async function person(login, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  await signIn(page, demo.actas, login, demo.password);
  return { context, page };
}

const consoleUrl = (p) => `${demo.actas}${p}`;
const billing = (p) => `${demo.billing}${p}`;

/** A screenshot of the whole page, `target/screenshots/console-STEP.png`. */
const snap = (page, step) => page.screenshot({ path: path.join(screenshots, `console-${step}.png`), fullPage: true });

/** The texts of the items of a list on the page. */
const items = (page, selector) => page.locator(`${selector} li`).allInnerTexts();

/** A checkbox of the request form by the start of its label. */
const box = (scope, label) => scope.getByRole('checkbox', { name: new RegExp(`^${esc(label)}\\b`) });

/** Maria's requests under the ticket, as the API tells them to her. */
async function mariasRequests() {
  const { requests } = await must(200, 'GET', '/requests', 'maria');
  return requests.filter((r) => r.ticket === TICKET);
}

/** Sam's queue card of a request by `name` under `ticket`. */
const card = (page, name, ticket) =>
  page.locator('article').filter({ has: page.getByRole('heading', { name: `${name}, ticket ${ticket}` }) });

/** The CSRF token of the console page open in `page` (every page's sign-out form has it). */
const csrfOf = (page) => page.locator('input[name="csrf"]').first().inputValue();

/**
 * Posts a form to the console with the browser context's cookies (the
 * signed-in person's session), as a page that is not the console's own form
 * could: `fields` are `[name, value]` pairs, names may repeat.
 */
async function postForm(context, path, fields) {
  const res = await context.request.post(consoleUrl(path), {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    data: new URLSearchParams(fields).toString(),
    maxRedirects: 0,
  });
  const body = await res.text();
  const main = body.match(/<main>([\s\S]*)<\/main>/);
  const text = (main ? main[1] : body).replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return { status: res.status(), location: res.headers().location ?? null, text };
}

test('the demo prints where to sign in to the console and the password', () => {
  const out = demo.output();
  assert.ok(out.includes(`${demo.actas}/login`), `no console address in:\n${out}`);
  assert.ok(out.includes(DEMO_PASSWORD), out);
  assert.equal(demo.password, DEMO_PASSWORD);
});

test('Maria signs in and opens the request form from ticket 48192', async () => {
  maria = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await maria.newPage();
  await page.goto(consoleUrl('/launch?ticket=48192'));
  assert.equal(new URL(page.url()).pathname, '/login', 'the console let someone in without signing in');
  await page.getByLabel('Login').fill('maria');
  await page.getByLabel('Password').fill(demo.password);
  await snap(page, 'login');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  assert.match(await page.locator('main').innerText(), /Signed in as Maria Lopez \(maria; agent\)/);

  const res = await page.goto(consoleUrl(`/launch?ticket=${TICKET}`));
  assert.equal(res.status(), 200);
  const text = await page.locator('main').innerText();
  assert.ok(text.includes(`Customer account: ${ACCOUNT_LABEL}`), text);
  assert.ok(text.includes("Subject: Customer can't update tax settings after plan change"), text);
  assert.deepEqual(await items(page, '#will'), ['Nothing yet: tick at least one action.']);
  // The planned start and end, as the server wrote them and as the script keeps them.
  const served = await page.context().request.get(consoleUrl(`/launch?ticket=${TICKET}`));
  const html = await served.text();
  const start = html.match(/id="plan-start">([^<]*)</)[1];
  const end = html.match(/id="plan-end">([^<]*)</)[1];
  assert.equal(start, 'now, when you start it');
  assert.match(end, /^\d\d:\d\d UTC if you start it now \(15 minutes\)$/);
  assert.equal(await page.locator('#plan-start').innerText(), start);
  assert.match(await page.locator('#plan-end').innerText(), /^\d\d:\d\d UTC if you start it now \(15 minutes\)$/);
  await snap(page, 'launch');
  await shot(page, 'console-request-form');
  mariaPage = page;
});

test('the request form groups the actions, flags the risky ones and gives every row a large target', async () => {
  const page = mariaPage;
  const headings = await page
    .locator('#request-form .choices h3')
    .evaluateAll((hs) => hs.map((h) => h.firstChild.textContent.trim()));
  assert.deepEqual(headings, ['View', "Needs a lead's approval", 'Sensitive']);
  const group = (name) => page.getByRole('group', { name: new RegExp(`^${esc(name)}\\b`) });
  assert.equal(await box(group("Needs a lead's approval"), ASKED[1]).count(), 1, 'a risky change is not under "Needs a lead"');
  assert.equal(await box(group('View'), ASKED[1]).count(), 0, 'an action is in two groups');
  assert.equal(await box(group('Sensitive'), 'View sensitive records').count(), 1);
  assert.match(await box(page, ASKED[1]).getAttribute('data-approval'), /^required$/);
  assert.match(
    await page.locator('label.choice', { has: page.locator(`input[value="settings.update"]`) }).innerText(),
    /needs a lead's approval/,
  );
  // Every row: a box of at least 20 px, a row of at least 24 px, and the
  // row's words tick the box.
  const sizes = await page.locator('#request-form label.choice').evaluateAll((ls) =>
    ls.map((l) => {
      const b = l.querySelector('input').getBoundingClientRect();
      const r = l.getBoundingClientRect();
      return { box: Math.min(b.width, b.height), row: r.height, name: l.innerText };
    }),
  );
  assert.equal(sizes.length, 22);
  for (const s of sizes) {
    assert.ok(s.box >= 20 && s.row >= 24, JSON.stringify(s));
  }
  const row = page.locator('label.choice', { has: page.locator('input[value="plan.view"]') });
  await row.locator('.choice-label').click();
  assert.ok(await box(page, 'View the plan').isChecked(), 'clicking the words did not tick the box');
  await row.locator('.choice-label').click();
  assert.ok(!(await box(page, 'View the plan').isChecked()));
  await shot(page, 'console-request-form-groups');
});

test('Sam opens the approval queue before Maria asks', async () => {
  sam = await person('sam');
  const res = await sam.page.goto(consoleUrl('/queue'));
  assert.equal(res.status(), 200);
  assert.match(await sam.page.locator('main').innerText(), /No request waits for a decision\./);
  await snap(sam.page, 'queue-empty');
});

test('the lists of what Maria will and will not be able to do follow her ticks before she submits', async () => {
  const page = mariaPage;
  const before = await items(page, '#wont');
  assert.ok(before.includes(ASKED[0]) && before.includes(ASKED[1]), before.join(' | '));

  await box(page, ASKED[0]).check();
  assert.deepEqual(await items(page, '#will'), [ASKED[0]]);
  assert.match(await page.locator('#approval').innerText(), /Approved by policy at once/);

  await box(page, ASKED[1]).check();
  assert.deepEqual(await items(page, '#will'), ASKED);
  const wont = await items(page, '#wont');
  assert.ok(!wont.includes(ASKED[0]) && !wont.includes(ASKED[1]), wont.join(' | '));
  assert.ok(wont.includes('Update invoice email') && wont.includes('Change billing details'), wont.join(' | '));
  assert.equal(wont.length + 2, before.length, 'every action is in exactly one list');
  assert.equal(
    (await page.locator('#approval').innerText()).trim(),
    'A lead must approve this request before you can start the session.',
  );
  // The planned start and end follow: a lead decides first; the end moves with the duration.
  assert.equal(await page.locator('#plan-start').innerText(), 'as soon as a lead approves');
  const at15 = await page.locator('#plan-end').innerText();
  assert.match(at15, /^15 minutes after you start it: \d\d:\d\d UTC at the earliest$/);
  await page.getByLabel('For how long').selectOption('25');
  const at25 = await page.locator('#plan-end').innerText();
  assert.match(at25, /^25 minutes after you start it: \d\d:\d\d UTC at the earliest$/);
  const minutesOf = (t) => {
    const [h, m] = t.match(/(\d\d):(\d\d) UTC/).slice(1).map(Number);
    return h * 60 + m;
  };
  assert.ok([10, 11].includes((minutesOf(at25) - minutesOf(at15) + 1440) % 1440), `${at15} → ${at25}`);
  await snap(page, 'launch-ticked');
  await page.getByLabel('For how long').selectOption('15');
  assert.equal(new URL(page.url()).pathname, '/launch', 'the lists changed by a page load');
});

test('a vague reason is refused next to the reason field, the form is kept and no request is made', async () => {
  const page = mariaPage;
  await page.getByLabel('Reason').fill(VAGUE);
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url() === consoleUrl('/requests') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Ask for access' }).click(),
  ]);
  assert.equal(res.status(), 422);
  await page.waitForLoadState();
  const error = page.locator('#reason-error');
  assert.equal(
    (await error.innerText()).trim(),
    `"${VAGUE}" is too vague: name the customer's problem, for example "${REASON}".`,
  );
  // Next to the field: tied to it for screen readers, and just above it on screen.
  const reason = page.getByLabel('Reason');
  assert.match((await reason.getAttribute('aria-describedby')) ?? '', /\breason-error\b/);
  const e = await error.boundingBox();
  const r = await reason.boundingBox();
  assert.ok(e.y < r.y && r.y - (e.y + e.height) < 40, `error at ${JSON.stringify(e)}, field at ${JSON.stringify(r)}`);
  // What she wrote and ticked is kept; only one error is shown.
  assert.equal(await reason.inputValue(), VAGUE);
  assert.ok(await box(page, ASKED[0]).isChecked());
  assert.ok(await box(page, ASKED[1]).isChecked());
  assert.deepEqual(await items(page, '#will'), ASKED);
  assert.equal(await page.locator('.error, .alert').count(), 1);
  await snap(page, 'vague-reason');

  assert.deepEqual(await mariasRequests(), [], 'a request was made from a vague reason');
});

test('a specific reason opens a pending request', async () => {
  const page = mariaPage;
  await page.getByLabel('Reason').fill(REASON);
  await Promise.all([
    page.waitForURL((u) => /^\/requests\/[^/]+$/.test(u.pathname)),
    page.getByRole('button', { name: 'Ask for access' }).click(),
  ]);
  requestId = new URL(page.url()).pathname.split('/').pop();
  assert.equal((await page.locator('#status').innerText()).trim(), "Waiting for a lead's decision");
  const text = await page.locator('main').innerText();
  assert.ok(text.includes(`Reason: ${REASON}`) || text.includes(`Reason: “${REASON}”`), text);
  assert.ok(text.includes(`Ticket ${TICKET}, customer account ${ACCOUNT_LABEL}`), text);
  await snap(page, 'request-pending');

  const mine = await mariasRequests();
  assert.equal(mine.length, 1, JSON.stringify(mine));
  assert.equal(mine[0].id, requestId);
  assert.equal(mine[0].status, 'pending');
  assert.equal(mine[0].reason, REASON);
  assert.deepEqual(mine[0].actions.map((a) => a.label), ASKED);
});

test("Maria's request appears in Sam's open queue without a reload", async () => {
  const page = sam.page;
  const navigations = [];
  const record = (frame) => frame === page.mainFrame() && navigations.push(frame.url());
  page.on('framenavigated', record);
  try {
    await card(page, 'Maria Lopez', TICKET).waitFor({ timeout: QUEUE_REFRESH_MS * 2 + 2000 });
  } finally {
    page.off('framenavigated', record);
  }
  assert.deepEqual(navigations, [], 'the queue was loaded again to show the request');
  const c = card(page, 'Maria Lopez', TICKET);
  const text = await c.innerText();
  assert.ok(text.includes(REASON), text);
  assert.ok(text.includes(ACCOUNT_LABEL), text);
  assert.ok(text.includes(`Ticket ${TICKET}: Customer can't update tax settings after plan change`), text);
  assert.match(text, /15 minutes · starts when Maria Lopez starts it, at the latest \d\d:\d\d UTC · ends at the latest \d\d:\d\d UTC/);
  assert.deepEqual(await c.locator('ul.asked').first().locator('li').allInnerTexts(), [
    `View ${ASKED[0]}`,
    `Needs a lead ${ASKED[1]}`,
  ]);
  // One glance, one click: no checkbox shows until Sam asks to change the request.
  assert.equal(await c.getByRole('checkbox').count(), 0, 'the card shows checkboxes before "Change before approving"');
  assert.ok(await c.getByRole('button', { name: 'Approve', exact: true }).isVisible());
  await snap(page, 'queue-live');
  await shot(page, 'console-queue-card');
});

test('Sam narrows the request to viewing settings and the invoice email, and approves it', async () => {
  const page = sam.page;
  const c = card(page, 'Maria Lopez', TICKET);
  if ((await c.count()) === 0) {
    await page.reload(); // stand alone when the queue did not refresh itself
  }
  await c.getByText('Change before approving').click();
  // The boxes are grouped like the request form's, the risky one under its heading.
  const lead = c.getByRole('group', { name: /^Needs a lead's approval\b/ });
  assert.equal(await box(lead, ASKED[1]).count(), 1);
  assert.ok(await box(c, ASKED[0]).isChecked());
  assert.ok(await box(c, ASKED[1]).isChecked());
  await box(c, ASKED[1]).uncheck();
  await box(c, GRANTED[1]).check();
  // The queue refreshes itself; what Sam is ticking must survive it.
  await page.waitForTimeout(QUEUE_REFRESH_MS + 1000);
  assert.ok(await box(c, GRANTED[0]).isChecked(), 'a refresh of the queue undid a tick');
  assert.ok(!(await box(c, ASKED[1]).isChecked()), 'a refresh of the queue undid an untick');
  assert.ok(await box(c, GRANTED[1]).isChecked(), 'a refresh of the queue undid a tick');
  await snap(page, 'queue-narrowed');

  await Promise.all([
    page.waitForURL((u) => u.pathname === '/queue' && u.searchParams.get('decided') === requestId),
    c.getByRole('button', { name: 'Approve with these changes' }).click(),
  ]);
  assert.equal(new URL(page.url()).pathname, '/queue');
  const done = page.locator('p.ok[role="status"]');
  assert.ok(await done.isVisible(), 'no confirmation after the approval');
  assert.match(
    (await done.innerText()).trim(),
    new RegExp(
      `^Approved Maria Lopez's request for ticket ${TICKET}: it can be started until \\d\\d:\\d\\d UTC ` +
        `and ends at the latest \\d\\d:\\d\\d UTC\\. As changed: ${GRANTED.join(', ')}; 15 minutes\\.$`,
    ),
  );
  assert.equal(await card(page, 'Maria Lopez', TICKET).count(), 0, 'the approved request is still in the queue');
  await snap(page, 'queue-approved');
  await shot(page, 'console-queue-approved');

  const r = await must(200, 'GET', `/requests/${requestId}`, 'sam');
  assert.equal(r.status, 'approved');
  assert.equal(r.decided_by, 'sam');
  assert.deepEqual(r.granted_actions.map((a) => a.name), GRANTED_NAMES);
  assert.deepEqual(r.actions.map((a) => a.label), ASKED, 'the original request was not kept');
});

test('Sam cannot approve a request of his own, in the queue or through the API', async () => {
  const own = await must(201, 'POST', '/requests', 'sam', {
    ticket: '48194',
    reason: 'Customer was charged twice in October and needs one charge refunded',
    actions: ['invoices.view', 'refund.issue'],
  });
  assert.equal(own.status, 'pending');
  ownRequestId = own.id;

  const page = sam.page;
  await page.goto(consoleUrl('/queue'));
  const c = card(page, 'Sam Lee', '48194');
  await c.waitFor();
  const approve = c.getByRole('button', { name: 'Approve' });
  assert.equal(await approve.count(), 0, 'Sam is offered to approve his own request');
  assert.equal(await c.locator('form').count(), 0, JSON.stringify(await c.innerText()));
  assert.match(await c.innerText(), /You asked for this; another lead decides it\./);
  await snap(page, 'queue-own-request');

  // The console's own form handler refuses it too, with a valid CSRF token.
  const posted = await approveOwn(page);
  assert.equal(posted.status, 403, posted.text);

  const refused = await api('POST', `/requests/${own.id}/approve`, 'sam', {});
  assert.equal(refused.status, 403);
  assert.equal(refused.body.type, 'urn:actas:problem:self-approval');
  assert.equal((await must(200, 'GET', `/requests/${own.id}`, 'sam')).status, 'pending');
});

/** Sam posts the approval of his own request to the console, with his CSRF token. */
async function approveOwn(page) {
  return postForm(sam.context, `/requests/${ownRequestId}/approve`, [
    ['csrf', await csrfOf(page)],
    ['actions', 'invoices.view'],
    ['actions', 'refund.issue'],
  ]);
}

test('the console tells Sam why it refused to approve his own request', async () => {
  const posted = await approveOwn(sam.page);
  assert.equal(posted.status, 403, posted.text);
  assert.ok(posted.text.includes('Nobody may decide their own request.'), posted.text);
});

test('Maria sees the approval, starts the session and gets the link into the host app', async () => {
  const page = mariaPage;
  await page.reload();
  // When the approval runs out, relative to the server's clock; the exact
  // moment is in the <time>'s datetime.
  assert.match(await page.locator('#status').innerText(), /^Approved: start it; the approval runs out in \d+ min · \d\d:\d\d UTC$/);
  assert.match(await page.locator('#status time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(await items(page, '#will'), GRANTED);
  const text = await page.locator('main').innerText();
  assert.ok(text.includes('Decided by Sam Lee'), text);
  await snap(page, 'request-approved');

  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/requests/${requestId}/start`) && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Start the session' }).click(),
  ]);
  assert.equal(res.status(), 303, 'Start answers with the session page, so a reload does not post again');
  await page.waitForURL((u) => /\/sessions\/ses_[^/?]+\?started=1$/.test(u.href));
  assert.equal((await page.locator('#started').innerText()).trim(), 'The session has started.');
  const open = page.getByRole('button', { name: 'Open in the host app' });
  assert.ok(await open.isVisible());
  assert.ok(!(await page.content()).includes('eyJ'), 'the console page holds no token');
  assert.match(await page.locator('#state').innerText(), /^Live: ends in \d+ min · \d\d:\d\d UTC, or in \d+ min · \d\d:\d\d UTC without activity$/);
  assert.equal(await page.locator('#state time[datetime]').count(), 2);
  await snap(page, 'session-started');

  // A reload keeps the way in: the page offers entry while the session is live.
  await page.reload();
  assert.ok(await page.getByRole('button', { name: 'Open in the host app' }).isVisible());

  const r = await must(200, 'GET', `/requests/${requestId}`, 'maria');
  assert.equal(r.status, 'started');
  sessionId = r.session_id ?? r.sessions[0].id;
  assert.ok(sessionId, JSON.stringify(r));
});

test('Maria opens Acme Billing from the session page under the banner and changes the invoice email', async () => {
  const page = mariaPage;
  let referer = 'not seen';
  page.on('request', (r) => {
    if (r.url().startsWith(`${demo.billing}/support/enter`)) {
      referer = r.headers().referer ?? null;
    }
  });
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(billing(`/accounts/${ACCOUNT.id}/settings`))),
    page.getByRole('button', { name: 'Open in the host app' }).click(),
  ]);
  assert.equal(referer, null, 'the console page leaked its address as a Referer');
  assert.ok(!page.url().includes('code='), 'the entry code stays out of the landing address');
  await waitForState(page, 'live');
  assert.equal(
    await page.evaluate(() => document.querySelector('actas-banner').getAttribute('data-allowed')),
    GRANTED.join(', '),
  );
  await shot(page, 'console-billing-entered');

  const email = page.locator('input[name="invoice_email"]');
  assert.equal(await email.inputValue(), OLD_EMAIL);
  await email.fill(NEW_EMAIL);
  const [saved] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/invoice-email') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Save invoice email' }).click(),
  ]);
  assert.equal(saved.status(), 200);
  assert.equal((await page.locator('#saved').innerText()).trim(), 'Invoice email saved.');
  assert.equal(await page.locator('input[name="invoice_email"]').inputValue(), NEW_EMAIL);
  await waitForState(page, 'live');
  await shot(page, 'console-billing-invoice-email-saved');
});

test('the plan change, outside the approved actions, is refused in plain words', async () => {
  const page = mariaPage;
  // The Plan page itself is not among what Sam approved.
  const [viewed] = await Promise.all([
    page.waitForResponse((r) => r.url() === billing(`/accounts/${ACCOUNT.id}/plan`)),
    page.getByRole('link', { name: 'Plan' }).click(),
  ]);
  assert.equal(viewed.status(), 403);
  assert.equal((await page.locator('#refusal').innerText()).trim(), NOT_APPROVED);
  assert.equal(await page.locator('#plan').count(), 0, 'the plan was shown anyway');

  // The change itself, sent as the plan form sends it, is refused as well.
  const [changed] = await Promise.all([
    page.waitForResponse((r) => r.url() === billing(`/accounts/${ACCOUNT.id}/plan`) && r.request().method() === 'POST'),
    page.evaluate((action) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = action;
      const s = document.createElement('input');
      s.name = 'plan';
      s.value = 'Enterprise';
      f.append(s);
      document.body.append(f);
      f.submit();
    }, `/accounts/${ACCOUNT.id}/plan`),
  ]);
  assert.equal(changed.status(), 403);
  await page.waitForLoadState();
  assert.equal((await page.locator('#refusal').innerText()).trim(), NOT_APPROVED);
  await waitForState(page, 'live');
  await shot(page, 'console-billing-plan-refused');
});

test('forms posted without the CSRF token are refused and change nothing', async () => {
  const before = await mariasRequests();
  const fields = [
    ['ticket', TICKET],
    ['reason', 'Customer asks for the tax id to be corrected on every invoice'],
    ['actions', 'settings.view'],
    ['minutes', '15'],
  ];
  const created = await postForm(maria, '/requests', fields);
  assert.equal(created.status, 403, created.text);
  assert.ok(created.text.includes(CSRF_REFUSED), created.text);
  const wrong = await postForm(maria, '/requests', [['csrf', 'not-the-token'], ...fields]);
  assert.equal(wrong.status, 403);
  assert.deepEqual(await mariasRequests(), before, 'a request was made without the CSRF token');

  const ended = await postForm(maria, `/sessions/${sessionId}/end`, []);
  assert.equal(ended.status, 403, ended.text);
  assert.ok(ended.text.includes(CSRF_REFUSED), ended.text);
  assert.equal((await must(200, 'GET', `/sessions/${sessionId}`, 'maria')).state, 'live');

  // A page of another site cannot post with Maria's sign-in either: the cookie is SameSite=Strict.
  const cookie = (await maria.cookies(demo.actas)).find((c) => c.name === 'actas_console');
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
});

test('back in the console Maria ends the session', async () => {
  const page = mariaPage;
  await page.goto(consoleUrl('/'));
  await page.getByRole('link', { name: 'Open the session and its timeline' }).click();
  await page.waitForURL((u) => u.pathname === `/sessions/${sessionId}`);
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/sessions/${sessionId}/end`) && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'End the session' }).click(),
  ]);
  await page.waitForURL((u) => u.pathname === `/sessions/${sessionId}`);
  assert.match(await page.locator('#state').innerText(), /^Ended (just now|\d+ min ago) · \d\d:\d\d UTC: the agent ended it$/);
  assert.match(await page.locator('#state time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(await page.getByRole('button', { name: 'End the session' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Open in the host app' }).count(), 0, 'no way in once ended');
  await snap(page, 'session-ended');

  const s = await must(200, 'GET', `/sessions/${sessionId}`, 'maria');
  assert.equal(s.state, 'ended');
  assert.equal(s.end_reason, 'ended');
});

test('the session page tells the story in plain sentences', async () => {
  const page = mariaPage;
  await page.goto(consoleUrl(`/sessions/${sessionId}`));
  const lines = await items(page, '#timeline');
  const all = lines.join('\n');
  const has = (re) => assert.ok(lines.some((l) => re.test(l)), `no line matches ${re}:\n${all}`);
  has(
    new RegExp(
      `Maria Lopez asked to act as ${esc(ACCOUNT_LABEL)} under ticket ${TICKET} for 15 minutes: "${esc(REASON)}"\\. ` +
        `Actions: ${ASKED.join(', ')}\\.`,
    ),
  );
  has(
    new RegExp(
      `Sam Lee approved Maria Lopez's request under ticket ${TICKET}, ` +
        `narrowed to: ${GRANTED.join(', ')}; 15 minutes\\.`,
    ),
  );
  has(
    new RegExp(
      `Maria Lopez started acting as ${esc(ACCOUNT_LABEL)} under ticket ${TICKET} at \\d\\d:\\d\\d UTC, ` +
        `until \\d\\d:\\d\\d UTC, approved by Sam Lee\\. Allowed: ${GRANTED.join(', ')}\\.`,
    ),
  );
  has(
    new RegExp(
      `Maria Lopez changed invoice email from ${esc(OLD_EMAIL)} to ${esc(NEW_EMAIL)} on ${esc(ACCOUNT_LABEL)} ` +
        `at \\d\\d:\\d\\d UTC under ticket ${TICKET}, acting as the customer\\.`,
    ),
  );
  for (const label of ['View the plan', 'Change billing details']) {
    has(
      new RegExp(
        `Maria Lopez was refused "${label}" on ${esc(ACCOUNT_LABEL)} at \\d\\d:\\d\\d UTC under ticket ${TICKET}: ` +
          "it is not in the session's allowed actions\\.",
      ),
    );
  }
  has(/Maria Lopez ended the session on Acme Corp \(acct_42\) at \d\d:\d\d UTC after /);
  // Each line has its time, and nothing technical shows.
  // Each line has its time, relative to the server's clock, with the exact
  // moment in its <time datetime>; and nothing technical shows.
  assert.ok(lines.every((l) => /^(just now|\d+ min ago) · \d\d:\d\d UTC /.test(l)), all);
  const stamps = await page.locator('#timeline li time').evaluateAll((ts) => ts.map((t) => t.getAttribute('datetime')));
  assert.equal(stamps.length, lines.length, all);
  assert.ok(stamps.every((d) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(d)), stamps.join('\n'));
  assert.ok(!/[{}]|urn:|_id|\bnull\b/.test(all), all);
  await snap(page, 'session-timeline');
});

test("the access log, in the console and on the customer's page in Acme Billing, shows Maria's change", async () => {
  const res = await sam.page.goto(consoleUrl(`/accounts/${ACCOUNT.id}/access-log`));
  assert.equal(res.status(), 200, 'the console has no access log page for an account');
  const text = await sam.page.locator('main').innerText();
  assert.ok(text.includes('Maria Lopez'), text);
  assert.ok(text.includes(CHANGE), text);
  assert.ok(text.includes(TICKET) && text.includes(REASON), text);
  await snap(sam.page, 'access-log');

  const customer = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await customer.newPage();
    const r = await page.goto(billing(`/accounts/${ACCOUNT.id}/access`));
    assert.equal(r.status(), 200);
    const rows = await page.locator('#access-log tbody tr').allInnerTexts();
    assert.equal(rows.length, 1, rows.join('\n'));
    assert.ok(rows[0].includes('Maria Lopez (approved by Sam Lee)'), rows[0]);
    assert.ok(rows[0].includes(`Ticket ${TICKET}: ${REASON}`), rows[0]);
    assert.ok(rows[0].includes(GRANTED.join(', ')), rows[0]);
    assert.ok(rows[0].includes(CHANGE), rows[0]);
    await shot(page, 'console-customer-access');
  } finally {
    await customer.close();
  }
});

test('Audrey finds the events of ticket 48192 in the audit search and downloads them as CSV', async () => {
  const audrey = await person('audrey');
  try {
    const page = audrey.page;
    const nav = page.getByRole('navigation');
    await nav.getByRole('link', { name: 'Audit trail' }).click();
    await page.waitForURL((u) => u.pathname === '/audit');
    const form = page.locator('form[action="/audit"]').filter({ has: page.locator('[name="ticket"]') });
    for (const name of ['account', 'agent', 'ticket', 'session', 'type', 'since', 'until', 'limit']) {
      assert.equal(await form.locator(`[name="${name}"]`).count(), 1, `the search has no ${name} filter`);
    }
    await form.locator('[name="ticket"]').fill(TICKET);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/audit' && u.searchParams.get('ticket') === TICKET),
      form.getByRole('button').first().click(),
    ]);
    const text = await page.locator('main').innerText();
    for (const line of [
      `Maria Lopez asked to act as ${ACCOUNT_LABEL} under ticket ${TICKET}`,
      `Sam Lee approved Maria Lopez's request under ticket ${TICKET}, narrowed to: ${GRANTED.join(', ')}`,
      `Maria Lopez changed invoice email from ${OLD_EMAIL} to ${NEW_EMAIL}`,
      'Maria Lopez ended the session on Acme Corp (acct_42)',
    ]) {
      assert.ok(text.includes(line), `the search does not show "${line}":\n${text}`);
    }
    // Only ticket 48192: Sam's own request is under 48194.
    assert.ok(!text.includes('ticket 48194'), text);
    assert.ok(/\d\d:\d\d/.test(text), 'the results have no times');
    await snap(page, 'audit-search');

    const csv = page.locator('a[href*="/audit/export"][href*="format=csv"]');
    assert.ok((await csv.getAttribute('href')).includes(`ticket=${TICKET}`), 'the export does not keep the search');
    const [download] = await Promise.all([page.waitForEvent('download'), csv.click()]);
    const name = download.suggestedFilename();
    assert.match(name, /^[\w.-]*audit[\w.-]*\.csv$/, name);
    const body = readFileSync(await download.path(), 'utf8');
    const rows = body.trim().split(/\r?\n/);
    assert.ok(rows.length >= 5, body);
    assert.match(rows[0], /\bseq\b.*\btype\b.*\btext\b/, rows[0]);
    assert.ok(
      rows.some((r) => r.includes('action.performed') && r.includes(`Maria Lopez ${CHANGE}`)),
      body,
    );
    assert.ok(!body.includes('48194'), 'the export is not the search');
  } finally {
    await audrey.context.close();
  }
});

test('Ada, an admin, reads the staff, apps and policy pages, and the trail of the whole story verifies', async () => {
  const ada = await person('ada');
  try {
    const page = ada.page;
    const nav = await page.getByRole('navigation').getByRole('link').allInnerTexts();
    assert.deepEqual(nav, ['Home', 'Verify the trail', 'Staff', 'Apps', 'Webhooks', 'Policy']);

    await page.getByRole('navigation').getByRole('link', { name: 'Staff' }).click();
    await page.waitForURL((u) => u.pathname === '/staff');
    const staff = await page.locator('#staff tbody tr').allInnerTexts();
    for (const [login, name] of [['maria', 'Maria Lopez'], ['sam', 'Sam Lee'], ['audrey', 'Audrey Kim']]) {
      assert.ok(staff.some((r) => r.includes(login) && r.includes(name)), staff.join('\n'));
    }
    await snap(page, 'admin-staff');

    await page.getByRole('navigation').getByRole('link', { name: 'Apps' }).click();
    await page.waitForURL((u) => u.pathname === '/apps');
    assert.match(await page.locator('#apps').innerText(), /Acme Billing/);

    await page.getByRole('navigation').getByRole('link', { name: 'Policy' }).click();
    await page.waitForURL((u) => u.pathname === '/policy');
    assert.ok((await items(page, '#vague')).some((v) => v.includes(VAGUE)));
    assert.match(await page.locator('#actions').innerText(), /Update invoice email/);
    await snap(page, 'admin-policy');

    await page.getByRole('navigation').getByRole('link', { name: 'Verify the trail' }).click();
    await page.waitForURL((u) => u.pathname === '/audit/verify');
    assert.match(await page.locator('#verdict').innerText(), /^The audit trail checks out/);
    await snap(page, 'audit-verify');

    // An admin has no impersonation power and decides nothing.
    for (const p of ['/queue', '/launch?ticket=48192']) {
      assert.equal((await page.goto(consoleUrl(p))).status(), 403, p);
    }
  } finally {
    await ada.context.close();
  }
});

test('Maria, an agent, reaches no audit, staff or policy page and sees no link to them', async () => {
  const page = mariaPage;
  const closed = ['/audit', '/audit?ticket=48192', '/audit/export?format=csv', '/audit/verify', '/staff', '/apps'];
  for (const p of [...closed, '/policy', '/queue']) {
    const res = await page.goto(consoleUrl(p));
    const where = new URL(page.url()).pathname;
    assert.ok(
      res.status() === 403 || (where !== p.split('?')[0] && res.status() < 400) || where === '/login',
      `${p}: ${res.status()} at ${page.url()}`,
    );
    if (res.status() === 403) {
      const body = await page.locator('main').innerText();
      assert.ok(!/asked to act as|changed invoice email|\bseq\b/.test(body), `${p} showed: ${body}`);
    }
  }
  await page.goto(consoleUrl('/audit'));
  await snap(page, 'agent-refused-audit');
  for (const p of ['/', `/requests/${requestId}`, `/sessions/${sessionId}`, '/launch?ticket=48193']) {
    await page.goto(consoleUrl(p));
    const hrefs = await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    const admin = hrefs.filter((h) => /^\/(audit|staff|apps|policy|queue)\b/.test(h));
    assert.deepEqual(admin, [], `${p} links to ${admin.join(', ')}`);
  }
});

test('the request form and the queue fit a 375 px wide phone; Sam approves with one click and denies with a reason', async () => {
  // Jon asks too, so that Sam's queue shows a card he can decide.
  const jons = await must(201, 'POST', '/requests', 'jon', {
    ticket: '48193',
    reason: 'Invoice emails bounce since the customer moved to a new domain',
    actions: ['settings.view', 'invoice_email.update'],
  });
  const phone = { width: 375, height: 740 };
  const agent = await person('maria', phone);
  const lead = await person('sam', phone);
  try {
    await agent.page.goto(consoleUrl('/launch?ticket=48193'));
    await box(agent.page, 'Update invoice email').check();
    assert.equal(await sidewaysScroll(agent.page), 0, '/launch scrolls sideways at 375 px');
    await snap(agent.page, 'launch-375px');

    await lead.page.goto(consoleUrl('/queue'));
    await card(lead.page, 'Jon Park', '48193').waitFor();
    assert.equal(await sidewaysScroll(lead.page), 0, '/queue scrolls sideways at 375 px');
    const jonCard = card(lead.page, 'Jon Park', '48193');
    const approve = jonCard.getByRole('button', { name: 'Approve', exact: true });
    const b = await approve.boundingBox();
    assert.ok(b && b.x >= 0 && b.x + b.width <= phone.width, `the Approve button is at ${JSON.stringify(b)}`);
    assert.ok(b.height >= 24, `the Approve button is ${b.height} px tall`);
    await snap(lead.page, 'queue-375px');

    // "Change before approving", once opened, stays open while the queue refreshes itself.
    await jonCard.getByText('Change before approving').click();
    await lead.page.evaluate(() => document.activeElement?.blur()); // focus leaves the box
    const more = await must(201, 'POST', '/requests', 'maria', {
      ticket: '48194',
      reason: 'Customer was charged twice in October and asks why',
      actions: ['invoices.view', 'refund.issue'],
    });
    await card(lead.page, 'Maria Lopez', '48194').waitFor({ timeout: QUEUE_REFRESH_MS * 2 + 2000 });
    assert.ok(await jonCard.locator('details.change').evaluate((d) => d.open), 'a refresh closed "Change before approving"');
    assert.equal(await sidewaysScroll(lead.page), 0, '/queue with the change form open scrolls sideways at 375 px');
    await shot(lead.page, 'console-queue-375px-change');

    // One click approves Jon's request as asked; the queue says so.
    await Promise.all([
      lead.page.waitForURL((u) => u.searchParams.get('decided') === jons.id),
      jonCard.getByRole('button', { name: 'Approve', exact: true }).click(),
    ]);
    const done = lead.page.locator('p.ok[role="status"]');
    assert.ok(await done.isVisible());
    assert.match(
      (await done.innerText()).trim(),
      /^Approved Jon Park's request for ticket 48193: it can be started until \d\d:\d\d UTC and ends at the latest \d\d:\d\d UTC\.$/,
    );
    const approved = await must(200, 'GET', `/requests/${jons.id}`, 'sam');
    assert.equal(approved.status, 'approved');
    assert.deepEqual(approved.granted_actions.map((a) => a.name), ['settings.view', 'invoice_email.update']);
    await shot(lead.page, 'console-queue-375px-approved');

    // Deny needs a reason; Maria reads it on her request.
    const mariaCard = card(lead.page, 'Maria Lopez', '48194');
    await mariaCard.getByText('Deny…').click();
    await mariaCard.getByLabel(/^Why deny it/).fill('Refunds go through the finance team, not support');
    await Promise.all([
      lead.page.waitForURL((u) => u.searchParams.get('decided') === more.id),
      mariaCard.getByRole('button', { name: 'Deny', exact: true }).click(),
    ]);
    assert.equal(
      (await lead.page.locator('p.ok[role="status"]').innerText()).trim(),
      "Denied Maria Lopez's request for ticket 48194. Your reason is on the request: “Refunds go through the finance team, not support”",
    );
    assert.equal((await must(200, 'GET', `/requests/${more.id}`, 'maria')).status, 'denied');
    await shot(lead.page, 'console-queue-375px-denied');

    for (const p of ['/', `/requests/${requestId}`, `/sessions/${sessionId}`]) {
      await agent.page.goto(consoleUrl(p));
      assert.equal(await sidewaysScroll(agent.page), 0, `${p} scrolls sideways at 375 px`);
    }
  } finally {
    await agent.context.close();
    await lead.context.close();
  }
});

test('the request form works from the keyboard: Tab to a checkbox, Space ticks it, the lists follow', async () => {
  const page = await maria.newPage();
  try {
    await page.goto(consoleUrl('/launch?ticket=48193'));
    let focused = null;
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => {
        const el = document.activeElement;
        return el && el.matches('input[type=checkbox][name=actions]') ? el.getAttribute('data-label') : null;
      });
      if (focused) {
        break;
      }
    }
    assert.equal(focused, 'View the account overview', 'Tab never reached the first action');
    const ax = await focusedAccessible(page);
    assert.equal(ax.role, 'checkbox');
    assert.match(ax.name, /^View the account overview\b/);
    // Two more Tabs: the next actions, in order.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('data-label')), 'View recent activity');
    await page.keyboard.press('Space');
    assert.ok(await box(page, 'View recent activity').isChecked());
    assert.deepEqual(await items(page, '#will'), ['View recent activity']);
    assert.ok(!(await items(page, '#wont')).includes('View recent activity'));
    assert.match(await page.locator('#approval').innerText(), /Approved by policy at once/);
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Space');
    assert.deepEqual(await items(page, '#will'), ['View account settings', 'View recent activity']);
    await page.keyboard.press('Space');
    assert.deepEqual(await items(page, '#will'), ['View recent activity']);
    // The focused box is shown as focused.
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused checkbox has no visible focus');
    await snap(page, 'launch-keyboard');
  } finally {
    await page.close();
  }
});

/** A string as a literal part of a regular expression. */
function esc(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
