"""Waiting for a server a test started (imported by basename): on what it answers, never
a fixed pause, and failing at once with its output if it exits first.

The one bound, :data:`HANG_TIMEOUT_S`, only stops a hang: a slow machine is waited for.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["HANG_TIMEOUT_S", "POLL_S", "Receiver", "free_port", "wait_until_answers"]

HANG_TIMEOUT_S = 300.0
#: The pause between two probes, taken as a wait on the server process itself.
POLL_S = 0.25


def wait_until_answers(url: str, proc: subprocess.Popen[bytes] | subprocess.Popen[str], *,
                       ok: Callable[[int, str], bool] = lambda status, body: status == 200,
                       name: str = "the server", log: Path | None = None) -> None:
    """Return once ``url`` answers and ``ok(status, body)`` holds.

    Fails the test if the process exits first (with its log, when given) or nothing
    answers within :data:`HANG_TIMEOUT_S`.
    """
    deadline = time.monotonic() + HANG_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=HANG_TIMEOUT_S) as response:
                if ok(response.status, response.read().decode(errors="replace")):
                    return
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet
        try:  # the pause before the next probe, on the process itself: an exit shows at once
            proc.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            continue
        shown = log.read_text() if log is not None and log.exists() else ""
        pytest.fail(f"{name} exited with {proc.returncode} before answering {url}:\n{shown}")
    pytest.fail(f"{name} did not answer {url} in {HANG_TIMEOUT_S:.0f} s")


class Receiver:
    """A webhook receiver on 127.0.0.1 answering the statuses it is given, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses: list[int] = list(statuses)
        self.received: list[tuple[dict[str, str], bytes]] = []
        #: Set on each request received (a test waits on it, not on a pause).
        self.got = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                receiver.got.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a test starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
