// The demo, end to end, as README's "Trying it" tells it: `actas demo`
// starts actas and Acme Billing; Maria asks under ticket 48192, Sam
// approves, Maria starts the session and enters Acme Billing with a one-time
// entry code (the token never travels in an address).
// Every page she can reach carries the banner; the invoice email change is
// asked of actas and recorded, an action out of scope is refused in plain
// words; Exit and a lead's revoke end the session everywhere; the customer
// sees who was in the account and gets a note. Each step leaves a
// screenshot in target/screenshots/demo-*.png.
//
// The same test holds every Acme Billing to the same behaviour: by default
// the demo's own (Rust, crates/actas-demo); ACTAS_HOST_APP=express or
// ACTAS_HOST_APP=fastapi runs it against the TypeScript or Python kit's demo
// (sdk/typescript/demo, sdk/python/demo) beside `actas demo --host-app`,
// with screenshots named express-demo-*.png or fastapi-demo-*.png.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  bannerAttr,
  exitButtonCentre,
  launchBrowser,
  shadowContent,
  shot as screenshot,
  signIn,
  sidewaysScroll,
  startDemo,
  topElementAtBanner,
  waitForState,
} from './lib.mjs';

const TICKET = '48192';
const ACCOUNT = { id: 'acct_42', name: 'Acme Corp' };
const REASON = 'The customer cannot change the invoice email since the plan change';
const ACTIONS = ['settings.view', 'invoice_email.update'];
const LABELS = ['View account settings', 'Update invoice email'];
const OLD_EMAIL = 'billing@acme.test';
const NEW_EMAIL = 'accounts-payable@acme.test';
const REVOKE_NOTE = 'The customer asked on the call to stop the session';
const NOT_APPROVED = 'this action is not among those approved for the support session';
const GLASS_REASON = 'Sync outage: every account stuck since the 14:00 deploy and no lead answers';
const GLASS_REVIEW = 'One sync reset during the outage; nothing else touched';

const HOST_APP = process.env.ACTAS_HOST_APP || 'rust';
const shot = (page, name) => screenshot(page, HOST_APP === 'rust' ? name : `${HOST_APP}-${name}`);

let demo; // the running `actas demo`
let browser;
let support; // Maria's browser context in the first session (carries the token cookie)
let first; // the first session: { sid, token }
let second; // the second session: { sid, token }

before(async () => {
  demo = await startDemo(HOST_APP);
  browser = await launchBrowser();
  support = await browser.newContext({ viewport: { width: 1280, height: 720 } });
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

/** Maria asks under the ticket, Sam approves, Maria starts: `{sid, token, session}`. */
async function openSession(actions = ACTIONS) {
  const req = await must(201, 'POST', '/requests', 'maria', { ticket: TICKET, reason: REASON, actions });
  assert.equal(req.status, 'pending', 'changing the invoice email needs a lead');
  assert.equal(req.account_id, ACCOUNT.id);
  const approved = await must(200, 'POST', `/requests/${req.id}/approve`, 'sam', {});
  assert.equal(approved.status, 'approved');
  const started = await must(201, 'POST', `/requests/${req.id}/start`, 'maria', {});
  assert.equal(started.session.state, 'live');
  assert.deepEqual(started.session.scope.map((a) => a.name), actions);
  return { sid: started.session.id, token: started.token, session: started.session };
}

const billing = (p) => `${demo.billing}${p}`;

/** A fresh one-time entry address for Maria's session `sid`, as the console's "Open in the host app" makes. */
async function enterUrl(sid) {
  const entry = await must(201, 'POST', `/sessions/${sid}/entry`, 'maria', {});
  assert.ok(entry.url.startsWith(billing('/support/enter?code=actas_entry_')), entry.url);
  return entry.url;
}

/** The claims of a compact JWS, unverified. */
function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/** Ends `sid` through the API when a test above left it live. */
async function ensureEnded(sid) {
  if ((await must(200, 'GET', `/sessions/${sid}`, 'sam')).state === 'live') {
    await must(200, 'POST', `/sessions/${sid}/end`, 'maria', {});
  }
}

/** The banner is there, live, for Maria on Acme Corp, fixed at the top and on top. */
async function assertBanner(page, width) {
  await waitForState(page, 'live');
  assert.equal(await bannerAttr(page, 'data-account'), `${ACCOUNT.name} (${ACCOUNT.id})`);
  assert.equal(await bannerAttr(page, 'data-agent'), 'Maria Lopez');
  assert.equal(await bannerAttr(page, 'data-approver'), 'Approved by Sam Lee');
  assert.equal(await bannerAttr(page, 'data-allowed'), LABELS.join(', '));
  const banner = page.locator('actas-banner');
  assert.ok(await banner.isVisible(), 'the banner is not visible');
  const box = await banner.boundingBox();
  assert.ok(box && box.x === 0 && box.y === 0 && box.width === width && box.height > 30, JSON.stringify(box));
  const top = await topElementAtBanner(page);
  assert.ok(top.isBanner, `found ${top.hit} at the banner's centre`);
  // The page starts below the banner, so the banner hides none of it.
  const headerTop = await page.evaluate(() => document.querySelector('header.top').getBoundingClientRect().top);
  assert.ok(headerTop >= box.height - 1, `the page starts at ${headerTop}, under a ${box.height}px banner`);
}

/** Seconds of a `mm:ss` countdown. */
const secs = (s) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));

/**
 * Navigates `page` to `url` until Acme Billing sends it to the ended page
 * (the demo's layer learns of the end from the session feed); answers the
 * last response and how long it took from `since`.
 */
async function untilEndedPage(page, url, since, limit = 2000) {
  for (;;) {
    const res = await page.goto(url);
    if (new URL(page.url()).pathname === '/support/ended' || Date.now() - since > limit) {
      return { res, took: Date.now() - since };
    }
    await page.waitForTimeout(100);
  }
}

/**
 * The ended page: a real page that says the session ended and why, with the
 * way back to the staff console, the support cookie dropped, and the
 * customer's own pages reachable again.
 */
async function assertEndedPage(page, context, sid, why) {
  const url = new URL(page.url());
  assert.equal(url.pathname, '/support/ended', page.url());
  assert.equal(url.searchParams.get('session'), sid);
  assert.equal(await page.title(), 'Support session ended · Acme Billing');
  const text = (await page.locator('#ended-why').innerText()).trim();
  assert.ok(text.startsWith(`The support session on ${ACCOUNT.name} (${ACCOUNT.id}) ended: ${why}`), text);
  assert.equal(await page.locator('#to-console').getAttribute('href'), `${demo.actas}/sessions/${sid}`);
  assert.equal(await page.locator('actas-banner').count(), 0, 'no banner for an ended session');
  const cookie = (await context.cookies(demo.billing)).find((c) => c.name === 'actas_token');
  assert.equal(cookie, undefined, 'the support cookie was not dropped');
  for (const p of ['/', `/accounts/${ACCOUNT.id}/access`, '/support/leave']) {
    const res = await page.goto(billing(p));
    assert.equal(res.status(), 200, `${p} after the end`);
    assert.ok((await page.locator('h1').innerText()).length > 0);
  }
}

test('support enters Acme Billing with a one-time code and lands on the account under the banner', async () => {
  first = await openSession();
  assert.equal(first.session.approver, 'sam');
  const page = await support.newPage();
  const seen = [];
  page.on('request', (r) => seen.push(r.url()));
  const landed = await page.goto(await enterUrl(first.sid));
  // The first page the session may see: settings, for this scope.
  assert.equal(new URL(page.url()).pathname, `/accounts/${ACCOUNT.id}/settings`);
  assert.equal(landed.status(), 200);
  const cookie = (await support.cookies(demo.billing)).find((c) => c.name === 'actas_token');
  assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Lax', 'the token cookie was not set');
  assert.equal(claimsOf(cookie.value).sid, first.sid);
  assert.ok(!seen.some((u) => u.includes('eyJ')), `a token travelled in an address: ${seen.join(' ')}`);
  await assertBanner(page, 1280);
  await shot(page, 'demo-enter');
  await page.close();
});

test('the account overview, outside this session, is refused in plain words under the banner', async () => {
  const page = await support.newPage();
  const res = await page.goto(billing(`/accounts/${ACCOUNT.id}`));
  assert.equal(res.status(), 403);
  await assertBanner(page, 1280);
  assert.match(await page.locator('#refusal').innerText(), /not among those approved for the support session/);
  await shot(page, 'demo-overview');
  await page.close();
});

test('the settings page carries the banner, above its help dialog and at 375 px wide', async () => {
  const page = await support.newPage();
  const res = await page.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
  assert.equal(res.status(), 200);
  await assertBanner(page, 1280);
  await shot(page, 'demo-settings');

  await page.click('#open-help');
  await page.waitForFunction(() => document.getElementById('help').matches(':modal'));
  await page.waitForTimeout(100);
  assert.ok(await page.locator('#help').isVisible());
  const top = await topElementAtBanner(page);
  assert.ok(top.isBanner, `with the help dialog open: found ${top.hit}`);
  await shot(page, 'demo-settings-modal');
  await page.keyboard.press('Escape');
  await page.close();

  // A phone: a context of its own, entering with a new code like a new device.
  const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true });
  try {
    const small = await phone.newPage();
    await small.goto(await enterUrl(first.sid));
    await small.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
    await assertBanner(small, 375);
    const box = await small.locator('actas-banner').boundingBox();
    assert.ok(box.height <= 64, `the phone banner is one compact line, not ${box.height}px of 812`);
    const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    await shot(small, 'demo-settings-375px');
  } finally {
    await phone.close();
  }
});

test('a page out of scope is refused in plain words, under the banner', async () => {
  const page = await support.newPage();
  const res = await page.goto(billing(`/accounts/${ACCOUNT.id}/plan`));
  assert.equal(res.status(), 403);
  assert.equal(
    (await page.locator('#refusal').innerText()).trim(),
    `actas refused this, so nothing was done: ${NOT_APPROVED}.`,
  );
  assert.equal(await page.locator('#plan').count(), 0, 'the plan was shown anyway');
  await assertBanner(page, 1280);
  await shot(page, 'demo-refused-plan');
  await page.close();
});

test('the invoice email is changed through actas; a password reset out of scope is refused', async () => {
  const page = await support.newPage();
  await page.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
  const email = page.locator('input[name="invoice_email"]');
  assert.equal(await email.inputValue(), OLD_EMAIL);
  await email.fill(NEW_EMAIL);
  const [saved] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/invoice-email') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Save invoice email' }).click(),
  ]);
  assert.equal(saved.status(), 200);
  await page.waitForSelector('#saved');
  assert.equal((await page.locator('#saved').innerText()).trim(), 'Invoice email saved.');
  assert.equal(await page.locator('input[name="invoice_email"]').inputValue(), NEW_EMAIL);
  await assertBanner(page, 1280);
  await shot(page, 'demo-invoice-email-saved');

  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/password-reset') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Reset password' }).click(),
  ]);
  assert.equal(refused.status(), 403);
  await page.waitForSelector('#refusal');
  assert.equal(
    (await page.locator('#refusal').innerText()).trim(),
    `actas refused this, so nothing was done: ${NOT_APPROVED}.`,
  );
  assert.equal(await page.locator('#saved').count(), 0, 'the reset was reported as done');
  await assertBanner(page, 1280);
  await shot(page, 'demo-password-reset-refused');
  await page.close();
});

test('the audit trail tells the change and the refusal in plain words', async () => {
  const { events } = await must(200, 'GET', `/audit?session=${first.sid}`, 'audrey');
  const types = JSON.stringify(events.map((e) => `${e.type} ${e.data?.action ?? ''}`));

  const performed = events.filter((e) => e.type === 'action.performed' && e.data.action === 'invoice_email.update');
  assert.equal(performed.length, 1, types);
  assert.deepEqual(performed[0].data.changes, [{ field: 'invoice_email', old: OLD_EMAIL, new: NEW_EMAIL }]);
  assert.match(
    performed[0].text,
    new RegExp(
      `^Maria Lopez changed invoice email from ${esc(OLD_EMAIL)} to ${esc(NEW_EMAIL)} on Acme Corp \\(acct_42\\) ` +
        `at \\d\\d:\\d\\d UTC under ticket ${TICKET}, acting as the customer\\.$`,
    ),
  );

  const denied = events.filter((e) => e.type === 'action.denied' && e.data.action === 'password.reset');
  assert.equal(denied.length, 1, types);
  assert.equal(denied[0].data.reason, 'not_in_scope');
  assert.match(
    denied[0].text,
    new RegExp(
      `^Maria Lopez was refused "Reset a password" on Acme Corp \\(acct_42\\) at \\d\\d:\\d\\d UTC ` +
        `under ticket ${TICKET}: it is not in the session's allowed actions\\.$`,
    ),
  );
  // The plan page asked about plan.view and was refused too.
  assert.ok(events.some((e) => e.type === 'action.denied' && e.data.action === 'plan.view'), types);
  // Nothing of the password reset reached actas but the fact that it was asked.
  assert.ok(!JSON.stringify(denied[0]).includes('reset link'), JSON.stringify(denied[0]));

  // The same trail as an auditor reads it in a browser, as plain text.
  const auditor = await browser.newContext({
    viewport: { width: 1280, height: 720 },
    extraHTTPHeaders: { authorization: `Bearer ${demo.tokens.audrey}` },
  });
  try {
    const page = await auditor.newPage();
    const res = await page.goto(`${demo.actas}/api/v1/audit?session=${first.sid}&format=text`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /^text\/plain/);
    const text = await page.locator('body').innerText();
    assert.ok(text.includes(performed[0].text), text);
    assert.ok(text.includes(denied[0].text), text);
    await shot(page, 'demo-audit-trail');
  } finally {
    await auditor.close();
  }
});

test('the countdown moves', async () => {
  const page = await support.newPage();
  await page.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
  await assertBanner(page, 1280);
  const a = await bannerAttr(page, 'data-countdown');
  // It ticks every second; wait for the next tick rather than a fixed time.
  await page.waitForFunction(
    (before) => document.querySelector('actas-banner').getAttribute('data-countdown') !== before,
    a,
    { timeout: 5000 },
  );
  const b = await bannerAttr(page, 'data-countdown');
  assert.match(a, /^\d{2}:\d{2}$/);
  assert.match(b, /^\d{2}:\d{2}$/);
  assert.ok(secs(a) > secs(b), `${a} then ${b}`);
  assert.ok(secs(a) <= 15 * 60 && secs(a) > 10 * 60, a);
  await shot(page, 'demo-countdown');
  await page.close();
});

test('the countdown never goes back up when an answer from actas comes late', async () => {
    const page = await support.newPage();
    await page.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
    await waitForState(page, 'live');
    const seen = [];
    await page.exposeFunction('recordCountdown', (v) => seen.push(v));
    await page.evaluate(() => {
      const host = document.querySelector('actas-banner');
      new MutationObserver(() => window.recordCountdown(host.getAttribute('data-countdown'))).observe(host, {
        attributes: true,
        attributeFilter: ['data-countdown'],
      });
    });
    // One poll of the session is answered 2.3 s late, as from a busy server.
    let delayed = false;
    await page.route(/\/api\/v1\/sessions\/[^/]+$/, async (route) => {
      const res = await route.fetch();
      if (!delayed) {
        delayed = true;
        await new Promise((r) => setTimeout(r, 2300));
      }
      await route.fulfill({ response: res });
    });
    await page.waitForTimeout(6000);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.close();
    assert.ok(delayed, 'no poll was seen');
    const back = seen.findIndex((v, i) => i > 0 && secs(v) > secs(seen[i - 1]));
    assert.equal(back, -1, `the countdown went back up: ${seen.join(' ')}`);
});

test('a second tab has the banner; Exit in the first ends the session in both and in Acme Billing', async () => {
  const one = await support.newPage();
  await one.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
  await assertBanner(one, 1280);

  const two = await support.newPage();
  await two.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
  await assertBanner(two, 1280);
  await shot(two, 'demo-second-tab');

  await one.bringToFront();
  // The Exit button is inside the banner's closed shadow root: click where it is.
  const exit = await exitButtonCentre(one);
  const t0 = Date.now();
  await one.mouse.click(exit.x, exit.y);
  await waitForState(one, 'ended', 2000);
  await waitForState(two, 'ended', 2000);
  const took = Date.now() - t0;
  assert.ok(took < 2000, `${took} ms`);
  assert.equal(await bannerAttr(one, 'data-end-reason'), 'ended');
  assert.equal(await bannerAttr(two, 'data-end-reason'), 'ended');
  assert.equal(await bannerAttr(two, 'aria-label'), 'Support session ended');
  assert.ok(await two.locator('actas-banner').isVisible(), 'an ended banner stays visible');
  const session = await must(200, 'GET', `/sessions/${first.sid}`, 'sam');
  assert.equal(session.state, 'ended');
  assert.equal(session.end_reason, 'ended');
  await shot(one, 'demo-exit-tab-1');
  await shot(two, 'demo-exit-tab-2');

  // Acme Billing sends support's pages to the ended page from then on.
  const { took: refusedAfter } = await untilEndedPage(two, billing(`/accounts/${ACCOUNT.id}/settings`), t0);
  assert.ok(refusedAfter < 2000, `still served ${refusedAfter} ms after Exit`);
  await shot(two, 'demo-after-exit');
  await assertEndedPage(two, support, first.sid, 'the agent ended it');
  await one.close();
  await two.close();
});

test('a second session, revoked by a lead, shows ended on the open page within 2 s', async () => {
  // Stand alone when a test above left the first session live.
  await ensureEnded(first.sid);
  second = await openSession();
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await context.newPage();
    await page.goto(await enterUrl(second.sid));
    const res = await page.goto(billing(`/accounts/${ACCOUNT.id}/settings`));
    assert.equal(res.status(), 200);
    await assertBanner(page, 1280);
    await shot(page, 'demo-second-session');

    const t0 = Date.now();
    const revoked = await must(200, 'POST', `/sessions/${second.sid}/revoke`, 'sam', { note: REVOKE_NOTE });
    assert.equal(revoked.end_reason, 'revoked');
    await waitForState(page, 'ended', 2000);
    const took = Date.now() - t0;
    assert.ok(took < 2000, `${took} ms`);
    assert.equal(await bannerAttr(page, 'data-end-reason'), 'revoked');
    const shadow = await shadowContent(page);
    assert.ok(shadow.texts.some((t) => t.includes(`revoked by a lead: ${REVOKE_NOTE}`)), `${shadow.texts}`);
    await shot(page, 'demo-revoked');

    const later = await untilEndedPage(page, billing(`/accounts/${ACCOUNT.id}/settings`), t0);
    assert.ok(later.took < 2000, `still served ${later.took} ms after the revoke`);
    await shot(page, 'demo-revoked-ended-page');
    await assertEndedPage(page, context, second.sid, `a lead revoked it (\u201c${REVOKE_NOTE}\u201d)`);
  } finally {
    await context.close();
  }
});

test('the customer sees who accessed the account and what changed, then the note after the end', async () => {
  const customer = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await customer.newPage();
    const res = await page.goto(billing(`/accounts/${ACCOUNT.id}/access`));
    assert.equal(res.status(), 200);
    assert.equal(await page.locator('actas-banner').count(), 0, 'the customer sees a support banner');
    const rows = await page.locator('#access-log tbody tr').allInnerTexts();
    assert.equal(rows.length, 2, rows.join('\n'));
    const changed = rows.filter((r) => r.includes(`changed invoice email from ${OLD_EMAIL} to ${NEW_EMAIL}`));
    assert.equal(changed.length, 1, rows.join('\n'));
    assert.ok(changed[0].includes('Maria Lopez (approved by Sam Lee)'), changed[0]);
    assert.ok(changed[0].includes(`Ticket ${TICKET}: ${REASON}`), changed[0]);
    assert.ok(changed[0].includes(LABELS.join(', ')), changed[0]);
    await shot(page, 'demo-customer-access-log');

    // The notes of both sessions reach the inbox on the overview (polled every second).
    const deadline = Date.now() + 10000;
    let notes = [];
    for (;;) {
      await page.goto(billing(`/accounts/${ACCOUNT.id}`));
      notes = await page.locator('#inbox p').allInnerTexts();
      if (notes.length >= 2 || Date.now() > deadline) {
        break;
      }
      await page.waitForTimeout(250);
    }
    assert.equal(notes.length, 2, `the inbox: ${JSON.stringify(notes)}`);
    const note = notes.find((n) => n.includes('Changes:'));
    assert.match(
      note ?? '',
      new RegExp(
        `^Maria Lopez from support accessed your account on \\d{4}-\\d\\d-\\d\\d from \\d\\d:\\d\\d UTC to ` +
          `\\d\\d:\\d\\d UTC to help with ticket ${TICKET}: "${esc(REASON)}"; approved by Sam Lee\\. ` +
          `Changes: changed invoice email from ${esc(OLD_EMAIL)} to ${esc(NEW_EMAIL)}\\.$`,
      ),
      JSON.stringify(notes),
    );
    assert.ok((await page.locator('main').innerText()).includes(`Invoices go to ${NEW_EMAIL}`));
    await shot(page, 'demo-customer-inbox');

    const { events } = await must(200, 'GET', '/audit?type=customer.notified', 'audrey');
    const told = events.find((e) => e.session_id === first.sid);
    assert.ok(told, JSON.stringify(events));
    assert.equal(told.account_id, ACCOUNT.id);
    assert.equal(told.data.text, note);
    assert.equal(
      told.text,
      `Acme Billing told Acme Corp (acct_42) about Maria Lopez's session under ticket ${TICKET}.`,
    );
    assert.ok(events.some((e) => e.session_id === second.sid), JSON.stringify(events));

    // The activity feed labels what support did.
    await page.goto(billing(`/accounts/${ACCOUNT.id}/activity`));
    const bySupport = await page.locator('#activity li.support').allInnerTexts();
    assert.equal(bySupport.length, 1, JSON.stringify(bySupport));
    assert.ok(
      bySupport[0].endsWith(
        `Maria Lopez from support, acting for you under ticket ${TICKET}, changed the invoice email to ${NEW_EMAIL}`,
      ),
      bySupport[0],
    );
    await shot(page, 'demo-customer-activity');
  } finally {
    await customer.close();
  }
});

test('a second session enters in the same browser over the cookie of an ended one', async () => {
  await ensureEnded(second.sid);
  const page = await support.newPage();
  const third = await openSession();
  await page.goto(await enterUrl(third.sid));
  await assertBanner(page, 1280);
  // Ended elsewhere: the browser still holds its cookie.
  await must(200, 'POST', `/sessions/${third.sid}/end`, 'maria', {});
  const stale = (await support.cookies(demo.billing)).find((c) => c.name === 'actas_token');
  assert.equal(claimsOf(stale.value).sid, third.sid, 'the old cookie is still there');

  // "Exit and start a new session with a new reason" works without closing the browser.
  const fourth = await openSession();
  const res = await page.goto(await enterUrl(fourth.sid));
  assert.equal(res.status(), 200);
  assert.equal(new URL(page.url()).pathname, `/accounts/${ACCOUNT.id}/settings`);
  await assertBanner(page, 1280);
  const fresh = (await support.cookies(demo.billing)).find((c) => c.name === 'actas_token');
  assert.equal(claimsOf(fresh.value).sid, fourth.sid, 'the new session replaced the stale one');
  await shot(page, 'demo-second-session-same-browser');
  await page.close();
  await must(200, 'POST', `/sessions/${fourth.sid}/end`, 'maria', {});
});

test('an entry link works once; used again it is refused in plain words and changes nothing', async () => {
  const s = await openSession();
  const url = await enterUrl(s.sid);
  const mine = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const other = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await mine.newPage();
    await page.goto(url);
    await assertBanner(page, 1280);
    const before = (await must(200, 'GET', `/audit?session=${s.sid}`, 'audrey')).events.length;

    // The same address again, e.g. from the browser history or a log.
    const replay = await other.newPage();
    const res = await replay.goto(url);
    assert.equal(res.status(), 200);
    assert.equal(new URL(replay.url()).pathname, '/support/ended');
    assert.equal(new URL(replay.url()).searchParams.get('refused'), 'entry-code-used');
    assert.equal(await replay.title(), 'Support entry refused · Acme Billing');
    assert.match(await replay.locator('#ended-why').innerText(), /used already: each link works once/);
    assert.equal(await replay.locator('#to-console').getAttribute('href'), `${demo.actas}/`);
    assert.equal((await other.cookies(demo.billing)).length, 0, 'a cookie was set for a used code');
    assert.equal(await replay.locator('actas-banner').count(), 0);
    await shot(replay, 'demo-entry-code-used');

    // A made-up code is refused the same way.
    await replay.goto(billing('/support/enter?code=actas_entry_made_up'));
    assert.equal(new URL(replay.url()).searchParams.get('refused'), 'entry-code-unknown');

    const after = (await must(200, 'GET', `/audit?session=${s.sid}`, 'audrey')).events.length;
    assert.equal(after, before, 'a refused code wrote to the trail');
    assert.equal((await must(200, 'GET', `/sessions/${s.sid}`, 'sam')).state, 'live');
    // The first browser is still in.
    await page.reload();
    await assertBanner(page, 1280);
  } finally {
    await mine.close();
    await other.close();
    await ensureEnded(s.sid);
  }
});

test('after the end, the bank details shown during the session are not readable under the ended banner', async () => {
  const s = await openSession(['settings.view', 'sensitive.view']);
  const IBAN = 'DE89 3704 0044 0532 0130 00';
  const views = [];
  for (const [width, height] of [[1280, 720], [375, 812]]) {
    const context = await browser.newContext({ viewport: { width, height }, isMobile: width < 500 });
    const page = await context.newPage();
    await page.goto(await enterUrl(s.sid));
    await page.goto(billing(`/accounts/${ACCOUNT.id}/bank`));
    await waitForState(page, 'live');
    assert.equal((await page.locator('main code').innerText()).trim(), IBAN);
    await shot(page, `demo-bank-live-${width}px`);
    views.push({ context, page, width, height });
  }

  await must(200, 'POST', `/sessions/${s.sid}/revoke`, 'sam', { note: REVOKE_NOTE });
  for (const { context, page, width, height } of views) {
    await waitForState(page, 'ended', 2000);
    // Wait for the cover to take the whole screen, then look everywhere.
    await page.waitForFunction(
      ([w, h]) => {
        const r = document.querySelector('actas-banner').getBoundingClientRect();
        return r.top <= 0 && r.left <= 0 && r.width >= w && r.height >= h;
      },
      [width, height],
      { timeout: 2000 },
    );
    const hits = await page.evaluate(
      ([w, h]) => {
        const out = [];
        const iban = document.querySelector('main code').getBoundingClientRect();
        const points = [[iban.left + iban.width / 2, iban.top + iban.height / 2]];
        for (let x = 5; x < w; x += Math.floor(w / 7)) {
          for (let y = 5; y < h; y += Math.floor(h / 9)) {
            points.push([x, y]);
          }
        }
        for (const [x, y] of points) {
          const e = document.elementFromPoint(x, y);
          out.push(e ? e.nodeName : 'none');
        }
        return out;
      },
      [width, height],
    );
    const under = hits.filter((n) => n !== 'ACTAS-BANNER');
    assert.deepEqual(under, [], `page content is readable at ${width}px: ${hits.join(' ')}`);
    await shot(page, `demo-bank-ended-${width}px`);
    await context.close();
  }
});

test('when a lead approves more scope, the banner and the customer name every approver', async () => {
  // Viewing settings needs nobody: the policy approves it.
  const req = await must(201, 'POST', '/requests', 'maria', { ticket: TICKET, reason: REASON, actions: ['settings.view'] });
  assert.equal(req.status, 'approved');
  const started = await must(201, 'POST', `/requests/${req.id}/start`, 'maria', {});
  const sid = started.session.id;
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await context.newPage();
    await page.goto(await enterUrl(sid));
    await waitForState(page, 'live');
    await page.waitForFunction(
      () => document.querySelector('actas-banner').getAttribute('data-approver') === 'Approved automatically by the support policy',
      null,
      { timeout: 3000 },
    );
    const more = await must(201, 'POST', `/sessions/${sid}/scope`, 'maria', {
      actions: ['invoice_email.update'],
      reason: 'The customer asked on the phone to move invoices to their AP mailbox',
    });
    await must(200, 'POST', `/requests/${more.id}/approve`, 'sam', {});
    const words = 'Approved automatically by the support policy, then by Sam Lee';
    await page.waitForFunction(
      (w) => document.querySelector('actas-banner').getAttribute('data-approver') === w,
      words,
      { timeout: 3000 },
    );
    await shot(page, 'demo-scope-grown-approvers');
    await must(200, 'POST', `/sessions/${sid}/end`, 'maria', {});
    const customer = await browser.newContext();
    try {
      const view = await customer.newPage();
      await view.goto(billing(`/accounts/${ACCOUNT.id}/access`));
      const rows = await view.locator('#access-log tbody tr').allInnerTexts();
      const row = rows.find((r) => r.includes(REASON) && r.includes('then by Sam Lee'));
      assert.ok(row, rows.join('\n'));
      assert.ok(row.includes('Maria Lopez (approved automatically by the support policy, then by Sam Lee)'), row);
      assert.ok(!rows.join('\n').includes('by Policy'), rows.join('\n'));
    } finally {
      await customer.close();
    }
  } finally {
    await context.close();
  }
});

test('a change out of scope is asked of a lead from its refusal; the banner shows the wait and the answer; it goes through once', async () => {
  // Viewing the plan needs nobody; changing it needs a lead.
  const req = await must(201, 'POST', '/requests', 'maria', { ticket: TICKET, reason: REASON, actions: ['plan.view'] });
  assert.equal(req.status, 'approved');
  const started = await must(201, 'POST', `/requests/${req.id}/start`, 'maria', {});
  const sid = started.session.id;
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const lead = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await context.newPage();
    await page.goto(await enterUrl(sid));
    await waitForState(page, 'live');
    await page.goto(billing(`/accounts/${ACCOUNT.id}/plan`));
    const before = (await page.locator('#plan').innerText()).trim();
    const target = before === 'Enterprise' ? 'Business' : 'Enterprise';
    await page.getByLabel('Change to').selectOption(target);
    await page.getByRole('button', { name: 'Change plan' }).click();
    await page.locator('#refusal').waitFor();
    assert.match(await page.locator('#refusal').innerText(), new RegExp(esc(NOT_APPROVED)));
    const what = await page.locator('#stepup-what').innerText();
    assert.equal(what, `plan from ${before} to ${target}`);

    // A vague reason is refused in the form, in actas's words.
    await page.getByLabel('Why (name what the customer asked for)').fill('need access');
    await page.getByRole('button', { name: 'Ask a lead for this one change' }).click();
    await page.locator('#stepup-error').waitFor();
    assert.match(await page.locator('#stepup-error').innerText(), /vague|specific|say/i);

    const why = `The customer asked on the call to move from ${before} to ${target} before the renewal`;
    await page.getByLabel('Why (name what the customer asked for)').fill(why);
    await page.getByRole('button', { name: 'Ask a lead for this one change' }).click();
    await page.locator('#stepup-asked').waitFor();
    await page.waitForFunction(() => document.querySelector('actas-banner').getAttribute('data-stepup') === 'pending', null, { timeout: 3000 });
    const waiting = (await shadowContent(page)).texts.join(' ');
    assert.ok(waiting.includes(`Waiting for a lead to approve one change: Change billing details (plan from ${before} to ${target}`), waiting);
    await shot(page, 'demo-stepup-waiting');

    // Sam approves it from the console's queue, in one click, seeing old and new.
    const console = await lead.newPage();
    await signIn(console, demo.actas, 'sam');
    await console.goto(`${demo.actas}/queue`);
    const card = console.locator('article.stepup', { hasText: why.slice(0, 40) });
    await card.waitFor();
    const cells = await card.locator('table.changes tbody tr').first().locator('th, td').allInnerTexts();
    assert.deepEqual(cells.map((c) => c.trim()), ['plan', before, target]);
    await card.getByRole('button', { name: 'Approve this one change' }).click();
    await console.getByRole('status').filter({ hasText: 'for one change' }).waitFor();

    // The banner tells Maria within seconds, at desktop and phone widths.
    await page.waitForFunction(() => document.querySelector('actas-banner').getAttribute('data-stepup') === 'approved', null, { timeout: 3000 });
    const approved = (await shadowContent(page)).texts.join(' ');
    assert.ok(approved.includes('Sam Lee approved one change: Change billing details'), approved);
    await shot(page, 'demo-stepup-approved');
    await page.setViewportSize({ width: 375, height: 720 });
    assert.equal(await sidewaysScroll(page), 0);
    await shot(page, 'demo-stepup-approved-375');
    await page.setViewportSize({ width: 1280, height: 720 });

    // The change goes through once; the same change again is refused.
    await page.goto(billing(`/accounts/${ACCOUNT.id}/plan`));
    await page.getByLabel('Change to').selectOption(target);
    await page.getByRole('button', { name: 'Change plan' }).click();
    await page.waitForURL(billing(`/accounts/${ACCOUNT.id}/plan`));
    assert.equal((await page.locator('#plan').innerText()).trim(), target);
    await page.waitForFunction(() => document.querySelector('actas-banner').getAttribute('data-stepup') === 'used', null, { timeout: 3000 });
    await page.getByLabel('Change to').selectOption(before);
    await page.getByRole('button', { name: 'Change plan' }).click();
    await page.locator('#refusal').waitFor();
    const session = await must(200, 'GET', `/sessions/${sid}`, 'sam');
    assert.deepEqual(session.scope.map((a) => a.name), ['plan.view'], 'the scope never grew');
    assert.equal(session.stepups[0].status, 'used');
  } finally {
    await context.close();
    await lead.close();
    await ensureEnded(sid);
  }
});

test('a customer allows support in for some hours, and withdrawing it ends the live session at once, on the agent\'s screen too', async () => {
  // Acme Corp asks for its customer's permission before any support session (set by the host app).
  const asApp = async (method, p, body) => {
    const res = await fetch(`${demo.actas}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${demo.appKey}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json() };
  };
  const set = await asApp('PUT', `/accounts/${ACCOUNT.id}/consent`, { required: true, set_by: ACCOUNT.name });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const customer = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const agent = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  let sid;
  try {
    const refused = await api('POST', '/requests', 'maria', { ticket: TICKET, reason: REASON, actions: ['plan.view'] });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.type, 'urn:actas:problem:no-customer-grant');

    const page = await customer.newPage();
    await page.goto(billing(`/accounts/${ACCOUNT.id}/access`));
    assert.equal(await page.locator('#permission-state').innerText(), 'Support cannot access your account unless you allow it.');
    await page.getByLabel('For how long').selectOption('4');
    await page.getByRole('button', { name: 'Allow support to access my account' }).click();
    await page.locator('#permission-done').waitFor();
    assert.equal(await page.locator('#permission-done').innerText(), 'You allowed support to access your account.');
    assert.match(await page.locator('#permission-state').innerText(), new RegExp(`^Support may access your account until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC \\(allowed by ${esc(ACCOUNT.name)}\\)\\.$`));
    await shot(page, 'demo-consent-allowed');
    await page.setViewportSize({ width: 375, height: 720 });
    assert.equal(await sidewaysScroll(page), 0);
    await shot(page, 'demo-consent-allowed-375');
    await page.setViewportSize({ width: 1280, height: 720 });

    const req = await must(201, 'POST', '/requests', 'maria', { ticket: TICKET, reason: REASON, actions: ['plan.view'] });
    const started = await must(201, 'POST', `/requests/${req.id}/start`, 'maria', {});
    sid = started.session.id;
    const screen = await agent.newPage();
    await screen.goto(await enterUrl(sid));
    await waitForState(screen, 'live');

    // The kill switch: the agent's screen shows the end within 2 s.
    await page.getByRole('button', { name: 'Withdraw permission now' }).click();
    const withdrawn = Date.now();
    await page.locator('#permission-done').waitFor();
    assert.equal(await page.locator('#permission-done').innerText(), "You withdrew support's access; any live support session ended.");
    await waitForState(screen, 'ended', 3000);
    assert.ok(Date.now() - withdrawn < 2500, `ended on the agent's screen after ${Date.now() - withdrawn} ms`);
    assert.equal(await bannerAttr(screen, 'data-end-reason'), 'customer_revoked');
    const panel = (await shadowContent(screen)).texts.join(' ');
    assert.ok(panel.includes('the customer withdrew their permission'), panel);
    await shot(screen, 'demo-consent-withdrawn-agent');
    const session = await must(200, 'GET', `/sessions/${sid}`, 'sam');
    assert.equal(session.end_reason, 'customer_revoked');
    const again = await api('POST', '/requests', 'maria', { ticket: TICKET, reason: REASON, actions: ['plan.view'] });
    assert.equal(again.body.type, 'urn:actas:problem:no-customer-grant');
  } finally {
    await customer.close();
    await agent.close();
    await asApp('PUT', `/accounts/${ACCOUNT.id}/consent`, { required: false, set_by: ACCOUNT.name });
    if (sid) {
      await ensureEnded(sid);
    }
  }
});

test('break-glass: a session no lead approved is told to the leads at once, marked on the banner, and reviewed after it ends', async () => {
  const lead = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const agent = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  let sid;
  try {
    const leadPage = await lead.newPage();
    await signIn(leadPage, demo.actas, 'sam', demo.password);
    await leadPage.goto(`${demo.actas}/queue`);
    // Bea may break the glass; Maria may not.
    const refused = await api('POST', '/requests', 'maria', { ticket: TICKET, reason: GLASS_REASON, actions: ['sync.reset'], breakglass: true });
    assert.equal(refused.status, 403);
    const req = await must(201, 'POST', '/requests', 'bea', {
      ticket: TICKET,
      reason: GLASS_REASON,
      actions: ['settings.view', 'sync.reset'],
      breakglass: true,
    });
    assert.equal(req.status, 'approved', 'nobody approves a break-glass request');
    const started = await must(201, 'POST', `/requests/${req.id}/start`, 'bea', {});
    sid = started.session.id;
    assert.equal(started.session.breakglass, true);

    // Sam's open queue shows it without a reload.
    const card = leadPage.locator(`#g-${sid}`);
    await card.waitFor({ timeout: 5000 });
    assert.match(await card.innerText(), /Bea Stone in Acme Corp \(acct_42\)/);
    await shot(leadPage, 'demo-breakglass-queue');

    // The banner says so, on a desktop and on a phone.
    const entry = await must(201, 'POST', `/sessions/${sid}/entry`, 'bea', {});
    const screen = await agent.newPage();
    await screen.goto(entry.url);
    await waitForState(screen, 'live');
    assert.match(await bannerAttr(screen, 'data-breakglass'), /^Break-glass: no lead approved this session/);
    assert.equal(await bannerAttr(screen, 'data-approver'), "Started in an emergency without a lead's approval (break-glass)");
    for (const width of [1280, 375]) {
      await screen.setViewportSize({ width, height: 720 });
      const content = await shadowContent(screen);
      assert.ok(
        content.texts.some((t) => t.startsWith('Break-glass: no lead approved this session')),
        `the break-glass line at ${width} px: ${content.texts.join(' | ')}`,
      );
      const box = await screen.locator('actas-banner').boundingBox();
      assert.ok(box && box.x === 0 && box.width === width, JSON.stringify(box));
      assert.equal(await sidewaysScroll(screen), 0);
      await shot(screen, `demo-breakglass-banner-${width}`);
    }
    await must(200, 'POST', `/sessions/${sid}/end`, 'bea', {});

    // Sam reviews it from the session's page; it leaves the queue.
    await leadPage.goto(`${demo.actas}/sessions/${sid}`);
    await leadPage.getByLabel('What you found (required)').fill(GLASS_REVIEW);
    await shot(leadPage, 'demo-breakglass-review');
    await leadPage.getByRole('button', { name: 'Mark as reviewed' }).click();
    await leadPage.locator('#breakglass-mark', { hasText: 'reviewed by Sam Lee' }).waitFor();
    const session = await must(200, 'GET', `/sessions/${sid}`, 'sam');
    assert.equal(session.review.by, 'sam');
    assert.equal(session.review.note, GLASS_REVIEW);
    await leadPage.goto(`${demo.actas}/queue`);
    assert.equal(await leadPage.locator(`#g-${sid}`).count(), 0);
  } finally {
    await lead.close();
    await agent.close();
    if (sid && (await must(200, 'GET', `/sessions/${sid}`, 'sam')).state === 'live') {
      await must(200, 'POST', `/sessions/${sid}/end`, 'bea', {});
    }
  }
});

/** A string as a literal part of a regular expression. */
function esc(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
