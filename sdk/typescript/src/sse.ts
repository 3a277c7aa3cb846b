/**
 * A Server-Sent Events parser, as the HTML standard's EventSource reads a
 * stream (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * lines end in CRLF, LF or CR (also when a CRLF is split between two
 * chunks), `:` starts a comment, `data` lines join with LF, an `id` with a
 * NUL in it is ignored, and an event is dispatched at a blank line only if
 * it has data.
 */

/** One dispatched event. */
export interface SseEvent {
  /** The `event` field, `message` when absent. */
  event: string;
  /** The `data` lines joined with LF. */
  data: string;
  /** The last event id (`id` field) seen so far on the stream, `''` when none. */
  id: string;
}

/** Feeds text chunks in, gets whole events out. */
export class SseParser {
  #buffer = '';
  #data: string[] = [];
  #hasData = false;
  #event = '';
  #lastId = '';
  #retry: number | null = null;
  #sawCR = false;
  #started = false;

  /** The last event id seen (the value to send as `Last-Event-ID`). */
  get lastEventId(): string {
    return this.#lastId;
  }

  /** The reconnection time the stream asked for, in milliseconds. */
  get retry(): number | null {
    return this.#retry;
  }

  /** Takes the next piece of decoded text; answers the events it completed. */
  push(chunk: string): SseEvent[] {
    if (chunk.length === 0) {
      return [];
    }
    if (!this.#started) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) {
        chunk = chunk.slice(1);
      }
    }
    const out: SseEvent[] = [];
    let text = this.#buffer + chunk;
    this.#buffer = '';
    let start = 0;
    // A CR ended the last chunk: an LF opening this one belongs to it.
    if (this.#sawCR && text.startsWith('\n')) {
      start = 1;
    }
    this.#sawCR = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) {
        continue;
      }
      this.#line(text.slice(start, i), out);
      if (c === 0x0d) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 0x0a) {
            i++;
          }
        } else {
          this.#sawCR = true;
        }
      }
      start = i + 1;
    }
    this.#buffer = text.slice(start);
    text = '';
    return out;
  }

  /**
   * The stream ended. An event without its closing blank line is dropped,
   * as the standard says; the parser is ready for a new stream (the last
   * event id stays).
   */
  end(): void {
    this.#buffer = '';
    this.#data = [];
    this.#hasData = false;
    this.#event = '';
    this.#sawCR = false;
    this.#started = false;
  }

  #line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.#hasData) {
        out.push({ event: this.#event || 'message', data: this.#data.join('\n'), id: this.#lastId });
      }
      this.#data = [];
      this.#hasData = false;
      this.#event = '';
      return;
    }
    if (line.startsWith(':')) {
      return;
    }
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
    }
    switch (field) {
      case 'data':
        this.#data.push(value);
        this.#hasData = true;
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\u0000')) {
          this.#lastId = value;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) {
          this.#retry = Number(value);
        }
        break;
      default:
        // Unknown fields are ignored.
        break;
    }
  }
}
