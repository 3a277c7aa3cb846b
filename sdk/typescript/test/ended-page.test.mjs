// What the host app's end page reads and says: the query the support routes
// send it to, and plain words for a refused entry and an ended session.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { END_REASONS, endReasonWords, readEndedPage, refusalWords } from '../dist/esm/index.js';

describe('the end page', () => {
  test('its query lets through only values of the shapes actas issues', () => {
    assert.deepEqual(readEndedPage('/support/ended?session=ses_1&left=1'), { session: 'ses_1', left: true });
    assert.deepEqual(readEndedPage('/support/ended?refused=entry-code-used'), { refused: 'entry-code-used', left: false });
    assert.deepEqual(readEndedPage('/support/ended?session=ses_1%26x%3D1&refused=%3Cb%3E'), { left: false });
  });

  test('a refused entry is told in plain words', () => {
    assert.match(refusalWords('entry-code-used'), /used already: each link works once/);
    assert.equal(refusalWords('something-new'), 'actas refused this entry link.');
  });

  test('every end reason has its own plain words, as actas says them', () => {
    assert.equal(endReasonWords('ended'), 'the agent ended it');
    assert.equal(endReasonWords('revoked'), 'a lead revoked it');
    assert.equal(endReasonWords('idle_timeout'), 'nothing happened in it for too long');
    const words = END_REASONS.map(endReasonWords);
    assert.equal(new Set(words).size, END_REASONS.length, words.join(' | '));
    // A reason a newer actas sends, or none, still reads as an end.
    assert.equal(endReasonWords('paused'), 'the agent ended it');
    assert.equal(endReasonWords(null), 'the agent ended it');
  });
});
