"""A small Server-Sent Events parser, as the EventSource standard reads a
stream (https://html.spec.whatwg.org/multipage/server-sent-events.html).

Feed it bytes as they arrive, in chunks of any size; it answers the events
that completed. A character or a CR LF split across chunks waits for its rest.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["SseEvent", "SseParser"]


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event."""

    event: str
    """The event type (``message`` when the stream named none)."""
    data: str
    """The data lines, joined with ``\\n``."""
    id: str | None
    """The last event id seen on the stream so far (it carries over)."""
    retry: int | None = None
    """The reconnection time the stream asked for, in milliseconds."""


class SseParser:
    """Turns a byte stream into :class:`SseEvent` values."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None

    @property
    def last_event_id(self) -> str | None:
        """The last ``id`` the stream set, to resume with ``Last-Event-ID``."""
        return self._last_id

    @property
    def retry(self) -> int | None:
        """The last ``retry`` the stream set, in milliseconds."""
        return self._retry

    def feed(self, chunk: bytes | str) -> list[SseEvent]:
        """Reads a chunk; answers the events it completed."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        self._buffer += text
        return self._lines(final=False)

    def close(self) -> list[SseEvent]:
        """The stream ended: a last line without a terminator is read, but
        an event without its closing blank line is dropped, as the standard
        says."""
        self._buffer += self._decoder.decode(b"", final=True)
        events = self._lines(final=True)
        self._data, self._event = [], ""
        return events

    def _lines(self, final: bool) -> list[SseEvent]:
        events: list[SseEvent] = []
        buf = self._buffer
        start = 0
        while True:
            cr, lf = buf.find("\r", start), buf.find("\n", start)
            if cr < 0 and lf < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr == len(buf) - 1 and not final:
                    break  # maybe the CR of a CR LF: wait for the next chunk
                end, nxt = cr, cr + 2 if buf.startswith("\n", cr + 1) else cr + 1
            else:
                end, nxt = lf, lf + 1
            event = self._line(buf[start:end])
            if event is not None:
                events.append(event)
            start = nxt
        self._buffer = buf[start:]
        if final and self._buffer:
            self._line(self._buffer)
            self._buffer = ""
        return events

    def _line(self, line: str) -> SseEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseEvent(event=event or "message", data="\n".join(data), id=self._last_id, retry=self._retry)
