"""Network faults for the tests: a TCP proxy that can cut and hold its
connections, and listeners that drop or stall every request. Only the
network misbehaves here; actas itself is always the real server."""

from __future__ import annotations

import socket
import threading
from typing import Callable


class Proxy:
    """Forwards 127.0.0.1:port to the target; :meth:`cut` drops every open
    connection and, while held, every new one."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = threading.Event()
        self.requests: list[bytes] = []
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.held.is_set():
                conn.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._open += [conn, upstream]
            threading.Thread(target=self._pipe, args=(conn, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, conn, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        first = True
        try:
            while data := src.recv(65536):
                if record and first:
                    self.requests.append(data)
                first = False
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self, hold: bool = True) -> None:
        if hold:
            self.held.set()
        with self._lock:
            conns, self._open = self._open, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def release(self) -> None:
        self.held.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


class Listener:
    """Accepts connections and hands each to ``behave`` (read, then drop or stall)."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._behave = behave
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._behave, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def drop_after_reading(conn: socket.socket) -> None:
    """Reads the request, then closes without a word: it may have been acted on."""
    conn.recv(65536)
    conn.close()


def stall(conn: socket.socket) -> None:
    """Reads the request and never answers."""
    conn.recv(65536)
    threading.Event().wait(30)
    conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
