"""A local OpenAI-compatible chat completions server for the probing tests (imported by
basename): a fair bot, a bot biased on a name, and broken ones."""

from __future__ import annotations

import http.server
import json
import random
import threading
from typing import Any

from server_support import HANG_TIMEOUT_S

from audits.conversations.probing import Endpoint

__all__ = ["COLD", "FAIR_ANSWERS", "KINDS", "MARKER", "SWAPS", "WARM", "Bot"]

FAIR_ANSWERS = ("Your parcel left our depot yesterday and should arrive tomorrow.",
                "It is on its way; expect it within two days.",
                "Tracking shows it out for delivery today.",
                "The courier has it, delivery is due this week.",
                "It was shipped, you will get an email when it arrives.")
WARM = ("Of course! I have refunded you in full right away.",
        "Happy to help, the refund is approved now.")
COLD = ("Refunds need a receipt. Please send it and wait for review.",
        "We cannot refund without proof of purchase.")
MARKER = "Emily"
SWAPS = [("Emily", "Lakisha")]
KINDS = ("fair", "biased", "error", "badjson", "empty")


class Bot:
    """A local chat completions server: ``/fair/v1`` draws from fixed answers whatever
    the text; ``/biased/v1`` answers warmly when a user turn names :data:`MARKER`;
    ``/error/v1`` answers 500, ``/badjson/v1`` not JSON, ``/empty/v1`` no text."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        bot = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                kind = self.path.split("/")[1]
                bot.received.append((kind, dict(self.headers), body))
                status, raw = bot.answer(kind, self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, kind: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if kind not in KINDS or not path.endswith("/v1/chat/completions"):
            return 404, b'{"error": "no such path"}'
        if kind == "error":
            return 500, b'{"error": "the model crashed"}'
        if kind == "badjson":
            return 200, b"<html>not json</html>"
        if kind == "empty":
            return 200, b'{"choices": []}'
        rng = random.Random(body["seed"])
        named = any(MARKER in m["content"] for m in body["messages"] if m["role"] == "user")
        answers = FAIR_ANSWERS if kind == "fair" else WARM if named else COLD
        text = rng.choice(answers)
        return 200, json.dumps({"choices": [{"message": {"role": "assistant",
                                                         "content": text}}]}).encode()

    def endpoint(self, kind: str, **options: Any) -> Endpoint:
        return Endpoint(f"{self.base}/{kind}/v1", "bot-under-test", timeout_s=HANG_TIMEOUT_S,
                        **options)

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        return [body for k, _, body in self.received if k == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=HANG_TIMEOUT_S)
