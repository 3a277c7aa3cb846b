"""The SSE parser, read as the EventSource standard reads a stream."""

from __future__ import annotations

from actas_host import SseEvent, SseParser


def every_split(stream: bytes) -> list[list[SseEvent]]:
    """The events of ``stream`` fed whole, byte by byte, and cut at every offset."""
    answers = []
    whole = SseParser()
    answers.append(whole.feed(stream) + whole.close())
    byte = SseParser()
    answers.append([e for i in range(len(stream)) for e in byte.feed(stream[i : i + 1])] + byte.close())
    for cut in range(1, len(stream)):
        p = SseParser()
        answers.append(p.feed(stream[:cut]) + p.feed(stream[cut:]) + p.close())
    return answers


def test_events_with_type_id_and_data() -> None:
    stream = b'event: session.ended\nid: 13\ndata: {"seq":13}\n\n'
    for events in every_split(stream):
        assert events == [SseEvent(event="session.ended", data='{"seq":13}', id="13")]


def test_line_endings_crlf_cr_and_lf_even_when_split_across_chunks() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\nid: 2\r\r"
    for events in every_split(stream):
        assert events == [SseEvent(event="message", data="a\nb\nc", id=None), ]
    p = SseParser()
    assert p.feed(b"data: x\r") == []
    assert p.feed(b"\n") == []
    assert p.feed(b"\r\n") == [SseEvent(event="message", data="x", id=None)]


def test_a_character_split_across_chunks_waits_for_its_rest() -> None:
    stream = "data: Mariá 🎧\n\n".encode()
    for events in every_split(stream):
        assert [e.data for e in events] == ["Mariá 🎧"]


def test_comments_keep_alives_and_unknown_fields_are_ignored() -> None:
    stream = b":keep-alive\n\n: another\nfoo: bar\ndata:no space\ndata:  two spaces\n\n"
    for events in every_split(stream):
        assert [e.data for e in events] == ["no space\n two spaces"]


def test_the_last_event_id_carries_over_and_ignores_nul() -> None:
    p = SseParser()
    events = p.feed(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\0x\ndata: c\n\nid\ndata: d\n\n")
    assert [(e.data, e.id) for e in events] == [("a", "7"), ("b", "7"), ("c", "7"), ("d", "")]
    assert p.last_event_id == ""


def test_retry_takes_digits_only() -> None:
    p = SseParser()
    p.feed(b"retry: 1500\nretry: soon\ndata: x\n\n")
    assert p.retry == 1500


def test_an_event_without_data_is_not_dispatched_and_an_empty_data_line_is() -> None:
    p = SseParser()
    assert p.feed(b"event: ping\nid: 3\n\n") == []
    assert p.last_event_id == "3"
    assert p.feed(b"data\n\n") == [SseEvent(event="message", data="", id="3")]
    # The event type does not leak into the next event.
    assert p.feed(b"event: x\n\ndata: y\n\n")[0].event == "message"


def test_a_byte_order_mark_is_dropped_once_and_a_cut_event_is_dropped() -> None:
    p = SseParser()
    assert p.feed(b"\xef\xbb\xbfdata: a\n\n") == [SseEvent(event="message", data="a", id=None)]
    assert p.feed(b"data: cut off") == []
    assert p.close() == []
    q = SseParser()
    assert q.feed("\ufeffdata: \ufeffb\n\n")[0].data == "\ufeffb"
