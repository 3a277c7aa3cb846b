// The Express middleware and the Web Request/Response wrapper against a
// real actas: the handler gets the context; an ended session is refused.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import express from 'express';

import {
  Client,
  Guard,
  SupportRoutes,
  Verifier,
  actasMiddleware,
  createActas,
  readEndedPage,
  requireActas,
  withActas,
} from '../dist/esm/index.js';
import { ACCOUNT, AGENT_NAME, startActas, waitFor } from './harness.mjs';

/** Serves `app` on a free port: `{base, close}`. */
async function listen(app) {
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections?.();
      return new Promise((r) => server.close(r));
    },
  };
}

async function get(base, path, cookie) {
  const res = await fetch(base + path, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe('middleware', () => {
  let actas;
  let client;
  before(async () => {
    actas = await startActas();
    client = new Client(actas.base, actas.appKey);
  });
  after(() => actas.close());

  test('Express: the handler gets req.actas; an ended session is refused', async () => {
    const { sid, token } = await actas.session(['settings.view']);
    const guard = new Guard(new Verifier(actas.base, actas.appId), { cookie: 'actas_token' });
    const feed = guard.follow(client);
    const app = express();
    app.use(actasMiddleware(guard));
    app.get('/support', requireActas, (req, res) => res.send(`${req.actas.agentName} for ${req.actas.accountId}`));
    app.get('/page', (req, res) => res.send(req.actas ? req.actas.agent : 'customer'));
    app.get('/json', (req, res) => res.json(req.actas));
    const host = await listen(app);
    try {
      const cookie = `theme=dark; actas_token=${token}`;
      assert.deepEqual(await get(host.base, '/support', cookie).then((r) => [r.status, r.body]), [200, `${AGENT_NAME} for ${ACCOUNT.id}`]);
      assert.deepEqual(await get(host.base, '/page', cookie).then((r) => [r.status, r.body]), [200, 'maria']);
      assert.deepEqual(await get(host.base, '/page').then((r) => [r.status, r.body]), [200, 'customer']);
      assert.equal((await get(host.base, '/support')).status, 401);
      const forged = await get(host.base, '/page', 'actas_token=forged.token.here');
      assert.equal(forged.status, 401);
      assert.match(forged.body, /refused/);
      // The context serializes without the token.
      const json = await get(host.base, '/json', cookie);
      assert.equal(JSON.parse(json.body).sessionId, sid);
      assert.ok(!json.body.includes(token));

      // The session ends at actas; the feed tells the guard.
      await waitFor('the feed to connect', () => feed.connections >= 1);
      await actas.end(sid);
      await waitFor('the guard to hear the session ended', () => guard.hasEnded(sid), 3000);
      const ended = await get(host.base, '/page', cookie);
      assert.equal(ended.status, 401);
      assert.match(ended.body, /ended/);
      // The customer's own requests still pass.
      assert.equal((await get(host.base, '/page')).body, 'customer');
    } finally {
      feed.close();
      await host.close();
    }
  });

  test('Express with a header token', async () => {
    const { token } = await actas.session(['settings.view']);
    const guard = new Guard(new Verifier(actas.base, actas.appId), { header: 'x-actas-token' });
    const app = express();
    app.use(actasMiddleware(guard));
    app.get('/page', (req, res) => res.send(req.actas ? req.actas.agent : 'customer'));
    const host = await listen(app);
    try {
      const res = await fetch(`${host.base}/page`, { headers: { 'x-actas-token': token } });
      assert.equal(await res.text(), 'maria');
      const cookieOnly = await get(host.base, '/page', `actas_token=${token}`);
      assert.equal(cookieOnly.body, 'customer');
    } finally {
      await host.close();
    }
  });

  test('an authorize answer that the session is over makes the guard refuse it at once', async () => {
    const { sid, token } = await actas.session(['settings.view']);
    const wired = createActas({ url: actas.base, appId: actas.appId, appKey: actas.appKey, follow: false });
    const who = await wired.verifier.verify(token);
    assert.equal((await wired.authorize(who, 'settings.view')).allowed, true);
    await actas.end(sid);
    const no = await wired.authorize(who, 'settings.view');
    assert.deepEqual([no.allowed, no.reason], [false, 'session_ended']);
    assert.ok(wired.guard.hasEnded(sid));
    await assert.rejects(wired.guard.check({ cookie: `actas_token=${token}` }), (e) => e.kind === 'ended' && e.sessionId === sid);
  });

  test('withActas (Next.js route handlers): the handler gets the context; an ended session is refused', async () => {
    const { sid, token } = await actas.session(['settings.view', 'invoice_email.update']);
    const guard = new Guard(new Verifier(actas.base, actas.appId));
    const feed = guard.follow(client);
    try {
      const handler = withActas(guard, async (request, { actas: who, params }) => {
        if (!who) {
          return Response.json({ customer: true, params: await params });
        }
        const answer = await client.authorize(who.token, 'invoice_email.update', {
          changes: [{ field: 'invoice_email', old: 'a@acme.test', new: 'b@acme.test' }],
        });
        return Response.json({ agent: who.agentName, account: who.accountId, allowed: answer.allowed, params: await params });
      });
      const context = { params: Promise.resolve({ id: ACCOUNT.id }) };
      const req = (cookie) => new Request('http://host.test/api/settings', { method: 'POST', headers: cookie ? { cookie } : {} });

      const yes = await handler(req(`actas_token=${token}`), context);
      assert.equal(yes.status, 200);
      assert.deepEqual(await yes.json(), { agent: AGENT_NAME, account: ACCOUNT.id, allowed: true, params: { id: ACCOUNT.id } });
      const customer = await handler(req(), context);
      assert.deepEqual(await customer.json(), { customer: true, params: { id: ACCOUNT.id } });
      const forged = await handler(req('actas_token=a.b.c'), context);
      assert.equal(forged.status, 401);

      const required = withActas(guard, () => new Response('ok'), { required: true });
      assert.equal((await required(req(), {})).status, 401);
      assert.equal((await required(req(`actas_token=${token}`), {})).status, 200);

      await waitFor('the feed to connect', () => feed.connections >= 1);
      await actas.end(sid);
      await waitFor('the guard to hear the session ended', () => guard.hasEnded(sid), 3000);
      const ended = await handler(req(`actas_token=${token}`), context);
      assert.equal(ended.status, 401);
      assert.match(await ended.text(), /ended/);
    } finally {
      feed.close();
    }
  });

  test('the support routes: enter with a one-time code, land, leave; a refused code and an ended session go to the end page', async () => {
    const { sid } = await actas.session(['settings.view']);
    const wired = createActas({
      url: actas.base,
      appId: actas.appId,
      appKey: actas.appKey,
      routes: { landing: (who) => `/accounts/${who.accountId}` },
    });
    const app = express();
    app.use(wired.express());
    app.get('/accounts/:id', (req, res) => {
      res.type('html').send(`<head>${req.actas ? wired.bannerTag(req.actas) : ''}</head>${req.actas ? req.actas.agentName : 'customer'}`);
    });
    app.get('/support/ended', (req, res) => res.json({ actas: req.actas, page: readEndedPage(req.originalUrl) }));
    const host = await listen(app);
    try {
      const { code } = await actas.must(201, 'POST', `/sessions/${sid}/entry`, actas.maria, {});
      const entered = await get(host.base, `/support/enter?code=${encodeURIComponent(code)}`);
      assert.equal(entered.status, 303);
      assert.equal(entered.headers.get('location'), `/accounts/${ACCOUNT.id}`);
      const setCookie = entered.headers.get('set-cookie');
      assert.match(setCookie, /^actas_token=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
      const cookie = setCookie.split(';')[0];

      const page = await get(host.base, `/accounts/${ACCOUNT.id}`, cookie);
      assert.equal(page.status, 200);
      assert.match(page.body, /Maria Lopez$/);
      assert.ok(page.body.includes(`<script src="${actas.base}/banner.js" data-token="${cookie.split('=')[1]}" data-leave-url="/support/leave" defer></script>`));

      // The code works once.
      const again = await get(host.base, `/support/enter?code=${encodeURIComponent(code)}`);
      assert.equal(again.status, 303);
      assert.equal(again.headers.get('location'), '/support/ended?refused=entry-code-used');
      assert.match(again.headers.get('set-cookie'), /^actas_token=; .*Max-Age=0/);
      assert.equal((await get(host.base, '/support/enter')).headers.get('location'), '/support/ended?refused=entry-code-missing');

      // Leaving drops the cookie and names the session.
      const left = await get(host.base, '/support/leave', cookie);
      assert.equal(left.status, 303);
      assert.equal(left.headers.get('location'), `/support/ended?session=${sid}&left=1`);

      // The end page is served with no context, even with a stale cookie.
      const endPage = await get(host.base, `/support/ended?session=${sid}&left=1`, cookie);
      assert.deepEqual(JSON.parse(endPage.body), { actas: null, page: { session: sid, left: true } });

      // The session ends: the next page goes to the end page, without the cookie.
      await waitFor('the feed to connect', () => wired.follow()?.connections >= 1);
      await actas.end(sid);
      await waitFor('the guard to hear the session ended', () => wired.guard.hasEnded(sid), 3000);
      const gone = await get(host.base, `/accounts/${ACCOUNT.id}`, cookie);
      assert.equal(gone.status, 303);
      assert.equal(gone.headers.get('location'), `/support/ended?session=${sid}`);
      assert.match(gone.headers.get('set-cookie'), /Max-Age=0/);
      // The customer's own pages stay reachable.
      assert.equal((await get(host.base, `/accounts/${ACCOUNT.id}`)).body, '<head></head>customer');
    } finally {
      wired.close();
      await host.close();
    }
  });

  test('the support routes through withActas', async () => {
    const { sid } = await actas.session(['settings.view']);
    const guard = new Guard(new Verifier(actas.base, actas.appId));
    const routes = new SupportRoutes(client);
    const handler = withActas(guard, (_req, { actas: who }) => new Response(who ? who.agent : 'customer'), { routes });
    const { code } = await actas.must(201, 'POST', `/sessions/${sid}/entry`, actas.maria, {});
    const entered = await handler(new Request(`http://host.test/support/enter?code=${encodeURIComponent(code)}`), {});
    assert.equal(entered.status, 303);
    assert.equal(entered.headers.get('location'), '/');
    const cookie = entered.headers.get('set-cookie').split(';')[0];
    const page = await handler(new Request('http://host.test/', { headers: { cookie } }), {});
    assert.equal(await page.text(), 'maria');
    const refused = await handler(new Request('http://host.test/x', { headers: { cookie: 'actas_token=a.b.c' } }), {});
    assert.equal(refused.status, 303);
    assert.equal(refused.headers.get('location'), '/support/ended');
  });
});
