"""A real actas server for the tests: the binary at $ACTAS_BIN (default
../../target/debug/actas beside this package), on a free port, on a fresh
SQLite file, set up through its command line and HTTP API."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from actas_host import Client

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
BIN = Path(os.environ.get("ACTAS_BIN") or PACKAGE / ".." / ".." / "target" / "debug" / "actas").resolve()

ACCOUNT = "acct_42"
ACCOUNT_NAME = "Acme Corp"
TICKET = "PY-48192"
REASON = "Customer cannot change the invoice email after the plan change"
ACTIONS = ["settings.view", "invoice_email.update"]
AGENT_NAME = 'Maria "<Lopez>"'


@dataclass
class Actas:
    """A running actas and what the tests need to drive it."""

    base: str
    db: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    maria: str
    sam: str
    app_id: str
    app_key: str
    log: list[str] = field(default_factory=list)
    live: str | None = None

    def staff(self, method: str, path: str, token: str, body: Any = None, want: int | None = None) -> Any:
        r = httpx.request(
            method,
            f"{self.base}/api/v1{path}",
            headers={"authorization": f"Bearer {token}"},
            json=body,
            timeout=10,
        )
        if want is not None and r.status_code != want:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def new_session(self, actions: list[str] | None = None, minutes: int | None = None) -> tuple[str, str]:
        """Ends Maria's live session, if any, and starts a new one: (session id, token)."""
        self.end_live()
        body: dict[str, Any] = {"ticket": TICKET, "reason": REASON, "actions": actions or ACTIONS}
        if minutes:
            body["minutes"] = minutes
        req = self.staff("POST", "/requests", self.maria, body, want=201)
        if req["status"] == "pending":
            self.staff("POST", f"/requests/{req['id']}/approve", self.sam, {}, want=200)
        started = self.staff("POST", f"/requests/{req['id']}/start", self.maria, {}, want=201)
        self.live = started["session"]["id"]
        return started["session"]["id"], started["token"]

    def end(self, session_id: str) -> Any:
        if self.live == session_id:
            self.live = None
        return self.staff("POST", f"/sessions/{session_id}/end", self.maria, {}, want=200)

    def end_live(self) -> None:
        if self.live:
            self.staff("POST", f"/sessions/{self.live}/end", self.maria, {})
            self.live = None

    def client(self, **kw: Any) -> Client:
        return Client(self.base, self.app_key, **kw)

    def cli(self, *args: str) -> list[str]:
        """Runs the actas command line on the server's database: its output's lines."""
        return _cli(self.db, self.env, *args)


def _cli(db: Path, env: dict[str, str], *args: str) -> list[str]:
    out = subprocess.run(
        [str(BIN), "--database", str(db), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [line.strip() for line in out.strip().splitlines()]


def _serve(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    process = subprocess.Popen(
        [str(BIN), "--database", str(db), "serve", "--listen", "127.0.0.1:0"],
        env={**env, "ACTAS_LOG": "info"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    log: list[str] = []
    found = threading.Event()
    address: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = re.sub(r"\x1b\[[0-9;]*m", "", raw.decode("utf-8", "replace"))
            log.append(line)
            m = re.search(r"addr=(127\.0\.0\.1:\d+)", line)
            if "actas is listening" in line and m and not found.is_set():
                address.append(m.group(1))
                found.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 30
    while not found.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("actas did not start:\n" + "".join(log))
    return process, f"http://{address[0]}", log


@pytest.fixture(scope="session")
def actas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Actas]:
    if not BIN.is_file():
        pytest.fail(f"no actas binary at {BIN}; build it or set ACTAS_BIN")
    work = tmp_path_factory.mktemp("actas")
    db = work / "actas.db"
    kek = work / "key-encryption-key"
    env = {**os.environ, "NO_COLOR": "1", "ACTAS_KEY_ENCRYPTION_KEY_FILE": str(kek)}
    _cli(db, env, "key", "new-kek", str(kek))
    maria = _cli(db, env, "staff", "add", "maria", "--name", AGENT_NAME, "--role", "agent")[-1]
    sam = _cli(db, env, "staff", "add", "sam", "--name", "Sam Lee", "--role", "lead")[-1]
    app = _cli(db, env, "app", "add", "Acme Billing", "--tickets", "--origin", "http://host.test")
    app_id = next(m.group(1) for line in app if (m := re.search(r" as (app_\w+)\.", line)))
    process, base, log = _serve(db, env)
    server = Actas(base=base, db=db, env=env, process=process, maria=maria, sam=sam, app_id=app_id, app_key=app[-1], log=log)
    with server.client() as client:
        client.create_ticket(TICKET, ACCOUNT, "Invoice email cannot be changed", account_name=ACCOUNT_NAME)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def session(actas: Actas) -> Iterator[tuple[str, str]]:
    """A fresh live session: (session id, token)."""
    yield actas.new_session()
    actas.end_live()


def wait_for(predicate: Any, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
