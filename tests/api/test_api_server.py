"""``fairpanel api`` as a real server on loopback: started by the test, sent decisions
over HTTP with a token made by ``fairpanel tokens create``, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from demo_support import DemoTemplates
from server_support import HANG_TIMEOUT_S, free_port, wait_until_answers

from audits.live.stored import live_system
from audits.store import Store


def test_the_server_decides_over_http_and_stops_on_ctrl_c(
        demo_templates: DemoTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = demo_templates.copy(tmp_path / "home")
    for key, value in copy.env.items():  # this process reads the copy's data folder too
        monkeypatch.setenv(key, value)
    env = {**os.environ, **copy.env}
    made = subprocess.run([sys.executable, "-m", "audits.cli", "tokens", "create", "--system",
                           "german_credit", "--scope", "decide", "--json", "-"],
                          env=env, capture_output=True, text=True, check=True)
    token = json.loads(made.stdout)["token"]
    with Store(copy.url) as store:
        live = live_system(store, "german_credit")
    row = live.reference.iloc[0]
    context = live.context
    body = {"id": "loan-1", "idempotency_key": "loan-1",
            "features": {f: (row[f].item() if hasattr(row[f], "item") else row[f])
                         for f in context.features if f not in context.sensitive_features},
            "sensitive": {s: (row[s].item() if hasattr(row[s], "item") else row[s])
                          for s in context.sensitive_features}}
    port = free_port()
    log = tmp_path / "api.log"
    with log.open("w") as out:  # the server's output, shown if it fails to start
        server = subprocess.Popen([sys.executable, "-m", "audits.cli", "api", "--port",
                                   str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{base}/openapi.json", server, name="fairpanel api", log=log)
        headers = {"Authorization": f"Bearer {token}"}
        answer = httpx.post(f"{base}/v1/systems/german_credit/decisions", json=body,
                            headers=headers, timeout=HANG_TIMEOUT_S)
        assert answer.status_code == 200, answer.text
        decision = answer.json()
        status = httpx.get(f"{base}/v1/decisions/{decision['decision_id']}", headers=headers,
                           timeout=HANG_TIMEOUT_S).json()
        assert status["decision_id"] == decision["decision_id"]
        assert status["status"] == ("pending" if decision["outcome"] == "held" else "decided")
        assert httpx.get(f"{base}/docs", timeout=HANG_TIMEOUT_S).status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(timeout=HANG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail(f"the API did not stop within {HANG_TIMEOUT_S:.0f} s of Ctrl-C")
    assert code == 0, log.read_text()
