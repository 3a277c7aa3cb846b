// HTML templates where every interpolated value is escaped, unless it is
// HTML already (made by `html` itself, or marked with `raw`).

import { escapeHtml } from '@actas/host';

/** A piece of HTML that is safe to put into a page as it is. */
class Html {
  constructor(text) {
    this.text = text;
  }

  toString() {
    return this.text;
  }
}

function render(value) {
  if (value === null || value === undefined || value === false) {
    return '';
  }
  if (value instanceof Html) {
    return value.text;
  }
  if (Array.isArray(value)) {
    return value.map(render).join('');
  }
  return escapeHtml(String(value));
}

/**
 * A tagged template: html`<p>${text}</p>` escapes `text`. Arrays are joined,
 * and `null`, `undefined` and `false` render as nothing, so conditionals and
 * lists read naturally.
 */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + strings[i + 1];
  }
  return new Html(out);
}

/** Marks `text` as HTML already (the banner tag, the style sheet). */
export function raw(text) {
  return new Html(text);
}
