// Customer consent against a real actas: one account that asks for its
// customer's grant refuses requests until the host app records one, lets
// support in while it is live, and the customer's kill switch ends the live
// session at once (customer_revoked).

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';

import { ActasProblem, ActasUnavailable, Client, createActas, sessionIsOver } from '../dist/esm/index.js';
import { ACCOUNT, REASON, TICKET, startActas, startProxy } from './harness.mjs';

/** Asserts that `promise` rejects with an ActasProblem of `status` and `slug`. */
async function problem(promise, status, slug) {
  const e = await promise.then(
    (v) => assert.fail(`resolved with ${JSON.stringify(v)}`),
    (x) => x,
  );
  assert.ok(e instanceof ActasProblem, `an ActasProblem, not ${e}`);
  assert.equal(e.status, status, e.message);
  assert.equal(e.slug, slug, e.message);
  assert.ok(e.detail.length > 0);
  return e;
}

const HOUR = 60 * 60 * 1000;

describe('customer consent', () => {
  let actas;
  let client;
  before(async () => {
    actas = await startActas();
    client = new Client(actas.base, actas.appKey);
  });
  after(() => actas.close());

  // Each test starts from an account that asks for nothing and has no live grant.
  beforeEach(async () => {
    await client.withdrawAccess(ACCOUNT.id, 'setup');
    await client.requireConsent(ACCOUNT.id, { required: false, setBy: 'setup' });
  });

  /** Maria asks for access to acct_42 through the API: `{status, body}`. */
  const ask = () => actas.api('POST', '/requests', actas.maria, { ticket: TICKET, reason: REASON, actions: ['settings.view'] });

  /** Audit events of `type` on acct_42, as a lead reads them. */
  async function events(type) {
    const page = await actas.must(200, 'GET', `/audit?account=${ACCOUNT.id}&type=${type}`, actas.sam);
    return page.events.filter((e) => e.type === type);
  }

  test('the account asks for its customer grant: refused without one, let in with it, ended at once when withdrawn', async () => {
    const required = await client.requireConsent(ACCOUNT.id, { required: true, setBy: 'Acme Corp' });
    assert.equal(required.account_id, ACCOUNT.id);
    assert.equal(required.required, true);
    assert.equal(required.grant ?? null, null);

    // No live grant: Maria's request is refused, and only the refusal is recorded.
    const refused = await ask();
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.type, 'urn:actas:problem:no-customer-grant');

    // The customer allows support in for 2 hours, from the host app.
    const before = Date.now();
    const grant = await client.grantAccess(ACCOUNT.id, { hours: 2, grantedBy: 'Acme Corp' });
    assert.match(grant.id, /^grt_/);
    assert.equal(grant.account_id, ACCOUNT.id);
    assert.equal(grant.app_id, actas.appId);
    assert.equal(grant.granted_by, 'Acme Corp');
    assert.equal(grant.hours, 2);
    assert.equal(grant.live, true);
    assert.equal(grant.revoked_at ?? null, null);
    assert.equal(Date.parse(grant.expires_at) - Date.parse(grant.created_at), 2 * HOUR);
    assert.ok(Date.parse(grant.created_at) >= before - 5000, grant.created_at);
    const consent = await client.consent(ACCOUNT.id);
    assert.equal(consent.required, true);
    assert.equal(consent.grant.id, grant.id);
    assert.equal(consent.grants[0].id, grant.id);
    assert.equal((await events('grant.created')).length >= 1, true);

    // The request is taken now, and the session starts.
    const { sid, token } = await actas.session(['settings.view']);
    const yes = await client.authorize(token, 'settings.view', { target: { account_id: ACCOUNT.id } });
    assert.equal(yes.allowed, true, JSON.stringify(yes));
    const live = await client.session(sid);
    assert.equal(live.state, 'live');
    assert.ok(Date.parse(live.ends_at) <= Date.parse(grant.expires_at), 'a session ends no later than its grant');

    // The customer's kill switch.
    const withdrawn = await client.withdrawAccess(ACCOUNT.id, 'Acme Corp');
    assert.equal(withdrawn.sessions_ended, 1);
    assert.equal(withdrawn.required, true);
    assert.equal(withdrawn.grant ?? null, null);
    assert.equal(withdrawn.grants[0].id, grant.id);
    assert.equal(withdrawn.grants[0].live, false);
    assert.equal(withdrawn.grants[0].revoked_by, 'Acme Corp');
    assert.ok(withdrawn.grants[0].revoked_at);

    const no = await client.authorize(token, 'settings.view', { target: { account_id: ACCOUNT.id } });
    assert.deepEqual([no.allowed, no.reason], [false, 'customer_revoked']);
    assert.equal(sessionIsOver(no.reason), true);
    const ended = await client.session(sid);
    assert.equal(ended.state, 'ended');
    assert.equal(ended.end_reason, 'customer_revoked');
    assert.equal((await events('session.customer_revoked')).length, 1);
    assert.equal((await events('grant.revoked')).at(-1).data.sessions_ended[0], sid);

    // Nothing new is taken until the customer allows it again.
    assert.equal((await ask()).status, 422);
  });

  test('a grant lasts 1 to 720 hours; anything else is refused and nothing is stored', async () => {
    const grants = (await client.consent(ACCOUNT.id)).grants.length;
    for (const hours of [0, 721]) {
      const p = await problem(client.grantAccess(ACCOUNT.id, { hours, grantedBy: 'Acme Corp' }), 422, 'grant-hours-invalid');
      assert.equal(p.field, 'hours');
    }
    await problem(client.grantAccess(ACCOUNT.id, { hours: 1.5, grantedBy: 'Acme Corp' }), 400, 'malformed-body');
    const noName = await problem(client.grantAccess(ACCOUNT.id, { hours: 1, grantedBy: ' ' }), 400, 'invalid-body');
    assert.equal(noName.field, 'granted_by');
    assert.equal((await client.consent(ACCOUNT.id)).grants.length, grants);

    const longest = await client.grantAccess(ACCOUNT.id, { hours: 720, grantedBy: 'Acme Corp' });
    assert.equal(longest.live, true);
    assert.equal(Date.parse(longest.expires_at) - Date.parse(longest.created_at), 720 * HOUR);
  });

  test('without the account asking, requests need no grant; a withdrawal names "The customer" by default', async () => {
    const c = await client.consent(ACCOUNT.id);
    assert.equal(c.required, false);
    assert.equal((await ask()).status, 201);

    const g = await client.grantAccess(ACCOUNT.id, { hours: 1, grantedBy: 'pat@acme.test' });
    const w = await client.withdrawAccess(ACCOUNT.id);
    const mine = w.grants.find((x) => x.id === g.id);
    assert.equal(mine.revoked_by, 'The customer');
    assert.equal(mine.live, false);
  });

  test('a lead reads the consent; an agent may not, and staff may not record a grant', async () => {
    await client.requireConsent(ACCOUNT.id, { required: true, setBy: 'Acme Corp' });
    const seen = await actas.must(200, 'GET', `/accounts/${ACCOUNT.id}/grants`, actas.sam);
    assert.equal(seen.required, true);
    assert.equal((await actas.api('GET', `/accounts/${ACCOUNT.id}/grants`, actas.maria)).status, 403);
    const staff = await actas.api('POST', `/accounts/${ACCOUNT.id}/grants`, actas.sam, { hours: 1, granted_by: 'Sam' });
    assert.equal(staff.status, 403);
  });

  test('createActas: a withdrawn grant makes the guard refuse the session token after the next authorize', async () => {
    await client.grantAccess(ACCOUNT.id, { hours: 1, grantedBy: 'Acme Corp' });
    const { sid, token } = await actas.session(['settings.view']);
    const kit = createActas({ url: actas.base, appId: actas.appId, appKey: actas.appKey, follow: false, routes: false });
    try {
      const who = await kit.verifier.verify(token);
      assert.equal((await kit.authorize(who, 'settings.view')).allowed, true);
      await kit.client.withdrawAccess(ACCOUNT.id, 'Acme Corp');
      assert.equal(kit.guard.hasEnded(sid), false);
      assert.equal((await kit.authorize(who, 'settings.view')).reason, 'customer_revoked');
      assert.equal(kit.guard.hasEnded(sid), true);
    } finally {
      kit.close();
    }
  });

  test('grants, withdrawals and the account setting are sent again only when they never left', async () => {
    const proxy = await startProxy(actas.base);
    try {
      const c = new Client(proxy.base, actas.appKey, { retries: 2 });
      proxy.state.down = true;
      const path = `/api/v1/accounts/${ACCOUNT.id}/grants`;
      const e1 = await c.grantAccess(ACCOUNT.id, { hours: 1, grantedBy: 'Acme Corp' }).catch((x) => x);
      assert.ok(e1 instanceof ActasUnavailable, String(e1));
      assert.equal(proxy.count(path), 1);
      const e2 = await c.withdrawAccess(ACCOUNT.id, 'Acme Corp').catch((x) => x);
      assert.ok(e2 instanceof ActasUnavailable, String(e2));
      assert.equal(proxy.count(path), 2);
      const e3 = await c.requireConsent(ACCOUNT.id, { required: true, setBy: 'Acme Corp' }).catch((x) => x);
      assert.ok(e3 instanceof ActasUnavailable, String(e3));
      assert.equal(proxy.count(`/api/v1/accounts/${ACCOUNT.id}/consent`), 1);
      // A read is tried again.
      const e4 = await c.consent(ACCOUNT.id).catch((x) => x);
      assert.ok(e4 instanceof ActasUnavailable, String(e4));
      assert.equal(proxy.count(path), 5);

      proxy.state.down = false;
      const w = await c.withdrawAccess(ACCOUNT.id, 'pat@acme.test');
      assert.equal(w.account_id, ACCOUNT.id);
      const seen = proxy.seen.at(-1);
      assert.equal(seen.method, 'DELETE');
      assert.equal(seen.url, `${path}?revoked_by=pat%40acme.test`);
      assert.equal(seen.headers.authorization, `Bearer ${actas.appKey}`);
    } finally {
      await proxy.close();
    }
  });

  test('an account id is one path segment', async () => {
    const c = await client.consent('acct/../42?x=1');
    assert.equal(c.account_id, 'acct/../42?x=1');
    assert.equal(c.required, false);
  });
});
