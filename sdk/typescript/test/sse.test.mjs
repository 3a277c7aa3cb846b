// The SSE parser, fed the way networks deliver: in pieces, anywhere.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SseParser } from '../dist/esm/index.js';

/** Every event of `text` fed in pieces cut at `cuts`. */
function parse(text, cuts = []) {
  const p = new SseParser();
  const out = [];
  let from = 0;
  for (const to of [...cuts, text.length]) {
    out.push(...p.push(text.slice(from, to)));
    from = to;
  }
  return { events: out, parser: p };
}

describe('SseParser', () => {
  const stream =
    ': keep-alive\n\n' +
    'event: session.started\nid: 7\ndata: {"seq":7}\n\n' +
    'event: session.ended\r\nid: 8\r\ndata: {"seq":8,\r\ndata: "more":true}\r\n\r\n' +
    'data: plain\rid: 9\r\r';
  const want = [
    { event: 'session.started', data: '{"seq":7}', id: '7' },
    { event: 'session.ended', data: '{"seq":8,\n"more":true}', id: '8' },
    { event: 'message', data: 'plain', id: '9' },
  ];

  test('reads events with LF, CRLF and CR line ends, multi-line data, comments and ids', () => {
    const { events, parser } = parse(stream);
    assert.deepEqual(events, want);
    assert.equal(parser.lastEventId, '9');
  });

  test('gives the same events however the stream is cut, a CRLF split in two included', () => {
    for (let a = 0; a <= stream.length; a++) {
      assert.deepEqual(parse(stream, [a]).events, want, `cut at ${a}`);
    }
    for (let a = 0; a < stream.length; a += 3) {
      for (let b = a; b < stream.length; b += 5) {
        assert.deepEqual(parse(stream, [a, b]).events, want, `cut at ${a}, ${b}`);
      }
    }
    // One character at a time.
    assert.deepEqual(parse(stream, [...Array(stream.length).keys()]).events, want);
  });

  test('an event is dispatched only at a blank line, and only with data', () => {
    assert.deepEqual(parse('data: a').events, []);
    assert.deepEqual(parse('event: x\nid: 3\n\n').events, []);
    assert.equal(parse('event: x\nid: 3\n\n').parser.lastEventId, '3');
    assert.deepEqual(parse('data\n\n').events, [{ event: 'message', data: '', id: '' }]);
    assert.deepEqual(parse('data:\ndata:\n\n').events, [{ event: 'message', data: '\n', id: '' }]);
  });

  test('one leading space is dropped from values, no more; unknown fields are ignored', () => {
    assert.deepEqual(parse('data:  two\nfoo: bar\ndata:x\n\n').events, [{ event: 'message', data: ' two\nx', id: '' }]);
  });

  test('an id with NUL is ignored, an empty id resets it, and the id stays for later events', () => {
    const { events } = parse('id: 5\ndata: a\n\nid: 6\u00007\ndata: b\n\nid\ndata: c\n\n');
    assert.deepEqual(
      events.map((e) => e.id),
      ['5', '5', ''],
    );
  });

  test('retry is read when it is digits only', () => {
    assert.equal(parse('retry: 1500\n\n').parser.retry, 1500);
    assert.equal(parse('retry: 1.5\n\n').parser.retry, null);
  });

  test('a byte order mark opening the stream is dropped', () => {
    assert.deepEqual(parse('\ufeffdata: x\n\n').events, [{ event: 'message', data: 'x', id: '' }]);
    assert.deepEqual(parse('\ufeffdata: x\n\n', [1]).events, [{ event: 'message', data: 'x', id: '' }]);
  });

  test('end() drops an unfinished event and keeps the last id for the next stream', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('id: 4\ndata: done\n\nid: 5\ndata: half'), [{ event: 'message', data: 'done', id: '4' }]);
    p.end();
    assert.equal(p.lastEventId, '5');
    assert.deepEqual(p.push('data: next\n\n'), [{ event: 'message', data: 'next', id: '5' }]);
  });
});
