// The banner's script tag.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { bannerTag, escapeHtml } from '../dist/esm/index.js';

describe('bannerTag', () => {
  test('has the attributes the demo host app uses', () => {
    assert.equal(
      bannerTag({ actasUrl: 'https://actas.example.com/', token: 'aaa.bbb.ccc', leaveUrl: '/support/leave' }),
      '<script src="https://actas.example.com/banner.js" data-token="aaa.bbb.ccc" data-leave-url="/support/leave" defer></script>',
    );
    assert.equal(
      bannerTag({ actasUrl: 'http://127.0.0.1:7878', token: 't' }),
      '<script src="http://127.0.0.1:7878/banner.js" data-token="t" defer></script>',
    );
  });

  test('escapes every attribute', () => {
    const tag = bannerTag({
      actasUrl: 'https://actas.example.com/a"b',
      token: '"><img src=x onerror=alert(1)>',
      leaveUrl: "/leave?a=1&b='2'",
      nonce: 'n"<',
    });
    assert.equal(
      tag,
      '<script src="https://actas.example.com/a%22b/banner.js" data-token="&#34;&#62;&#60;img src=x onerror=alert(1)&#62;" ' +
        'data-leave-url="/leave?a=1&#38;b=&#39;2&#39;" nonce="n&#34;&#60;" defer></script>',
    );
    // Nothing breaks out of an attribute: the only quotes are the delimiters.
    assert.equal(tag.match(/"/g).length, 8);
    assert.ok(!tag.includes('<img'));
  });

  test('refuses an actas URL that is not http or https', () => {
    assert.throws(() => bannerTag({ actasUrl: 'javascript:alert(1)//', token: 't' }), /http or https/);
    assert.throws(() => bannerTag({ actasUrl: 'data:text/html,x', token: 't' }), /http or https/);
    assert.throws(() => bannerTag({ actasUrl: 'not a url', token: 't' }), /not a URL/);
  });

  test('escapeHtml covers text and both quote styles', () => {
    assert.equal(escapeHtml(`<a href='x' title="y">&</a>`), '&#60;a href=&#39;x&#39; title=&#34;y&#34;&#62;&#38;&#60;/a&#62;');
  });
});
