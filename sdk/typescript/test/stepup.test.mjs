// Step-up for one change against a real actas: a change `authorize`
// refused is asked of a lead with the session's token, approved by Sam,
// allowed once; refusals are typed problems and store nothing else.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ActasProblem, ActasUnavailable, Client, createActas } from '../dist/esm/index.js';
import { ACCOUNT, startActas, startProxy } from './harness.mjs';

const WHY = 'Customer asked to move from Pro to Basic before the renewal on the 1st';

/** The plan change, Pro to `to`, as `authorize` and `askStepUp` name it. */
function planChange(to = 'Basic') {
  return { target: { type: 'subscription', id: 'sub_9' }, changes: [{ field: 'plan', old: 'Pro', new: to }] };
}

/** Asserts that `promise` rejects with an ActasProblem of `status` and `slug`. */
async function problem(promise, status, slug) {
  const e = await promise.then(
    (v) => assert.fail(`resolved with ${JSON.stringify(v)}`),
    (x) => x,
  );
  assert.ok(e instanceof ActasProblem, `an ActasProblem, not ${e}`);
  assert.equal(e.status, status, e.message);
  assert.equal(e.slug, slug, e.message);
  assert.equal(e.type, `urn:actas:problem:${slug}`);
  assert.ok(e.detail.length > 0);
  return e;
}

describe('Client.askStepUp', () => {
  let actas;
  let client;
  before(async () => {
    actas = await startActas();
    client = new Client(actas.base, actas.appKey);
  });
  after(() => actas.close());

  /** The session's audit events, oldest first, as a lead reads them. */
  async function trail(sid) {
    const page = await actas.must(200, 'GET', `/audit?session=${sid}`, actas.sam);
    return page.events;
  }

  /** How many requests a lead sees. */
  async function requestCount() {
    return (await actas.must(200, 'GET', '/requests', actas.sam)).requests.length;
  }

  test('a refused change is asked of a lead, approved by Sam, and allowed once; the scope never grows', async () => {
    const { sid, token } = await actas.session(['settings.view']);
    const refused = await client.authorize(token, 'billing.update', planChange());
    assert.deepEqual([refused.allowed, refused.reason], [false, 'not_in_scope']);

    const asked = await client.askStepUp(token, sid, { action: 'billing.update', ...planChange(), reason: WHY });
    assert.match(asked.id, /^req_/);
    assert.equal(asked.kind, 'stepup');
    assert.equal(asked.status, 'pending');
    assert.equal(asked.session_id, sid);
    assert.equal(asked.account_id, ACCOUNT.id);
    assert.equal(asked.requester, 'maria', "asked with the session's token, in the agent's name");
    assert.equal(asked.reason, WHY);
    assert.deepEqual(asked.actions.map((a) => a.name), ['billing.update']);
    assert.deepEqual(asked.stepup, {
      target: { account_id: null, type: 'subscription', id: 'sub_9' },
      changes: [{ field: 'plan', old: 'Pro', new: 'Basic' }],
    });

    // The session shows it waiting, latest first.
    const waiting = await client.session(sid);
    assert.equal(waiting.stepups.length, 1);
    const [pending] = waiting.stepups;
    assert.equal(pending.id, asked.id);
    assert.equal(pending.status, 'pending');
    assert.deepEqual(pending.action, { name: 'billing.update', label: 'Change billing details' });
    assert.deepEqual(pending.change, asked.stepup);
    assert.ok(pending.summary.startsWith('Change billing details (plan from Pro to Basic'), pending.summary);
    assert.equal(pending.reason, WHY);
    assert.equal(pending.decided_by ?? null, null);
    assert.equal(pending.use_by ?? null, null);

    // Not approved yet: still refused.
    assert.equal((await client.authorize(token, 'billing.update', planChange())).allowed, false);

    await actas.must(200, 'POST', `/requests/${asked.id}/approve`, actas.sam, {});
    const decided = await client.session(sid);
    const [approved] = decided.stepups;
    assert.equal(approved.status, 'approved');
    assert.equal(approved.decided_by, 'Sam Lee');
    const useBy = Date.parse(approved.use_by);
    assert.ok(useBy > Date.now() && useBy <= Date.now() + 5 * 60 * 1000 + 5000, approved.use_by);
    assert.deepEqual(decided.scope.map((a) => a.name), ['settings.view']);

    // Another new value is not the change approved.
    const other = await client.authorize(token, 'billing.update', planChange('Enterprise'));
    assert.deepEqual([other.allowed, other.reason], [false, 'not_in_scope']);

    // The change approved: once.
    const yes = await client.authorize(token, 'billing.update', planChange());
    assert.equal(yes.allowed, true, JSON.stringify(yes));
    assert.match(yes.event_id, /^evt_/);
    const again = await client.authorize(token, 'billing.update', planChange());
    assert.deepEqual([again.allowed, again.reason], [false, 'not_in_scope']);

    const done = await client.session(sid);
    assert.equal(done.stepups[0].status, 'used');
    assert.equal(done.stepups[0].use_by ?? null, null);
    assert.deepEqual(done.scope.map((a) => a.name), ['settings.view'], 'the scope never grew');
    const types = (await trail(sid)).map((e) => e.type);
    for (const t of ['stepup.requested', 'stepup.approved', 'stepup.used']) {
      assert.equal(types.filter((x) => x === t).length, 1, `${t} in ${types.join(', ')}`);
    }
  });

  test('a vague reason is refused as reason-vague, and only the refusal is recorded', async () => {
    const { sid, token } = await actas.session(['settings.view']);
    const events = (await trail(sid)).length;
    const requests = await requestCount();

    const p = await problem(
      client.askStepUp(token, sid, { action: 'billing.update', ...planChange(), reason: 'need access' }),
      422,
      'reason-vague',
    );
    assert.match(p.detail, /need access/);

    const now = await trail(sid);
    assert.equal(now.length, events + 1, 'exactly one event: the refusal');
    const last = now.at(-1);
    assert.equal(last.type, 'request.refused');
    assert.equal(last.data.code, 'reason-vague');
    assert.equal(await requestCount(), requests, 'no request was stored');
    assert.equal((await client.session(sid)).stepups, undefined, 'the session has no step-up');
  });

  test('a step-up that breaks a rule is refused with its problem type', async () => {
    const { sid, token } = await actas.session(['settings.view', 'invoice_email.update']);
    const requests = await requestCount();
    const cases = [
      [{ action: 'no.such', reason: WHY }, 'unknown-action'],
      [{ action: 'plan.view', reason: WHY }, 'not-a-change'],
      [{ action: 'invoice_email.update', reason: WHY }, 'nothing-new'],
      [{ action: 'billing.update', target: { account_id: 'acct_7' }, reason: WHY }, 'wrong-account'],
    ];
    for (const [ask, slug] of cases) {
      await problem(client.askStepUp(token, sid, ask), 422, slug);
    }
    const malformed = await problem(client.askStepUp(token, sid, { action: '', reason: WHY }), 400, 'invalid-body');
    assert.match(malformed.detail, /action/);
    assert.equal(await requestCount(), requests, 'no request was stored');
    assert.equal((await client.session(sid)).stepups, undefined);
  });

  test('an ended session takes no step-up; createActas then refuses its token', async () => {
    const { sid, token } = await actas.session(['settings.view']);
    const kit = createActas({ url: actas.base, appId: actas.appId, appKey: actas.appKey, follow: false, routes: false });
    try {
      const who = await kit.verifier.verify(token);
      const asked = await kit.askStepUp(who, { action: 'billing.update', ...planChange(), reason: WHY });
      assert.equal(asked.status, 'pending');
      assert.equal(asked.session_id, sid);

      await actas.end(sid);
      assert.equal(kit.guard.hasEnded(sid), false);
      await problem(kit.askStepUp(who, { action: 'billing.update', reason: WHY }), 409, 'session-ended');
      assert.equal(kit.guard.hasEnded(sid), true, 'the guard heard that the session ended');
    } finally {
      kit.close();
    }
  });

  test('a step-up whose bytes went out is never sent again', async () => {
    const proxy = await startProxy(actas.base);
    try {
      const { sid, token } = await actas.session(['settings.view']);
      proxy.state.down = true;
      const c = new Client(proxy.base, actas.appKey, { retries: 2 });
      const e = await c.askStepUp(token, sid, { action: 'billing.update', reason: WHY }).catch((x) => x);
      assert.ok(e instanceof ActasUnavailable, String(e));
      assert.equal(proxy.count(`/api/v1/sessions/${sid}/stepup`), 1);

      proxy.state.down = false;
      const asked = await c.askStepUp(token, sid, { action: 'billing.update', reason: WHY });
      assert.equal(asked.kind, 'stepup');
      const seen = proxy.seen.at(-1);
      assert.equal(seen.method, 'POST');
      assert.equal(seen.headers.authorization, `Bearer ${token}`, "the session's token, not the app key");
    } finally {
      await proxy.close();
    }
  });
});
