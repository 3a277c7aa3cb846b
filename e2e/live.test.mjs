// The console's live boxes are pushed (GET /live, one EventSource per page)
// instead of waiting for their 3 s poll. Two people in two browser
// contexts: Maria has her request page open while Sam approves it from the
// queue, and her page shows it approved, with Start, in under 3 s and
// without a reload; Sam has his queue open while Maria asks, and the new
// card appears in under 3 s. Both asked for browser notifications with the
// "Notify me" button, and each is notified in a sentence. Then Maria
// starts the session and enters Acme Billing: the first Tab from the top of
// its page focuses the banner's Exit. A ticket the ticket system assigns to
// Maria appears in her open inbox the same way.
//
// How the push is proven: an init script replaces `window.setInterval`
// with a counter before the console's script runs, so the page has no
// poll at all (its 3 s timer is never armed); a box that changes can only
// have been told to by the stream. The same init script stands in for
// `Notification` (recording each one) and notes the EventSource, so the
// test waits until the stream is open before anything changes. Playwright
// runs init scripts through DevTools (Page.addScriptToEvaluateOnNewDocument),
// outside the page's Content-Security-Policy: the test checks that they did
// run (the console's own setInterval calls were counted) on a page whose CSP
// allows only the console's script.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { focusedAccessible, launchBrowser, signIn, startDemo } from './lib.mjs';

const REASON = "Customer can't update tax settings after plan change";
const PUSH_WITHIN_MS = 3000;

let demo;
let browser;
let approvedId; // Maria's request that Sam approves in the first test

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await demo?.stop();
});

/** Calls the actas API as `login` (a demo staff member); answers the body. */
async function api(method, p, login, body) {
  const r = await demo.api(method, p, login, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Maria asks for something a lead must approve under `ticket`. */
function ask(ticket) {
  return api('POST', '/requests', 'maria', {
    ticket,
    reason: REASON,
    actions: ['settings.view', 'settings.update'],
    minutes: 15,
  });
}

/** Runs in the page before the console's script (see the top of the file). */
function stubs() {
  window.__notes = [];
  let permission = 'default';
  function FakeNotification(title, options) {
    window.__notes.push({ title, tag: options && options.tag });
  }
  Object.defineProperty(FakeNotification, 'permission', { get: () => permission });
  FakeNotification.requestPermission = (cb) => {
    permission = 'granted';
    if (cb) cb(permission);
    return Promise.resolve(permission);
  };
  window.Notification = FakeNotification;
  window.__intervals = 0;
  window.setInterval = () => {
    window.__intervals += 1;
    return 0;
  };
  const RealEventSource = window.EventSource;
  window.EventSource = function (url, init) {
    const es = new RealEventSource(url, init);
    window.__stream = es;
    return es;
  };
}

/** A signed-in page of `login` with the stubs, at `path`. */
async function open(login, path, { stream = true } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['notifications'], { origin: demo.actas });
  await context.addInitScript(stubs);
  if (!stream) {
    await context.addInitScript(() => {
      window.EventSource = undefined;
    });
  }
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await signIn(page, demo.actas, login);
  const res = await page.goto(`${demo.actas}${path}`);
  // The init script ran despite the page's CSP (only the console's script
  // by its hash): the console's own timers went to the counter, and no
  // script was refused.
  assert.match(res.headers()['content-security-policy'], /script-src 'sha256-[^ ;]+';/);
  assert.ok((await page.evaluate(() => window.__intervals)) > 0, 'the init script replaced setInterval');
  const refused = errors.filter((e) => /Content Security Policy/i.test(e));
  assert.deepEqual(refused, [], 'nothing was refused by the page policy');
  // "Notify me": shown while the person has not decided, gone once granted.
  const notify = page.getByRole('button', { name: 'Notify me' });
  await notify.click();
  await notify.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => Notification.permission), 'granted');
  // The stream is open before anything changes.
  if (stream) {
    await page.waitForFunction(() => window.__stream && window.__stream.readyState === 1, null, { timeout: 5000 });
  }
  // Marks this document: a reload would lose the mark.
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  return { context, page };
}

test("Maria's request page shows Sam's approval in under 3 s, pushed, with Start and a notification", async () => {
  const request = await ask('48192');
  approvedId = request.id;
  const maria = await open('maria', `/requests/${request.id}`);
  const status = maria.page.locator('#status');
  assert.match(await status.innerText(), /Waiting for a lead's decision/);
  assert.equal(await maria.page.getByRole('button', { name: 'Start the session' }).count(), 0);

  const sam = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const samPage = await sam.newPage();
  await signIn(samPage, demo.actas, 'sam');
  await samPage.goto(`${demo.actas}/queue`);
  const card = samPage.locator('article.card', { hasText: 'Maria Lopez, ticket 48192' });
  const t0 = Date.now();
  await Promise.all([
    samPage.waitForURL((u) => u.searchParams.has('decided')),
    card.getByRole('button', { name: 'Approve', exact: true }).click(),
  ]);
  await maria.page.waitForFunction(
    () => /^Approved/.test(document.getElementById('status')?.textContent || ''),
    null,
    { timeout: PUSH_WITHIN_MS },
  );
  const took = Date.now() - t0;
  await maria.page.getByRole('button', { name: 'Start the session' }).waitFor({ timeout: 1000 });
  assert.ok(await maria.page.evaluate(() => window.__sameDocument), 'no reload');
  assert.ok(took < PUSH_WITHIN_MS, `approved on Maria's page ${took} ms after the click`);
  const notes = await maria.page.evaluate(() => window.__notes.map((n) => n.title));
  assert.deepEqual(notes, ['Your request for ticket 48192 was approved']);
  console.log(`# Maria's page showed the approval ${took} ms after Sam's click, with no poll armed`);
  await maria.context.close();
  await sam.close();
});

test("a new request appears in Sam's open queue in under 3 s, pushed, with a notification", async () => {
  const sam = await open('sam', '/queue');
  const before = await sam.page.evaluate(() => window.__notes.length);
  const t0 = Date.now();
  await ask('48194');
  const card = sam.page.locator('article.card', { hasText: 'Maria Lopez, ticket 48194' });
  await card.waitFor({ timeout: PUSH_WITHIN_MS });
  const took = Date.now() - t0;
  assert.ok(await sam.page.evaluate(() => window.__sameDocument), 'no reload');
  assert.ok(took < PUSH_WITHIN_MS, `the card appeared ${took} ms after the request`);
  const notes = await sam.page.evaluate((n) => window.__notes.slice(n).map((x) => x.title), before);
  assert.deepEqual(notes, ['New request from Maria Lopez for ticket 48194']);
  console.log(`# the new card was in Sam's queue ${took} ms after Maria asked, with no poll armed`);
  await sam.context.close();
});

test("a ticket the ticket system assigns to Maria appears in her open inbox in under 3 s, pushed", async () => {
  const maria = await open('maria', '/');
  assert.equal(await maria.page.locator('#inbox', { hasText: '48290' }).count(), 0);
  const t0 = Date.now();
  const res = await fetch(`${demo.actas}/api/v1/tickets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${demo.appKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      ref: '48290',
      account_id: 'acct_42',
      subject: 'Invoice e-mails bounce since the plan change',
      assignee: 'maria',
    }),
  });
  assert.ok(res.ok, `POST /tickets: ${res.status} ${await res.text()}`);
  await maria.page.locator('#assigned', { hasText: '48290' }).waitFor({ timeout: PUSH_WITHIN_MS });
  const took = Date.now() - t0;
  assert.ok(await maria.page.evaluate(() => window.__sameDocument), 'no reload');
  assert.ok(took < PUSH_WITHIN_MS, `the ticket was in Maria's inbox ${took} ms after it was pushed`);
  console.log(`# the new ticket was in Maria's inbox ${took} ms after it was pushed, with no poll armed`);
  await maria.context.close();
});

test("on the demo host app, the first Tab from the top reaches the banner's Exit", async (t) => {
  assert.ok(approvedId, 'the first test approved a request');
  // A plain context: the banner keeps its own timers here.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, demo.actas, 'maria');
  await page.goto(`${demo.actas}/requests/${approvedId}`);
  await Promise.all([
    page.waitForURL((u) => u.pathname.startsWith('/sessions/')),
    page.getByRole('button', { name: 'Start the session' }).click(),
  ]);
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(demo.billing)),
    page.getByRole('button', { name: 'Open in the host app' }).click(),
  ]);
  await page.waitForFunction(() => document.querySelector('actas-banner')?.getAttribute('data-state') === 'live');
  // From the top of the page: nothing focused.
  await page.evaluate(() => document.activeElement?.blur());
  let stops = 0;
  let reached = false;
  for (; stops < 40 && !reached; stops += 1) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement === document.querySelector('actas-banner'));
  }
  assert.ok(reached, 'Tab never reached the banner');
  assert.deepEqual(await focusedAccessible(page), { role: 'button', name: 'Exit support session' });
  assert.equal(stops, 1, "the banner's Exit is the page's first tab stop");
  t.diagnostic(`the banner's Exit was tab stop ${stops} of the demo page`);
  await context.close();
});

test('the control: with the stubs and no stream, nothing refreshes the page', async () => {
  const request = await ask('48193');
  const maria = await open('maria', `/requests/${request.id}`, { stream: false });
  await api('POST', `/requests/${request.id}/approve`, 'sam', {});
  // The absence of a refresh is what is tested: twice the push's bound
  // (and more than a poll tick) with no poll and no stream changes nothing,
  // so the refreshes above came from the stream.
  await maria.page.waitForTimeout(2 * PUSH_WITHIN_MS);
  assert.match(await maria.page.locator('#status').innerText(), /Waiting for a lead's decision/);
  assert.deepEqual(await maria.page.evaluate(() => window.__notes), []);
  await maria.context.close();
});
