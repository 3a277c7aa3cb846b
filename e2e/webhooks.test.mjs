// Webhooks out (SPEC §10), checked by a real peer: the reference Standard
// Webhooks library (npm `standardwebhooks`) verifies what actas sends. No
// browser. Two endpoints, each a local receiver, added with the CLI before
// the server starts: A takes every event type (`*`), B only `session.started`
// and `session.ended`. A small flow (a ticket, a request the policy
// approves at once, a session started and ended) then shows that:
//
// 1. every body A got verifies with A's secret, not with B's, and not once
//    one byte of it is changed; headers and body are as the contract says
//    (`webhook-id` is the event's id, `data` is the event exactly as
//    `GET /api/v1/audit` serves it);
// 2. A got the trail in order: `seq` rises by one each time and each
//    `prev_hash` is the previous event's `hash`;
// 3. B got only its two types, in order;
// 4. a receiver answering 500 is tried again 5 s later with the same
//    `webhook-id` (and nothing else goes to it meanwhile, while B is not held
//    up); the delivery log shows the failed attempt then the good one, to an
//    admin only, without any payload or customer data;
// 5. an admin's replay sends an event again, with the same `webhook-id`.
//
// The CLI also refuses a plain-http URL to another host.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Webhook, WebhookVerificationError } from 'standardwebhooks';

import { cliOn, newDatabase, serveOn } from './lib.mjs';

const PASSWORD = 'the console password of the webhooks test';
const ACCOUNT = { id: 'acct_42', name: 'Acme Corp' };
const TICKET = '48192';
const REASON = 'Customer cannot see the invoice settings after the plan change';
const STAFF = [
  ['maria', 'Maria Lopez', ['agent']],
  ['sam', 'Sam Lee', ['lead']],
  ['ada', 'Ada Quinn', ['admin']],
];
const B_TYPES = ['session.started', 'session.ended'];

let dir;
let db;
let actas; // { child, base, log() }
let appKey;
const tokens = {};
const hooks = {}; // a, b: { id, secret, receiver }
let refusedUrl = null; // whether `webhook add http://example.test/...` failed
const flow = {}; // session: the first session's id; retried: step 4's event and good delivery
const receivers = []; // every receiver started, to close

/**
 * A local receiver of deliveries: records each POST as `{headers, rawBody,
 * body, answered, at}` in `got` and answers `status` (switchable).
 */
function startReceiver(name) {
  const r = { name, got: [], status: 200, server: null, url: '' };
  receivers.push(r);
  r.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try {
        body = JSON.parse(rawBody);
      } catch {
        // kept as null; the checks say so
      }
      const answered = r.status;
      r.got.push({ method: req.method, path: req.url, headers: req.headers, rawBody, body, answered, at: Date.now() });
      res.writeHead(answered, { 'content-type': 'text/plain' });
      res.end(answered < 300 ? 'ok' : 'not now');
    });
  });
  return new Promise((resolve) =>
    r.server.listen(0, '127.0.0.1', () => {
      r.url = `http://127.0.0.1:${r.server.address().port}/hooks/${name}`;
      resolve(r);
    }),
  );
}

/** One line per delivery a receiver got, for assertion messages. */
function summary(r) {
  return (
    r.got
      .map(
        (g, i) =>
          `  #${i} ${g.method} ${g.path} -> ${g.answered}: webhook-id=${g.headers['webhook-id']} ` +
          `ts=${g.headers['webhook-timestamp']} type=${g.body?.type} seq=${g.body?.data?.seq}`,
      )
      .join('\n') || '  (nothing)'
  );
}

/** Polls `fn` every 100 ms until it answers something truthy; fails with `what()` after `ms`. */
async function waitFor(what, fn, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) {
      return v;
    }
    if (Date.now() > deadline) {
      assert.fail(`${what()} (waited ${ms} ms)`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Calls the actas API with `token` (a staff token or the app key). */
async function api(method, p, token, body) {
  const res = await fetch(`${actas.base}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

async function must(want, method, p, token, body) {
  const r = await api(method, p, token, body);
  assert.equal(r.status, want, `${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** `actas webhook add URL --events ...`: `{id, secret, output}`. */
function addWebhook(url, events) {
  const output = cliOn(db, ['webhook', 'add', url, '--events', ...events]);
  const lines = output.trim().split('\n');
  const secret = lines[lines.length - 1].trim();
  const id = output.match(/\b(whk_[A-Za-z0-9_-]+)/)?.[1];
  assert.ok(id, `webhook add printed no whk_ id:\n${output}`);
  assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/, `webhook add's last line is not a whsec_ secret:\n${output}`);
  assert.match(output, new RegExp(`Added webhook ${id} for .* to ${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\.`), output);
  return { id, secret, output };
}

/** Whether `new Webhook(secret).verify` accepts the delivery `g` (`rawBody` may be replaced). */
function verifies(secret, g, rawBody = g.rawBody) {
  try {
    new Webhook(secret).verify(rawBody, g.headers);
    return true;
  } catch (e) {
    if (e instanceof WebhookVerificationError) {
      return false;
    }
    throw e;
  }
}

/** The whole trail as a lead reads it (`GET /audit`, every page). */
async function audit() {
  const events = [];
  let cursor = null;
  do {
    const page = await must(200, 'GET', `/audit?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, tokens.sam);
    events.push(...page.events);
    cursor = page.next_cursor;
  } while (cursor);
  return events;
}

/** A's delivery log as `login` sees it. */
const deliveries = (login) => api('GET', `/webhooks/${hooks.a.id}/deliveries`, tokens[login]);

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'actas-webhooks-'));
  db = newDatabase(dir, 'webhooks');
  for (const [login, name, roles] of STAFF) {
    const out = cliOn(db, ['staff', 'add', login, '--name', name, '--role', ...roles, '--password-stdin'], `${PASSWORD}\n`);
    tokens[login] = out.trim().split('\n').pop().trim();
  }
  appKey = cliOn(db, ['app', 'add', 'Acme Billing', '--tickets', '--origin', 'http://127.0.0.1:9']).trim().split('\n').pop().trim();

  const a = await startReceiver('a');
  const b = await startReceiver('b');
  hooks.a = { ...addWebhook(a.url, ['*']), receiver: a };
  hooks.b = { ...addWebhook(b.url, B_TYPES), receiver: b };
  try {
    cliOn(db, ['webhook', 'add', 'http://example.test/hooks', '--events', '*']);
    refusedUrl = false;
  } catch {
    refusedUrl = true;
  }

  actas = await serveOn(db, []);

  await must(201, 'POST', '/tickets', appKey, {
    ref: TICKET,
    account_id: ACCOUNT.id,
    account_name: ACCOUNT.name,
    subject: 'Invoice settings are missing',
  });
  const asked = await must(201, 'POST', '/requests', tokens.maria, { ticket: TICKET, reason: REASON, actions: ['settings.view'] });
  assert.equal(asked.status, 'approved', `the policy did not approve settings.view at once: ${JSON.stringify(asked)}`);
  const started = await must(201, 'POST', `/requests/${asked.id}/start`, tokens.maria, {});
  flow.session = started.session.id;
  await must(200, 'POST', `/sessions/${flow.session}/end`, tokens.maria, {});

  // Deliveries go out about every second, one at a time per endpoint: A
  // has the set-up's events (staff, app, webhooks, policy) to go through too.
  await waitFor(
    () => `A did not get session.ended; it got:\n${summary(a)}\nactas log:\n${actas.log()}`,
    () => a.got.some((g) => g.body?.type === 'session.ended'),
    30000,
  );
  await waitFor(
    () => `B did not get session.ended; it got:\n${summary(b)}\nactas log:\n${actas.log()}`,
    () => b.got.some((g) => g.body?.type === 'session.ended'),
    5000,
  );
});

after(async () => {
  actas?.child.kill('SIGTERM');
  for (const r of receivers) {
    r.server.closeAllConnections();
    await new Promise((done) => r.server.close(done));
  }
  if (dir) {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('webhook add refuses a plain-http URL to another host than this one', () => {
  assert.equal(refusedUrl, true, 'actas webhook add http://example.test/hooks was accepted');
});

test('the webhooks are listed to an admin only, as they were added', async () => {
  const list = await must(200, 'GET', '/webhooks', tokens.ada);
  const byId = Object.fromEntries(list.webhooks.map((w) => [w.id, w]));
  const a = byId[hooks.a.id];
  const b = byId[hooks.b.id];
  assert.ok(a && b, `GET /webhooks misses A or B: ${JSON.stringify(list)}`);
  assert.deepEqual([a.url, a.events, a.state], [hooks.a.receiver.url, ['*'], 'active'], JSON.stringify(a));
  assert.deepEqual([b.url, b.events, b.state], [hooks.b.receiver.url, B_TYPES, 'active'], JSON.stringify(b));
  const raw = JSON.stringify(list);
  assert.ok(!raw.includes(hooks.a.secret) && !raw.includes(hooks.b.secret), `GET /webhooks shows a secret: ${raw}`);
  for (const login of ['maria', 'sam']) {
    const r = await api('GET', '/webhooks', tokens[login]);
    assert.equal(r.status, 403, `GET /webhooks as ${login}: ${r.status} ${JSON.stringify(r.body)}`);
  }
});

test('1. every delivery to A verifies with A\'s secret, not with B\'s, not with one byte changed; headers and body as agreed', async () => {
  const a = hooks.a.receiver;
  assert.ok(a.got.length > 0, 'A got nothing');
  const trail = new Map((await audit()).map((e) => [e.id, e]));
  for (const [i, g] of a.got.entries()) {
    const where = `A's delivery #${i}:\n${JSON.stringify({ headers: g.headers, rawBody: g.rawBody }, null, 2)}`;
    assert.equal(g.method, 'POST', where);
    assert.equal(g.answered, 200, where);
    assert.match(g.headers['content-type'] || '', /^application\/json\b/, where);
    assert.ok(verifies(hooks.a.secret, g), `does not verify with A's secret: ${where}`);
    assert.ok(!verifies(hooks.b.secret, g), `verifies with B's secret: ${where}`);
    const k = Math.floor(g.rawBody.length / 2);
    const changed = g.rawBody.slice(0, k) + (g.rawBody[k] === '1' ? '2' : '1') + g.rawBody.slice(k + 1);
    assert.ok(!verifies(hooks.a.secret, g, changed), `verifies with byte ${k} changed: ${where}`);

    assert.match(g.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/, where);
    const ts = Number(g.headers['webhook-timestamp']);
    assert.ok(Number.isInteger(ts) && Math.abs(ts - g.at / 1000) < 30, `webhook-timestamp is not the attempt's time: ${where}`);

    const { type, timestamp, data } = g.body ?? {};
    assert.deepEqual(Object.keys(g.body ?? {}).sort(), ['data', 'timestamp', 'type'], where);
    assert.equal(g.headers['webhook-id'], data.id, `webhook-id is not the event's id: ${where}`);
    assert.match(data.id, /^evt_/, where);
    assert.equal(type, data.type, where);
    assert.equal(Date.parse(timestamp), Date.parse(data.at), `timestamp is not the event's at: ${where}`);
    assert.deepEqual(data, trail.get(data.id), `data is not the event as GET /api/v1/audit serves it: ${where}`);
  }
});

test('2. A got the trail in order: seq without gaps, each prev_hash the previous hash', () => {
  const a = hooks.a.receiver;
  const events = a.got.map((g) => g.body.data);
  for (let i = 1; i < events.length; i++) {
    assert.equal(events[i].seq, events[i - 1].seq + 1, `seq ${events[i - 1].seq} then ${events[i].seq}; A got:\n${summary(a)}`);
    assert.equal(events[i].prev_hash, events[i - 1].hash, `event seq ${events[i].seq}'s prev_hash is not seq ${events[i - 1].seq}'s hash; A got:\n${summary(a)}`);
  }
  const types = events.map((e) => e.type);
  const flowTypes = ['ticket.created', 'request.created', 'request.approved', 'session.started', 'session.ended'];
  assert.deepEqual(types.filter((t) => flowTypes.includes(t)), flowTypes, `A missed part of the flow; it got:\n${summary(a)}`);
});

test('3. B got only session.started and session.ended, in that order, signed with its own secret', () => {
  const b = hooks.b.receiver;
  assert.deepEqual(b.got.map((g) => g.body?.type), B_TYPES, `B got:\n${summary(b)}`);
  for (const g of b.got) {
    assert.ok(verifies(hooks.b.secret, g), `B's delivery does not verify with B's secret:\n${g.rawBody}`);
    assert.ok(!verifies(hooks.a.secret, g), `B's delivery verifies with A's secret:\n${g.rawBody}`);
    assert.equal(g.body.data.session_id, flow.session, `B got another session's event:\n${g.rawBody}`);
  }
  assert.ok(b.got[0].body.data.seq < b.got[1].body.data.seq, `B got:\n${summary(b)}`);
});

test('4. a receiver answering 500 is tried again 5 s later with the same webhook-id; the log shows both attempts, to an admin only', async () => {
  const a = hooks.a.receiver;
  const b = hooks.b.receiver;
  const seen = a.got.length;
  const bSeen = b.got.length;
  a.status = 500;
  const asked = await must(201, 'POST', '/requests', tokens.maria, { ticket: TICKET, reason: REASON, actions: ['settings.view'] });
  const failed = await waitFor(
    () => `A was not sent the new request's event; it got:\n${summary(a)}`,
    () => a.got.slice(seen).find((g) => g.answered === 500),
    5000,
  );
  a.status = 200;
  const failedAt = failed.at;
  const id = failed.headers['webhook-id'];
  assert.equal(failed.body?.type, 'request.created', `A got:\n${summary(a)}`);
  assert.equal(failed.body.data.request_id, asked.id, `A got:\n${summary(a)}`);

  // The endpoint shows the failure until the retry succeeds.
  const failing = await waitFor(
    () => 'GET /webhooks never showed A failing',
    async () => {
      const list = await must(200, 'GET', '/webhooks', tokens.ada);
      const w = list.webhooks.find((x) => x.id === hooks.a.id);
      return w?.failures >= 1 ? w : null;
    },
    3000,
  );
  assert.equal(failing.state, 'active', JSON.stringify(failing));
  assert.ok(failing.last_error && failing.next_attempt_at, `a failing endpoint names its error and next attempt: ${JSON.stringify(failing)}`);

  // B is not held up by A: Maria starts the approved session, B hears of it.
  const started = await must(201, 'POST', `/requests/${asked.id}/start`, tokens.maria, {});
  await waitFor(
    () => `B did not get the second session.started while A was failing; B got:\n${summary(b)}`,
    () => b.got.slice(bSeen).some((g) => g.body?.type === 'session.started' && g.body.data.session_id === started.session.id),
    4000,
  );

  // The retry: the same webhook-id, a new timestamp, about 5 s after the failure, before anything else.
  const i = a.got.indexOf(failed);
  const retry = await waitFor(
    () => `A got no retry within 20 s of the failed attempt; it got:\n${summary(a)}`,
    () => a.got[i + 1],
    Math.max(0, failedAt + 20000 - Date.now()),
  );
  assert.equal(retry.headers['webhook-id'], id, `A was sent something else before the failed event was accepted:\n${summary(a)}`);
  assert.equal(retry.answered, 200);
  assert.equal(retry.rawBody, failed.rawBody, 'the retry carries another body');
  assert.ok(retry.at - failedAt >= 4000, `the retry came ${retry.at - failedAt} ms after the failure, before the 5 s backoff:\n${summary(a)}`);
  assert.ok(Number(retry.headers['webhook-timestamp']) > Number(failed.headers['webhook-timestamp']), `the retry has the failed attempt's timestamp:\n${summary(a)}`);
  assert.ok(verifies(hooks.a.secret, retry), `the retry does not verify:\n${retry.rawBody}`);

  // Then the rest follows, in order.
  await waitFor(
    () => `A did not get the second session.started after the retry; it got:\n${summary(a)}`,
    () => a.got.some((g) => g.body?.type === 'session.started' && g.body.data.session_id === started.session.id),
    5000,
  );
  const later = a.got.slice(i + 1).map((g) => g.body.data);
  for (let k = 1; k < later.length; k++) {
    assert.equal(later[k].seq, later[k - 1].seq + 1, `after the retry A got:\n${summary(a)}`);
    assert.equal(later[k].prev_hash, later[k - 1].hash, `after the retry A got:\n${summary(a)}`);
  }

  // The log, newest first: the failed attempt with 500, then an ok one.
  const log = await waitFor(
    () => `A's delivery log never showed an ok attempt for ${id}`,
    async () => {
      const r = await deliveries('ada');
      assert.equal(r.status, 200, `GET deliveries as ada: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.deliveries.some((d) => d.event_id === id && d.ok) ? r.body : null;
    },
    3000,
  );
  const mine = log.deliveries.filter((d) => d.event_id === id && !d.replay);
  const bad = mine.find((d) => d.status === 500);
  const good = mine.find((d) => d.ok);
  const shown = JSON.stringify(log.deliveries, null, 1);
  assert.ok(bad, `no failed attempt with status 500 for ${id}: ${shown}`);
  assert.ok(good, `no ok attempt for ${id}: ${shown}`);
  assert.equal(bad.ok, false, shown);
  assert.equal(good.status, 200, shown);
  assert.match(good.id, /^whd_/, shown);
  assert.equal(good.seq, failed.body.data.seq, shown);
  assert.equal(good.type, 'request.created', shown);
  assert.ok(good.attempt > bad.attempt, `the ok attempt is not after the failed one: ${shown}`);
  assert.ok(log.deliveries.indexOf(good) < log.deliveries.indexOf(bad), `the log is not newest first: ${shown}`);
  for (const word of [ACCOUNT.id, ACCOUNT.name, REASON, failed.body.data.hash, hooks.a.secret]) {
    assert.ok(!JSON.stringify(log).includes(word), `the delivery log shows ${JSON.stringify(word)}: ${shown}`);
  }
  const list = await must(200, 'GET', '/webhooks', tokens.ada);
  const w = list.webhooks.find((x) => x.id === hooks.a.id);
  assert.equal(w.failures, 0, `A still counts failures after the good retry: ${JSON.stringify(w)}`);

  for (const login of ['maria', 'sam']) {
    const r = await deliveries(login);
    assert.equal(r.status, 403, `GET deliveries as ${login}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  flow.retried = { id, delivery: good.id };
});

test('5. an admin\'s replay sends the event again, with the same webhook-id; nobody else may', async () => {
  assert.ok(flow.retried, 'step 4 did not finish');
  const a = hooks.a.receiver;
  const { id, delivery } = flow.retried;
  const replayPath = `/webhooks/${hooks.a.id}/deliveries/${delivery}/replay`;
  for (const login of ['maria', 'sam']) {
    const r = await api('POST', replayPath, tokens[login]);
    assert.equal(r.status, 403, `replay as ${login}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  const seen = a.got.length;
  const r = await api('POST', replayPath, tokens.ada);
  assert.equal(r.status, 202, `replay as ada: ${r.status} ${JSON.stringify(r.body)}`);
  const again = await waitFor(
    () => `A did not get ${id} again after the replay; it got:\n${summary(a)}`,
    () => a.got.slice(seen).find((g) => g.headers['webhook-id'] === id),
    6000,
  );
  assert.ok(verifies(hooks.a.secret, again), `the replay does not verify:\n${again.rawBody}`);
  assert.equal(again.body.data.id, id);
  await waitFor(
    () => `A's delivery log shows no replay of ${id}`,
    async () => (await deliveries('ada')).body.deliveries.some((d) => d.event_id === id && d.replay && d.ok),
    3000,
  );
  for (const login of ['maria', 'sam']) {
    const res = await api('POST', `/webhooks/${hooks.a.id}/resume`, tokens[login]);
    assert.equal(res.status, 403, `resume as ${login}: ${res.status} ${JSON.stringify(res.body)}`);
  }
});
