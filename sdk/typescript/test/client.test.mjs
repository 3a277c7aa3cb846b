// The client against a real actas: authorize, sessions, tickets, access
// log, notices, entry codes, typed problems, deadlines and retries.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { ActasProblem, ActasUnavailable, Client, sessionIsOver } from '../dist/esm/index.js';
import { ACCOUNT, TICKET, startActas, waitFor } from './harness.mjs';

/** Asserts that `promise` rejects with an ActasProblem of `status` and `slug`. */
async function problem(promise, status, slug) {
  let caught;
  await assert.rejects(promise, (e) => {
    caught = e;
    assert.ok(e instanceof ActasProblem, `an ActasProblem, not ${e}`);
    assert.equal(e.status, status, e.message);
    assert.equal(e.slug, slug, e.message);
    assert.equal(e.type, `urn:actas:problem:${slug}`);
    assert.equal(typeof e.title, 'string');
    assert.ok(e.detail.length > 0);
    return true;
  });
  return caught;
}

/** A TCP server that accepts connections and does `onConnection` with them. */
async function rawServer(onConnection) {
  const connections = [];
  const server = createServer((socket) => {
    connections.push(socket);
    onConnection(socket);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    connections,
    close: () => {
      for (const s of connections) {
        s.destroy();
      }
      return new Promise((r) => server.close(r));
    },
  };
}

/** A port nothing listens on. */
async function closedPort() {
  const s = await rawServer(() => {});
  await s.close();
  return s.base;
}

describe('Client', () => {
  let actas;
  let client;
  before(async () => {
    actas = await startActas();
    client = new Client(actas.base, actas.appKey);
  });
  after(() => actas.close());

  test('authorize allows an action in scope and refuses one outside it', async () => {
    const { token } = await actas.session(['settings.view']);
    const yes = await client.authorize(token, 'settings.view');
    assert.equal(yes.allowed, true);
    assert.equal(yes.reason, 'ok');
    const no = await client.authorize(token, 'billing.update');
    assert.deepEqual([no.allowed, no.reason], [false, 'not_in_scope']);
    assert.ok(no.event_id, 'refusals are audited too');
    const other = await client.authorize(token, 'settings.view', { target: { account_id: 'acct_99' } });
    assert.deepEqual([other.allowed, other.reason], [false, 'wrong_account']);
    const forged = await client.authorize(token.slice(0, -4) + 'AAAA', 'settings.view');
    assert.deepEqual([forged.allowed, forged.reason], [false, 'bad_token']);
  });

  test('a change is authorized with its target and old → new values, and the customer sees it', async () => {
    const { sid, token } = await actas.session(['settings.view', 'invoice_email.update']);
    const answer = await client.authorize(token, 'invoice_email.update', {
      target: { account_id: ACCOUNT.id, type: 'account', id: ACCOUNT.id },
      changes: [{ field: 'invoice_email', old: 'old@acme.test', new: 'new@acme.test' }],
    });
    assert.equal(answer.allowed, true, JSON.stringify(answer));
    assert.match(answer.event_id, /^evt_/);

    // The audit trail holds the event the answer names, with the change.
    const trail = await actas.must(200, 'GET', `/audit?session=${sid}&type=action.performed`, actas.sam);
    const event = trail.events.find((e) => e.id === answer.event_id);
    assert.ok(event, `event ${answer.event_id} in ${JSON.stringify(trail.events.map((e) => e.id))}`);
    assert.match(event.text, /old@acme\.test/);
    assert.match(event.text, /new@acme\.test/);

    // The access log (what the customer reads) shows the session and the change.
    const log = await client.accessLog(ACCOUNT.id);
    assert.equal(log.account_id, ACCOUNT.id);
    const entry = log.entries.find((e) => e.session_id === sid);
    assert.ok(entry, 'the session is in the access log');
    assert.equal(entry.ticket, TICKET);
    assert.equal(entry.state, 'live');
    assert.ok(entry.changes.some((c) => c.includes('old@acme.test') && c.includes('new@acme.test')), entry.changes.join(' | '));
    assert.ok(entry.allowed.length >= 2);
  });

  test('sessions: read with the app key, ended with their own token; an ended session refuses', async () => {
    const { sid, token } = await actas.session(['settings.view']);
    const s = await client.session(sid);
    assert.equal(s.id, sid);
    assert.equal(s.state, 'live');
    assert.equal(s.app_id, actas.appId);
    assert.deepEqual(s.scope.map((a) => a.name), ['settings.view']);
    assert.equal(typeof s.scope[0].label, 'string');

    const ended = await client.endSession(sid, token);
    assert.equal(ended.state, 'ended');
    assert.equal(ended.end_reason, 'ended');
    assert.equal((await client.session(sid)).state, 'ended');
    await problem(client.endSession(sid, token), 409, 'session-ended');

    const after = await client.authorize(token, 'settings.view');
    assert.deepEqual([after.allowed, after.reason], [false, 'session_ended']);
    assert.ok(sessionIsOver(after.reason));
    assert.ok(!sessionIsOver('not_in_scope'));
  });

  test('a break-glass session reads as such, then with its review once a lead gave it', async () => {
    const bea = actas.cli(['staff', 'add', 'bea', '--name', 'Bea Stone', '--role', 'agent', 'breakglass']).trim().split('\n').pop().trim();
    const reason = 'Sync outage: every account stuck since the deploy, no lead reachable';
    const req = await actas.must(201, 'POST', '/requests', bea, { ticket: TICKET, reason, actions: ['settings.view'], breakglass: true });
    assert.deepEqual([req.kind, req.status], ['breakglass', 'approved']);
    const started = await actas.must(201, 'POST', `/requests/${req.id}/start`, bea, {});
    const sid = started.session.id;

    const live = await client.session(sid);
    assert.equal(live.breakglass, true);
    assert.equal(live.review, null);
    assert.equal(live.approver, 'breakglass');
    assert.equal(live.approved_by, "started in an emergency without a lead's approval (break-glass)");

    await actas.must(200, 'POST', `/sessions/${sid}/end`, bea, {});
    const note = 'Reset nothing; only looked at the settings during the outage';
    await actas.must(200, 'POST', `/sessions/${sid}/review`, actas.sam, { note });
    const reviewed = await client.session(sid);
    assert.equal(reviewed.breakglass, true);
    assert.deepEqual([reviewed.review?.by, reviewed.review?.by_name, reviewed.review?.note], ['sam', 'Sam Lee', note]);
    assert.ok(Date.parse(reviewed.review.at) >= Date.parse(reviewed.ended_at));

    // A session a lead approved (or the policy) is not break-glass.
    const { sid: usual } = await actas.session(['settings.view']);
    const s = await client.session(usual);
    assert.deepEqual([s.breakglass, s.review], [false, null]);
  });

  test('problems are typed: bad key, unknown session, unknown action, malformed body', async () => {
    const { token } = await actas.session(['settings.view']);
    const wrongKey = new Client(actas.base, 'actas_app_wrong');
    const p = await problem(wrongKey.authorize(token, 'settings.view'), 401, 'unauthorized');
    assert.equal(p.name, 'ActasProblem');
    assert.deepEqual(Object.keys(p.toJSON()).sort(), ['detail', 'status', 'title', 'type']);
    await problem(wrongKey.accessLog(ACCOUNT.id), 401, 'unauthorized');
    await problem(client.session('ses_nope'), 404, 'not-found');
    // An id that is not one path segment stays one.
    await problem(client.session('ses_1/../../tickets'), 404, 'not-found');
    // A refused body names its field.
    const tooLong = await problem(client.authorize(token, 'x'.repeat(101)), 400, 'too-long');
    assert.equal(tooLong.field, 'action');
  });

  test('tickets are pushed with the tickets permission', async () => {
    const t = await client.createTicket({ ref: 'TS-1', account_id: 'acct_7', account_name: 'Initech', subject: 'Export fails' });
    assert.equal(t.ref, 'TS-1');
    assert.equal(t.account_id, 'acct_7');
    assert.equal(t.status, 'open');
    assert.equal(t.source, 'app');
    await problem(client.createTicket({ ref: 'TS-1', account_id: 'acct_8', subject: 'Other account' }), 409, 'ticket-exists');
  });

  test('customer notes are listed after a position and marked delivered', async () => {
    const { sid } = await actas.session(['settings.view']);
    await actas.end(sid);
    const notes = await waitFor('the customer note', async () => {
      const list = await client.notices(0);
      return list.find((n) => n.session_id === sid) ? list : null;
    });
    const note = notes.find((n) => n.session_id === sid);
    assert.match(note.id, /^ntc_/);
    assert.equal(note.account_id, ACCOUNT.id);
    assert.equal(note.data.ticket, TICKET);
    assert.ok(note.text.length > 0);
    assert.equal(note.delivered_at ?? null, null);
    // After its own position, it is not listed again.
    assert.ok(!(await client.notices(note.seq)).some((n) => n.id === note.id));
    assert.ok((await client.notices(0, { limit: 1 })).length <= 1);
    const delivered = await client.noticeDelivered(note.id);
    assert.equal(delivered.id, note.id);
    assert.ok(delivered.delivered_at);
  });

  test('a one-time entry code is exchanged once', async () => {
    const { sid } = await actas.session(['settings.view']);
    const entry = await actas.must(201, 'POST', `/sessions/${sid}/entry`, actas.maria, {});
    assert.ok(entry.code);
    const started = await client.enter(entry.code);
    assert.equal(started.session.id, sid);
    assert.equal(typeof started.token, 'string');
    const used = await client.enter(entry.code).catch((e) => e);
    assert.ok(used instanceof ActasProblem, String(used));
    assert.equal(used.slug, 'entry-code-used');
    const unknown = await client.enter('actas_entry_nope').catch((e) => e);
    assert.ok(unknown instanceof ActasProblem, String(unknown));
    assert.equal(unknown.slug, 'entry-code-unknown');
  });

  test('every call has a deadline, and the caller can abort it', async () => {
    // A server that accepts and never answers.
    const silent = await rawServer(() => {});
    try {
      const slow = new Client(silent.base, 'k', { timeout: 300 });
      const started = Date.now();
      const e = await slow.session('ses_1').catch((x) => x);
      assert.ok(e instanceof ActasUnavailable, String(e));
      assert.equal(e.timedOut, true);
      assert.ok(Date.now() - started < 2000, 'the deadline covers the retries');
      const t2 = Date.now();
      const post = await slow.authorize('t', 'settings.view', { timeout: 200 }).catch((x) => x);
      assert.ok(post instanceof ActasUnavailable && post.timedOut);
      assert.ok(Date.now() - t2 < 1500);
      const ac = new AbortController();
      const pending = new Client(silent.base, 'k').session('ses_1', { signal: ac.signal });
      ac.abort(new Error('the page was closed'));
      await assert.rejects(pending, /the page was closed/);
    } finally {
      await silent.close();
    }
  });

  test('GETs are retried after connection failures; a POST whose bytes went out is never sent again', async () => {
    // The connection is dropped after the request arrived.
    const dropping = await rawServer((socket) => socket.once('data', () => socket.destroy()));
    try {
      const c = new Client(dropping.base, 'k', { retries: 2 });
      const get = await c.session('ses_1').catch((e) => e);
      assert.ok(get instanceof ActasUnavailable, String(get));
      assert.equal(dropping.connections.length, 3, 'a GET is tried three times');
      const before = dropping.connections.length;
      const post = await c.authorize('t', 'settings.view').catch((e) => e);
      assert.ok(post instanceof ActasUnavailable, String(post));
      assert.equal(dropping.connections.length - before, 1, 'a POST that reached the server is sent once');
    } finally {
      await dropping.close();
    }
    // Nothing listens: the POST never left, so it is tried again.
    const nobody = await closedPort();
    let attempts = 0;
    const counting = (url, init) => {
      attempts += 1;
      return fetch(url, init);
    };
    const c = new Client(nobody, 'k', { retries: 2, fetch: counting });
    const refused = await c.authorize('t', 'settings.view').catch((e) => e);
    assert.ok(refused instanceof ActasUnavailable, String(refused));
    assert.match(refused.message, /ECONNREFUSED/);
    assert.equal(attempts, 3);
  });

  test('a GET answered 503 is asked again; a POST answered 503 is not', async () => {
    let n = 0;
    const flaky = await rawServer((socket) =>
      socket.once('data', () => {
        n += 1;
        const body = JSON.stringify({ type: 'urn:actas:problem:unavailable', title: 'Unavailable', status: 503, detail: 'The audit cannot be written.' });
        socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      }),
    );
    try {
      const c = new Client(flaky.base, 'k', { retries: 1 });
      await problem(c.session('ses_1'), 503, 'unavailable');
      assert.equal(n, 2);
      n = 0;
      const p = await problem(c.authorize('t', 'settings.view'), 503, 'unavailable');
      assert.equal(p.detail, 'The audit cannot be written.');
      assert.equal(n, 1);
    } finally {
      await flaky.close();
    }
  });
});
