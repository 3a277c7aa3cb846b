// The banner (SPEC §7) in a real browser: fixed on every page and above
// modals, in every tab, on phone widths; names as text; the countdown; Exit;
// ended everywhere within 2 seconds. Each test leaves a screenshot in
// target/screenshots/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  ACCOUNT,
  AGENT_NAME,
  LABELS,
  LEAD_NAME,
  bannerAttr,
  exitButtonCentre,
  focusedAccessible,
  pageUrl,
  setup,
  shadowContent,
  shot,
  topElementAtBanner,
  waitForState,
} from './lib.mjs';

let env;
let first; // the session of the first tests: { sid, token }

before(async () => {
  env = await setup();
  first = await env.newSession();
});

after(async () => {
  if (env) {
    await env.close();
  }
});

/** A new page that records JavaScript dialogs (alert) and image requests. */
async function open(context, url) {
  const page = await context.newPage();
  const seen = { dialogs: [], images: [] };
  page.on('dialog', (d) => {
    seen.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('request', (r) => {
    if (r.resourceType() === 'image') {
      seen.images.push(r.url());
    }
  });
  await page.goto(url);
  await waitForState(page, 'live');
  return { page, seen };
}

test('the banner shows account, agent, approver and allowed actions, names as text', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 720 } });
  const { page, seen } = await open(context, pageUrl(env, 'plain', first.token));

  assert.equal(await bannerAttr(page, 'data-account'), `${ACCOUNT.name} (${ACCOUNT.id})`);
  assert.equal(await bannerAttr(page, 'data-agent'), AGENT_NAME);
  assert.equal(await bannerAttr(page, 'data-approver'), `Approved by ${LEAD_NAME}`);
  assert.equal(await bannerAttr(page, 'data-allowed'), LABELS.join(', '));
  assert.equal(await bannerAttr(page, 'role'), 'region');
  assert.equal(await bannerAttr(page, 'aria-label'), 'Support session in progress');

  // The shadow root is closed: page scripts cannot reach into it.
  assert.equal(await page.evaluate(() => document.querySelector('actas-banner').shadowRoot), null);
  const shadow = await shadowContent(page);
  assert.equal(shadow.mode, 'closed');
  assert.ok(!shadow.tags.includes('img'), `an element was made from a name: ${shadow.tags}`);
  assert.ok(shadow.texts.includes(AGENT_NAME), `the agent's name is not shown as text: ${shadow.texts}`);
  assert.ok(shadow.texts.includes(`${ACCOUNT.name} (${ACCOUNT.id})`), `${shadow.texts}`);
  assert.ok(shadow.texts.includes(`Approved by ${LEAD_NAME}`), `${shadow.texts}`);
  assert.ok(shadow.texts.includes(LABELS.join(', ')), `${shadow.texts}`);
  assert.ok(shadow.texts.includes('Exit support session'), `${shadow.texts}`);

  // Fixed at the top, full width, and the page is pushed down below it.
  const box = await page.locator('actas-banner').boundingBox();
  assert.ok(box && box.y === 0 && box.x === 0 && box.width === 1280 && box.height > 30, JSON.stringify(box));
  const headerTop = await page.evaluate(() => document.getElementById('top').getBoundingClientRect().top);
  assert.ok(headerTop >= box.height - 1, `the page starts at ${headerTop}, under a ${box.height}px banner`);

  // Activity on the page is reported.
  const beat = page.waitForRequest((r) => r.url().endsWith(`/sessions/${first.sid}/heartbeat`), { timeout: 5000 });
  await page.mouse.move(300, 400);
  await page.mouse.move(320, 420);
  await beat;

  await page.waitForTimeout(300);
  assert.deepEqual(seen.dialogs, [], 'a name ran as script');
  assert.deepEqual(seen.images, [], 'a name was loaded as an image');
  await shot(page, 'banner-plain');
  await context.close();
});

test('the countdown moves', async () => {
  const context = await env.browser.newContext();
  const { page } = await open(context, pageUrl(env, 'plain', first.token));
  const a = await bannerAttr(page, 'data-countdown');
  await page.waitForTimeout(1500);
  const b = await bannerAttr(page, 'data-countdown');
  assert.match(a, /^\d{2}:\d{2}$/);
  assert.match(b, /^\d{2}:\d{2}$/);
  const secs = (s) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
  assert.ok(secs(a) > secs(b), `${a} then ${b}`);
  assert.ok(secs(a) <= 15 * 60 && secs(a) > 13 * 60, a);
  await shot(page, 'banner-countdown');
  await context.close();
});

test("the page's CSS cannot hide the banner", async () => {
  const context = await env.browser.newContext({ viewport: { width: 1024, height: 600 } });
  const { page } = await open(context, pageUrl(env, 'hostile', first.token));
  const banner = page.locator('actas-banner');
  const box = await banner.boundingBox();
  assert.ok(box && box.width === 1024 && box.height > 30 && box.y === 0, JSON.stringify(box));
  assert.ok(await banner.isVisible());
  const style = await page.evaluate(() => {
    const s = getComputedStyle(document.querySelector('actas-banner'));
    return { display: s.display, visibility: s.visibility, opacity: s.opacity, transform: s.transform };
  });
  assert.deepEqual(style, { display: 'block', visibility: 'visible', opacity: '1', transform: 'none' });
  const top = await topElementAtBanner(page);
  assert.ok(top.isBanner, `found ${top.hit} at the banner's centre`);
  await shot(page, 'banner-hostile-css');
  await context.close();
});

test('the banner stays above a full-screen overlay and a modal dialog', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1024, height: 600 } });
  const { page } = await open(context, pageUrl(env, 'modal', first.token));

  let top = await topElementAtBanner(page);
  assert.ok(top.isBanner, `under the overlay: found ${top.hit}`);

  await page.evaluate(() => window.openDialog());
  await page.waitForFunction(() => document.getElementById('confirm').matches(':modal'));
  await page.waitForTimeout(100);
  top = await topElementAtBanner(page);
  assert.ok(top.isBanner, `with the modal open: found ${top.hit}`);
  const box = await page.locator('actas-banner').boundingBox();
  assert.ok(box && box.y === 0 && box.width === 1024, JSON.stringify(box));
  await shot(page, 'banner-above-modal');

  // Closing the dialog leaves the banner on top of the overlay.
  await page.evaluate(() => window.closeDialog());
  await page.waitForTimeout(100);
  top = await topElementAtBanner(page);
  assert.ok(top.isBanner, `after the modal closed: found ${top.hit}`);
  assert.equal(await bannerAttr(page, 'data-state'), 'live');
  await context.close();
});

test('at 375 px wide the banner wraps, stays within the screen and readable', async () => {
  const context = await env.browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true });
  const { page } = await open(context, pageUrl(env, 'plain', first.token));
  const box = await page.locator('actas-banner').boundingBox();
  assert.ok(box, 'no box');
  assert.ok(box.x >= 0 && box.x + box.width <= 375, JSON.stringify(box));
  assert.ok(box.height > 60, `one line only: ${box.height}px`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  const headerTop = await page.evaluate(() => document.getElementById('top').getBoundingClientRect().top);
  assert.ok(headerTop >= box.height - 1, `the page starts at ${headerTop}, under a ${box.height}px banner`);
  await shot(page, 'banner-375px');
  await context.close();
});

test('every tab shows the banner, and Exit in one tab shows ended in the other within 2 s', async () => {
  const context = await env.browser.newContext({ viewport: { width: 1024, height: 400 } });
  const one = await open(context, pageUrl(env, 'plain', first.token));
  const two = await open(context, pageUrl(env, 'modal', first.token));
  assert.equal(await bannerAttr(two.page, 'data-agent'), AGENT_NAME);
  await shot(two.page, 'banner-second-tab');

  await one.page.bringToFront();
  const t0 = Date.now();
  // The Exit button is inside the closed shadow root: click where it is.
  const exit = await exitButtonCentre(one.page);
  await one.page.mouse.click(exit.x, exit.y);
  await waitForState(one.page, 'ended', 2000);
  await waitForState(two.page, 'ended', 2000);
  const took = Date.now() - t0;
  assert.ok(took < 2000, `${took} ms`);
  assert.equal(await bannerAttr(one.page, 'data-end-reason'), 'ended');
  assert.equal(await bannerAttr(two.page, 'data-end-reason'), 'ended');
  assert.equal(await bannerAttr(two.page, 'aria-label'), 'Support session ended');
  assert.ok(await two.page.locator('actas-banner').isVisible(), 'an ended banner stays visible');
  const session = await env.must(200, 'GET', `/sessions/${first.sid}`, env.sam);
  assert.equal(session.state, 'ended');
  assert.equal(session.end_reason, 'ended');
  await shot(one.page, 'banner-ended-tab-1');
  await shot(two.page, 'banner-ended-tab-2');
  await context.close();
});

test('a revoke from elsewhere shows ended on the page within 2 s', async () => {
  const s = await env.newSession();
  const context = await env.browser.newContext({ viewport: { width: 1024, height: 400 } });
  const { page } = await open(context, pageUrl(env, 'plain', s.token));
  const t0 = Date.now();
  await env.must(200, 'POST', `/sessions/${s.sid}/revoke`, env.sam, { note: 'Customer withdrew consent on the call' });
  await waitForState(page, 'ended', 2000);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(await bannerAttr(page, 'data-end-reason'), 'revoked');
  const shadow = await shadowContent(page);
  assert.ok(
    shadow.texts.some((t) => t.includes('Support session ended (revoked by a lead: Customer withdrew consent')),
    `${shadow.texts}`,
  );
  // No more heartbeats once ended.
  let beats = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/heartbeat')) {
      beats += 1;
    }
  });
  await page.mouse.move(100, 300);
  await page.keyboard.press('Shift');
  await page.waitForTimeout(300);
  assert.equal(beats, 0);
  await shot(page, 'banner-revoked');
  await context.close();
});

test('the keyboard reaches Exit, with a warning when little time is left', async () => {
  const s = await env.newSession(2);
  const context = await env.browser.newContext({ viewport: { width: 1024, height: 400 } });
  const { page } = await open(context, pageUrl(env, 'plain', s.token));
  await page.waitForFunction(() => document.querySelector('actas-banner').getAttribute('data-warning'));
  assert.match(await bannerAttr(page, 'data-warning'), /Less than 2 minutes left/);

  let reached = false;
  for (let i = 0; i < 15 && !reached; i += 1) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement === document.querySelector('actas-banner'));
  }
  assert.ok(reached, 'Tab never reached the banner');
  assert.deepEqual(await focusedAccessible(page), { role: 'button', name: 'Exit support session' });
  await shot(page, 'banner-keyboard-focus');

  await page.keyboard.press('Enter');
  await waitForState(page, 'ended', 2000);
  assert.equal(await bannerAttr(page, 'data-end-reason'), 'ended');
  await shot(page, 'banner-ended-by-keyboard');
  await context.close();
});

test('the banner warns before the session idles out, and activity is reported', async () => {
  const idle = await setup({ idleMinutes: 2 });
  try {
    const s = await idle.newSession();
    const context = await idle.browser.newContext({ viewport: { width: 1024, height: 400 } });
    const { page } = await open(context, pageUrl(idle, 'plain', s.token));
    await page.waitForFunction(() => document.querySelector('actas-banner').getAttribute('data-warning'));
    assert.match(await bannerAttr(page, 'data-warning'), /ends within 2 minutes for inactivity/);
    const before = (await idle.must(200, 'GET', `/sessions/${s.sid}`, idle.sam)).last_activity_at;
    const beat = page.waitForResponse((r) => r.url().endsWith(`/sessions/${s.sid}/heartbeat`), { timeout: 5000 });
    await page.keyboard.press('Shift');
    assert.equal((await beat).status(), 200);
    const after = (await idle.must(200, 'GET', `/sessions/${s.sid}`, idle.sam)).last_activity_at;
    assert.ok(Date.parse(after) > Date.parse(before), `${before} then ${after}`);
    await shot(page, 'banner-idle-warning');
    await context.close();
  } finally {
    await idle.close();
  }
});
