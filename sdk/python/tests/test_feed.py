"""Following the session feed of the real server: an end arrives, and a
cut connection resumes with Last-Event-ID, losing nothing."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Iterator

import pytest

from actas_host import AsyncClient, Client, Feed, SessionChange
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


def test_a_cut_feed_resumes_with_last_event_id(actas: Actas, proxy: Proxy) -> None:
    with Client(proxy.base, actas.app_key) as client:
        follow = Follow(client.follow())
        try:
            wait_for(lambda: follow.feed.connections == 1, what="the feed to connect")
            sid, _ = actas.new_session()
            started = follow.next_for(sid, "session.started")
            # The line drops and stays down while the session ends.
            proxy.cut(hold=True)
            actas.end(sid)
            wait_for(lambda: follow.feed.backoff > 0.2, what="a failed reconnect")
            proxy.release()
            ended = follow.next_for(sid, "session.ended")
            assert ended.seq > started.seq
            assert follow.feed.connections == 2
            resumed = [r for r in proxy.requests if b"last-event-id" in r.lower()]
            assert resumed, "the reconnect carries Last-Event-ID"
            assert f"last-event-id: {started.seq}".encode() in resumed[0].lower()
            # Nothing arrives twice.
            actas.staff("GET", "/healthz", actas.sam)
            with pytest.raises(queue.Empty):
                follow.next_for(sid, "session.ended", timeout=0.5)
        finally:
            follow.stop()


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
