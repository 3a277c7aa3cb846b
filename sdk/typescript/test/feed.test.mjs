// Following the session feed of a real actas: changes, reconnect and resume.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { ActasProblem, Client } from '../dist/esm/index.js';
import { next, startActas, startProxy, waitFor } from './harness.mjs';

describe('Feed', () => {
  let actas;
  let client;
  before(async () => {
    actas = await startActas();
    client = new Client(actas.base, actas.appKey);
  });
  after(() => actas.close());

  test('delivers a session start and its end, once each', async () => {
    const feed = client.follow();
    const it = feed[Symbol.asyncIterator]();
    try {
      // The stream is open once actas has sent its headers.
      const first = next(it, 8000);
      await waitFor('the feed to connect', () => feed.connections === 1);
      const { sid } = await actas.session(['settings.view']);
      const started = await first;
      assert.equal(started.type, 'session.started');
      assert.equal(started.session.id, sid);
      assert.equal(started.session.state, 'live');
      await actas.end(sid);
      const ended = await next(it);
      assert.equal(ended.type, 'session.ended');
      assert.equal(ended.session.id, sid);
      assert.equal(ended.session.state, 'ended');
      assert.equal(ended.session.end_reason, 'ended');
      assert.ok(ended.seq > started.seq);
      assert.equal(feed.lastSeq, ended.seq);
    } finally {
      feed.close();
    }
    // A closed feed's loop ends.
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  test('resumes with Last-Event-ID after the connection is cut, missing nothing', async () => {
    const proxy = await startProxy(actas.base);
    const errors = [];
    const feed = new Client(proxy.base, actas.appKey).follow({ minBackoff: 50, maxBackoff: 200, onError: (e) => errors.push(e) });
    const it = feed[Symbol.asyncIterator]();
    try {
      const first = next(it, 8000);
      await waitFor('the feed to connect', () => feed.connections === 1);
      const { sid } = await actas.session(['settings.view']);
      const started = await first;
      assert.equal(started.session.id, sid);

      // The loop waits for the next change; the connection drops, and stays
      // down while the session ends.
      const pending = next(it, 10000, 'the end after the reconnect');
      proxy.state.down = true;
      proxy.cut();
      await actas.end(sid);
      await waitFor('a reconnect attempt to fail', () => proxy.seen.length >= 3);
      proxy.state.down = false;

      const ended = await pending;
      assert.equal(ended.type, 'session.ended');
      assert.equal(ended.session.id, sid);
      assert.ok(feed.connections >= 2);
      // The reconnect asked to resume after the last change delivered.
      const resumed = proxy.seen.filter((r) => r.url === '/api/v1/sessions/feed').at(-1);
      assert.equal(resumed.headers['last-event-id'], String(started.seq));
      assert.ok(errors.length >= 1, 'the failures were reported');
    } finally {
      feed.close();
      await proxy.close();
    }
  });

  test('starts after a stored position', async () => {
    const { sid } = await actas.session(['settings.view']);
    await actas.end(sid);
    // Find the start's seq, as a host app would have stored it.
    const all = client.follow({ after: 0 });
    const seen = [];
    let startSeq;
    try {
      for await (const c of all) {
        seen.push(c);
        if (c.session.id === sid && c.type === 'session.started') {
          startSeq = c.seq;
        }
        if (c.session.id === sid && c.type === 'session.ended') {
          break;
        }
      }
    } finally {
      all.close();
    }
    assert.ok(startSeq);
    assert.deepEqual(
      seen.map((c) => c.seq),
      [...seen.map((c) => c.seq)].sort((a, b) => a - b),
      'in order',
    );
    const feed = client.follow({ after: startSeq });
    const it = feed[Symbol.asyncIterator]();
    try {
      const c = await next(it);
      assert.equal(c.session.id, sid);
      assert.equal(c.type, 'session.ended');
    } finally {
      feed.close();
    }
  });

  test('a wrong app key ends the loop with the problem instead of retrying forever', async () => {
    const feed = new Client(actas.base, 'actas_app_wrong').follow();
    await assert.rejects(
      (async () => {
        for await (const _ of feed) {
          // nothing arrives
        }
      })(),
      (e) => e instanceof ActasProblem && e.status === 401 && e.slug === 'unauthorized',
    );
  });

  test('reads a stream cut anywhere, even inside a character', async () => {
    const change = {
      type: 'session.started',
      seq: 7,
      session: { id: 'ses_1', account_name: 'Société Générale d’Été', agent_name: 'María López', state: 'live' },
    };
    const body = Buffer.from(`: hi\n\nevent: session.started\nid: 7\ndata: ${JSON.stringify(change)}\n\n`);
    const inside = body.indexOf(Buffer.from('é')) + 1;
    const server = await servePieces(body, [3, inside, inside + 7, body.length - 1]);
    const feed = new Client(server.base, 'k').follow();
    const it = feed[Symbol.asyncIterator]();
    try {
      const c = await next(it);
      assert.deepEqual(c, change);
    } finally {
      feed.close();
      await server.close();
    }
  });

  test('a stream that goes quiet is reopened', async () => {
    const server = await servePieces(Buffer.from(': hi\n\n'), []);
    const feed = new Client(server.base, 'k').follow({ idleTimeout: 300, minBackoff: 20, maxBackoff: 50 });
    const it = feed[Symbol.asyncIterator]();
    const pending = it.next();
    try {
      await waitFor('a second connection', () => server.connections() >= 2, 5000);
    } finally {
      feed.close();
      await pending;
      await server.close();
    }
  });
});

/**
 * Serves every connection `body` as an event stream, in HTTP chunks cut at
 * `cuts`, a moment apart, then holds the stream open.
 */
async function servePieces(body, cuts) {
  const sockets = new Set();
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', async () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      let from = 0;
      for (const to of [...cuts, body.length]) {
        const piece = body.subarray(from, to);
        if (piece.length) {
          socket.write(`${piece.length.toString(16)}\r\n`);
          socket.write(piece);
          socket.write('\r\n');
        }
        from = to;
        await new Promise((r) => setTimeout(r, 30));
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    connections: () => count,
    close: () => {
      for (const s of sockets) {
        s.destroy();
      }
      return new Promise((r) => server.close(r));
    },
  };
}
