// Offline token verification against a real actas's JWKS.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { SignJWT, generateKeyPair } from 'jose';

import { Impersonation, TokenError, Verifier } from '../dist/esm/index.js';
import { AGENT_NAME, ACCOUNT, TICKET, part, reencode, startActas, startProxy } from './harness.mjs';

/** Asserts that `promise` rejects with a TokenError of `code`. */
async function refused(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof TokenError, `a TokenError, not ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('Verifier', () => {
  let actas;
  let token;
  let sid;
  before(async () => {
    actas = await startActas();
    ({ sid, token } = await actas.session(['settings.view', 'invoice_email.update']));
  });
  after(() => actas.close());

  test('a real token verifies offline and surfaces the actor claim', async () => {
    const v = new Verifier(actas.base, actas.appId);
    const who = await v.verify(token);
    assert.ok(who instanceof Impersonation);
    assert.equal(who.accountId, ACCOUNT.id);
    assert.deepEqual(who.act, { sub: 'maria', name: AGENT_NAME });
    assert.equal(who.agent, 'maria');
    assert.equal(who.agentName, AGENT_NAME);
    assert.equal(who.sessionId, sid);
    assert.equal(who.ticket, TICKET);
    assert.equal(who.appId, actas.appId);
    assert.deepEqual([...who.scope], ['settings.view', 'invoice_email.update']);
    assert.ok(who.grants('invoice_email.update') && !who.grants('billing.update'));
    assert.equal(who.token, token);
    assert.ok(who.expiresAt > Date.now() / 1000);
    // The token stays out of logs and JSON.
    assert.ok(!JSON.stringify(who).includes(token));
    assert.ok(!Object.keys(who).includes('token'));
    // Keys are cached: the second check fetches nothing.
    await v.verify(token);
    assert.equal(v.fetches, 1);
    assert.equal(v.cachedKeys, 1);
  });

  test('a token signed with a foreign Ed25519 key is refused', async () => {
    const v = new Verifier(actas.base, actas.appId);
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const claims = part(token, 1);
    const realKid = part(token, 0).kid;
    // Under actas's own kid, the signature does not match ...
    const underRealKid = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: realKid }).sign(privateKey);
    await refused(v.verify(underRealKid), 'bad_signature');
    // ... and under its own kid, the key is not one actas publishes.
    const underOwnKid = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: 'k_foreign' }).sign(privateKey);
    await refused(v.verify(underOwnKid), 'unknown_key');
  });

  test('alg none, HS256 and other algorithms are refused before any key is looked at', async () => {
    const v = new Verifier(actas.base, actas.appId);
    const none = reencode(token, { header: { alg: 'none', typ: 'JWT' }, signature: '' });
    await refused(v.verify(none), 'unsupported_algorithm');
    const noneKid = reencode(token, { header: { alg: 'none', kid: part(token, 0).kid }, signature: '' });
    await refused(v.verify(noneKid), 'unsupported_algorithm');
    for (const alg of ['HS256', 'RS256', 'ES256', 'Ed25519', 'eddsa']) {
      await refused(v.verify(reencode(token, { header: { ...part(token, 0), alg } })), 'unsupported_algorithm');
    }
    assert.equal(v.fetches, 0, 'no key was fetched for them');
  });

  test('an edited payload is refused', async () => {
    const v = new Verifier(actas.base, actas.appId);
    const wider = { ...part(token, 1), scope: 'settings.view billing.update refund.issue' };
    await refused(v.verify(reencode(token, { payload: wider })), 'bad_signature');
    const longer = { ...part(token, 1), exp: part(token, 1).exp + 3600 };
    await refused(v.verify(reencode(token, { payload: longer })), 'bad_signature');
    const other = { ...part(token, 1), sub: 'acct_99' };
    await refused(v.verify(reencode(token, { payload: other })), 'bad_signature');
  });

  test('a token past its exp is refused, within a small clock-skew allowance', async () => {
    const exp = part(token, 1).exp;
    const at = (seconds) => new Verifier(actas.base, actas.appId, { now: () => seconds * 1000 });
    // Within the allowance (5 s by default) it still verifies ...
    await at(exp + 3).verify(token);
    // ... past it, it is expired.
    await refused(at(exp + 6).verify(token), 'expired');
    await refused(at(exp + 3600).verify(token), 'expired');
    const strict = new Verifier(actas.base, actas.appId, { now: () => (exp + 1) * 1000, clockTolerance: 0 });
    await refused(strict.verify(token), 'expired');
  });

  test('a token for another app, or from another actas, is refused', async () => {
    await refused(new Verifier(actas.base, 'app_other').verify(token), 'wrong_audience');
    const jwksUrl = `${actas.base}/.well-known/jwks.json`;
    await refused(new Verifier('https://actas.elsewhere.test', actas.appId, { jwksUrl }).verify(token), 'wrong_issuer');
    await refused(new Verifier(actas.base, actas.appId, { issuer: 'https://actas.example.com' }).verify(token), 'wrong_issuer');
    // Reached at another address than its public one, actas is named by `issuer`.
    const viaInternal = new Verifier(actas.base.replace('127.0.0.1', 'localhost'), actas.appId, { issuer: actas.base });
    assert.equal((await viaInternal.verify(token)).sessionId, sid);
  });

  test('malformed tokens are refused as such', async () => {
    const v = new Verifier(actas.base, actas.appId);
    for (const bad of ['', 'not a token', 'a.b', 'a.b.c', '...', `${token}.x`]) {
      await refused(v.verify(bad), 'malformed');
    }
    const noKid = reencode(token, { header: { alg: 'EdDSA' } });
    await refused(v.verify(noKid), 'malformed');
  });

  test('keys that cannot be fetched make the token unverifiable, not valid', async () => {
    const v = new Verifier('http://127.0.0.1:1', actas.appId, { timeout: 2000 });
    await refused(v.verify(token), 'unavailable');
    // Within the refetch interval, the failure stands without a new fetch.
    await refused(v.verify(token), 'unavailable');
    assert.equal(v.fetches, 1);
  });

  test('an unknown kid refetches the JWKS at most once per interval', async () => {
    const proxy = await startProxy(actas.base);
    try {
      const jwks = '/.well-known/jwks.json';
      const v = new Verifier(actas.base, actas.appId, { jwksUrl: proxy.base + jwks, refetchEvery: 800 });
      await v.verify(token);
      assert.equal(proxy.count(jwks), 1);
      const unknown = reencode(token, { header: { ...part(token, 0), kid: 'k_unknown' } });
      // A flood of unknown kids, at once and one after another.
      await Promise.all(Array.from({ length: 50 }, () => refused(v.verify(unknown), 'unknown_key')));
      for (let i = 0; i < 100; i++) {
        await refused(v.verify(unknown), 'unknown_key');
      }
      // The first fetch was just now: nothing more within the interval.
      assert.equal(proxy.count(jwks), 1, 'no refetch within the interval');
      // Once the interval is over, one unknown kid refetches once, and the
      // flood after it does not.
      await new Promise((r) => setTimeout(r, 900));
      await Promise.all(Array.from({ length: 50 }, () => refused(v.verify(unknown), 'unknown_key')));
      assert.equal(proxy.count(jwks), 2, 'one refetch per interval');
      assert.equal(v.fetches, 2);
      // Known kids never refetch.
      await v.verify(token);
      assert.equal(proxy.count(jwks), 2);
    } finally {
      await proxy.close();
    }
  });

  test('a rotated key is picked up by the refetch an unknown kid triggers', async () => {
    const v = new Verifier(actas.base, actas.appId, { refetchEvery: 200 });
    await v.verify(token);
    const oldKid = part(token, 0).kid;
    actas.cli(['key', 'rotate']);
    // The server loads the new key for tokens it issues from now on.
    let fresh;
    for (let i = 0; i < 40; i++) {
      fresh = (await actas.session(['settings.view'])).token;
      if (part(fresh, 0).kid !== oldKid) {
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.notEqual(part(fresh, 0).kid, oldKid, 'the running server signs with the new key');
    await new Promise((r) => setTimeout(r, 250));
    const who = await v.verify(fresh);
    assert.equal(who.agent, 'maria');
    assert.equal(v.fetches, 2);
  });
});
