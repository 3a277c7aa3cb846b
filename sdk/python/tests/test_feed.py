"""Following the session feed of the real server: an end arrives, a cut
connection resumes with Last-Event-ID (sync and async), losing and
repeating nothing, and closing the feed ends it at once."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Iterator

import pytest

from actas_host import AsyncClient, AsyncFeed, Client, Feed, SessionChange
from conftest import Actas, wait_for
from faults import Proxy


class Follow:
    """Reads a feed on a thread into a queue."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.changes: queue.Queue[SessionChange] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for change in self.feed:
            self.changes.put(change)

    def next_for(self, session_id: str, kind: str, timeout: float = 10.0) -> SessionChange:
        while True:
            change = self.changes.get(timeout=timeout)
            if change.session.id == session_id and change.type == kind:
                return change

    def stop(self) -> None:
        self.feed.close()


@pytest.fixture
def proxy(actas: Actas) -> Iterator[Proxy]:
    p = Proxy(actas.base.removeprefix("http://"))
    yield p
    p.close()


def test_the_feed_delivers_a_session_end(actas: Actas) -> None:
    with actas.client() as client:
        follow = Follow(client.follow())
        try:
            wait_for(lambda: follow.feed.connections == 1, what="the feed to connect")
            sid, _ = actas.new_session()
            started = follow.next_for(sid, "session.started")
            assert started.session.state == "live" and started.session.agent == "maria"
            actas.end(sid)
            ended = follow.next_for(sid, "session.ended")
            assert ended.ended and ended.session.end_reason == "ended" and ended.seq > started.seq
            assert follow.feed.last_seq == ended.seq
        finally:
            follow.stop()


def replayed(actas: Actas, after: int, through: int) -> list[int]:
    """The seqs a fresh feed delivers after ``after``, up to ``through``."""
    with actas.client() as client:
        seqs: list[int] = []
        for change in client.follow(after=after):
            seqs.append(change.seq)
            if change.seq >= through:
                return seqs
    raise AssertionError("the feed ended")


def during_the_cut(actas: Actas, proxy: Proxy, sid: str) -> str:
    """Drops the line and holds it down while a session ends and another
    starts; answers the new session's id."""
    proxy.cut(hold=True)
    actas.end(sid)
    return actas.new_session()[0]


def check_the_resume(actas: Actas, proxy: Proxy, started: SessionChange, delivered: list[SessionChange]) -> None:
    """The reconnect carried Last-Event-ID, and the changes after it are
    exactly those a fresh feed replays: none lost, none twice."""
    resumed = [r.lower() for r in proxy.requests if b"last-event-id" in r.lower()]
    assert resumed, "the reconnect carries Last-Event-ID"
    assert f"last-event-id: {started.seq}\r\n".encode() in resumed[0]
    seqs = [c.seq for c in delivered if c.seq > started.seq]
    assert seqs == replayed(actas, started.seq, seqs[-1])


def test_a_cut_feed_resumes_with_last_event_id(actas: Actas, proxy: Proxy) -> None:
    with Client(proxy.base, actas.app_key) as client:
        follow = Follow(client.follow())
        try:
            wait_for(lambda: follow.feed.connections == 1, what="the feed to connect")
            sid, _ = actas.new_session()
            started = follow.next_for(sid, "session.started")
            sid2 = during_the_cut(actas, proxy, sid)
            wait_for(lambda: follow.feed.backoff > 0.2, what="a failed reconnect")
            proxy.release()
            delivered = [follow.changes.get(timeout=10) for _ in range(2)]
            assert [(c.session.id, c.type) for c in delivered] == [(sid, "session.ended"), (sid2, "session.started")]
            assert follow.feed.connections == 2
            check_the_resume(actas, proxy, started, delivered)
            with pytest.raises(queue.Empty):
                follow.changes.get(timeout=0.5)
        finally:
            follow.stop()
            actas.end_live()


def test_a_cut_async_feed_resumes_with_last_event_id(actas: Actas, proxy: Proxy) -> None:
    async def next_change(feed: AsyncFeed) -> SessionChange:
        return await asyncio.wait_for(feed.__anext__(), 10)

    async def run() -> None:
        async with AsyncClient(proxy.base, actas.app_key) as client:
            feed = client.follow()
            first = asyncio.ensure_future(next_change(feed))
            while feed.connections == 0:
                await asyncio.sleep(0.02)
            sid, _ = await asyncio.to_thread(actas.new_session)
            started = await first
            assert (started.session.id, started.type) == (sid, "session.started")
            sid2 = await asyncio.to_thread(during_the_cut, actas, proxy, sid)
            second = asyncio.ensure_future(next_change(feed))
            while feed.backoff <= 0.2:
                await asyncio.sleep(0.02)
            proxy.release()
            delivered = [await second, await next_change(feed)]
            assert [(c.session.id, c.type) for c in delivered] == [(sid, "session.ended"), (sid2, "session.started")]
            assert feed.connections == 2
            await asyncio.to_thread(check_the_resume, actas, proxy, started, delivered)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(feed.__anext__(), 0.5)
            await feed.aclose()

    try:
        asyncio.run(run())
    finally:
        actas.end_live()


def test_following_after_a_seq_replays_what_came_after_it(actas: Actas) -> None:
    sid, _ = actas.new_session()
    with actas.client() as client:
        follow = Follow(client.follow())
        wait_for(lambda: follow.feed.connections == 1, what="the feed to connect")
        actas.end(sid)
        ended = follow.next_for(sid, "session.ended")
        follow.stop()
        replay = Follow(client.follow(after=ended.seq - 1))
        try:
            again = replay.next_for(sid, "session.ended")
            assert again.seq == ended.seq and again.session == ended.session
        finally:
            replay.stop()


def test_the_async_feed_delivers_a_session_end(actas: Actas) -> None:
    async def run() -> None:
        async with AsyncClient(actas.base, actas.app_key) as client:
            feed = client.follow()
            first = asyncio.ensure_future(feed.__anext__())
            await asyncio.sleep(0.3)
            sid, _ = await asyncio.to_thread(actas.new_session)
            change = await asyncio.wait_for(first, 10)
            assert change.session.id == sid and change.type == "session.started"
            await asyncio.to_thread(actas.end, sid)
            change = await asyncio.wait_for(feed.__anext__(), 10)
            assert change.session.id == sid and change.ended
            await feed.aclose()

    asyncio.run(run())


def test_closing_the_feed_ends_its_thread_at_once(actas: Actas) -> None:
    with actas.client() as client:
        follow = Follow(client.follow())
        wait_for(lambda: follow.feed.connections == 1, what="the feed to connect")
        time.sleep(0.2)  # the reading thread is blocked in the read
        began = time.monotonic()
        follow.stop()
        assert time.monotonic() - began < 1.0, "close() waited for the stream"
        follow.thread.join(3.0)
        assert not follow.thread.is_alive(), "the reading thread still runs 3 s after close()"
        assert follow.feed.connections == 1, "a closed feed does not reconnect"
