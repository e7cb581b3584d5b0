"""The acceptance walk-through of real-time oversight, on a system fairpanel has never
seen, with real processes: the decision API holds the decisions that need a person, a
reviewer decides one on the dashboard, and the service hears the final decision, signed.

From the command line alone, in a fresh ``FAIRPANEL_HOME``: users with passwords, the
system registered with its skops model, a stored audit and its review queue, a panel
assigned one reviewer per case, a ``decide`` and a ``read`` token, and the live policy
with a webhook to a local receiver. ``fairpanel api`` then takes 500 decisions over HTTP
in five batches: each is answered, most automatically (their decision is the model's,
checked against the model's own logged decisions), the held ones with their reasons and
a case that joins the review queue with the same reasons, and the server's worker gives
each held case a reviewer. A reviewer who joined the panel for the live stream signs in
with a password on ``fairpanel serve``, finds the held case first in "My reviews",
overrides the model's decision with a rationale (screenshot
``artifacts/e2e_live_acceptance.png``); ``GET /v1/decisions/{id}`` then says
``decided`` by a reviewer (the role, never the person), the receiver gets the final
decision signed with the secret printed once (a wrong secret or an altered body does
not verify), and
``fairpanel log verify`` finds the log intact. Skipped when ``/usr/bin/chromium`` is
missing, unless ``FAIRPANEL_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from browser_support import ARTIFACTS, browser_page, require_browser, wait_until_drawn
from browser_support import wait_until_idle as idle
from live_acceptance_support import FEATURES, SENSITIVE, Deployment, running
from server_support import HANG_TIMEOUT_S, Receiver, free_port, wait_until_answers
from system_files import write_system

from audits.live.webhooks import SIGNATURE_HEADER, verify
from audits.roles import Actor, Role
from audits.store import Store

pytestmark = pytest.mark.e2e

SYSTEM = "credit"
N_DECISIONS, BATCH = 500, 100
#: The live stream's reviewer (signs in on the page) and the batch queue's reviewers.
LIVE_REVIEWER, QUEUE_REVIEWERS = "riley", ("rev1", "rev2")
PEOPLE = {"dana": ("data_scientist", "Dana Scientist"), "lee": ("panel_lead", "Lee Lead"),
          "rev1": ("reviewer", "Robin One"), "rev2": ("reviewer", "Rowan Two"),
          LIVE_REVIEWER: ("reviewer", "Riley Live")}
PASSWORD = "correct horse battery"
#: The deployed model's threshold, and the live policy's default low-confidence margin.
THRESHOLD, MARGIN = 0.5, 0.1
REASONS = {"counterfactual", "attribution", "low_confidence", "random_control"}
VIEWPORT = {"width": 1440, "height": 1100}
SCREENSHOT = {"width": 1440, "height": 1800}


def test_a_held_decision_is_decided_on_the_dashboard_and_posted_signed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_browser()
    deployment = Deployment.fresh(tmp_path)
    # This process reads the same store, with the same deployment key.
    monkeypatch.setenv("FAIRPANEL_HOME", str(deployment.home))
    monkeypatch.delenv("FAIRPANEL_DATABASE_URL", raising=False)
    data = write_system(tmp_path).joined()
    receiver = Receiver([])
    try:
        tokens, secret = set_up(deployment, receiver.url)
        api_port = free_port()
        api = f"http://127.0.0.1:{api_port}"
        with running(["api", "--port", str(api_port)], deployment, name="fairpanel api",
                     health=f"{api}/openapi.json", log=tmp_path / "api.log") as api_proc:
            answers = send_decisions(api, tokens["decide"], data)
            held = check_answers(answers, data)
            with Store(deployment.url) as store:
                check_queued(store, held)
                wait_until_answers(  # on the API's worker: the probe's pause is on it
                    f"{api}/openapi.json", api_proc, name="fairpanel api's worker",
                    log=tmp_path / "api.log", ok=lambda *_: all_assigned(store, held))
                case_id = first_live_case(store, held)
            decision = next(a for a in held if a["case_id"] == case_id)
            chosen = 1 - decision["model_decision"]  # the reviewer overrides the model
            decide_on_the_page(deployment, tmp_path, case_id, chosen)
            check_status(api, tokens["read"], decision, chosen)
            check_webhook(receiver, secret, decision, chosen)
        assert api_proc.returncode == 0, (tmp_path / "api.log").read_text()
    finally:
        receiver.close()
    deployment.fairpanel("log", "verify")


def set_up(deployment: Deployment, webhook: str) -> tuple[dict[str, str], str]:
    """The README's loop up to the queue, and the live settings; return the tokens by
    scope and the webhook's signing secret."""
    run = deployment.fairpanel
    for name, (role, display) in PEOPLE.items():
        run("users", "add", name, "--role", role, "--display-name", display,
            "--password-stdin", stdin=PASSWORD + "\n")
    run("systems", "add", SYSTEM, "--data", "decisions.csv", "--id", "applicant_id",
        "--target", "repaid", "--prediction", "approved", *_each("--sensitive", SENSITIVE),
        "--sensitive-data", "demographics.csv", "--join", "applicant_id",
        "--model", "model.skops")
    run("audit", "--system", SYSTEM, "--save")
    run("queue", "build", "--audit", "1", "--budget", "40")
    for name in QUEUE_REVIEWERS:
        run("panel", "add", name, "--capacity", "200")
    assigned = json.loads(run("panel", "assign", "--audit", "1", "--overlap", "1",
                              "--json", "-"))
    assert assigned["n_new"] == 40  # one reviewer per queued case
    # Joins after the queue was shared out: the live stream's held cases are all it gets.
    run("panel", "add", LIVE_REVIEWER, "--capacity", "200")
    tokens = {scope: json.loads(run("tokens", "create", "--system", SYSTEM, "--scope", scope,
                                    "--json", "-"))["token"] for scope in ("decide", "read")}
    live = json.loads(run("live", "set", SYSTEM, "--random-rate", "0.05",
                          "--webhook", webhook, "--json", "-"))
    assert live["webhook_url"] == webhook and live["policy"]["random_rate"] == 0.05
    assert live["secret"]
    return tokens, str(live["secret"])


def send_decisions(api: str, token: str, data: pd.DataFrame) -> list[dict[str, Any]]:
    """POST the first 500 applicants as five batches of 100; return the answers."""
    answers: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}"}
    rows = data.head(N_DECISIONS).to_dict("records")
    for start in range(0, N_DECISIONS, BATCH):
        batch = [{"id": f"loan-{r['applicant_id']}", "idempotency_key": f"loan-{r['applicant_id']}",
                  "features": {f: r[f] for f in FEATURES},
                  "sensitive": {s: r[s] for s in SENSITIVE}}
                 for r in rows[start:start + BATCH]]
        answer = httpx.post(f"{api}/v1/systems/{SYSTEM}/decisions",
                            content=json.dumps({"decisions": batch}, default=_plain),
                            headers={**headers, "Content-Type": "application/json"},
                            timeout=HANG_TIMEOUT_S)
        assert answer.status_code == 200, answer.text
        got = answer.json()["decisions"]
        assert [a["id"] for a in got] == [d["id"] for d in batch]  # in the order sent
        answers += got
    return answers


def check_answers(answers: list[dict[str, Any]], data: pd.DataFrame) -> list[dict[str, Any]]:
    """Every decision answered once, mostly automatically; return the held answers."""
    assert len(answers) == N_DECISIONS
    assert len({a["decision_id"] for a in answers}) == N_DECISIONS
    rows = data.set_index("applicant_id")
    for answer in answers:  # the deployed model decides as it did when it logged them
        row = rows.loc[int(answer["id"].removeprefix("loan-"))]
        assert answer["model_decision"] == row["approved"] and not answer["replayed"]
        assert answer["score"] == pytest.approx(row["y_score"], abs=1e-9)
        margin = abs(row["y_score"] - THRESHOLD)
        if abs(margin - MARGIN) > 1e-9:  # held for low confidence exactly when that close
            assert (margin < MARGIN) == ("low_confidence" in _names(answer))
    held = [a for a in answers if a["outcome"] == "held"]
    auto = [a for a in answers if a["outcome"] == "auto"]
    assert 0 < len(held) < len(auto) and len(held) + len(auto) == N_DECISIONS
    for answer in held:
        assert answer["reasons"] and answer["case_id"] is not None
        assert set(_names(answer)) <= REASONS
        assert all(r["explanation"] for r in answer["reasons"])
    assert all(a["case_id"] is None and not a["reasons"] for a in auto)
    assert all(a["unreviewed"] is None for a in answers)  # within the review budget
    assert len({a["case_id"] for a in held}) == len(held)  # a case of its own each
    return held


def check_queued(store: Store, held: list[dict[str, Any]]) -> None:
    """The held decisions wait in the review queue, each case with the answer's reasons."""
    pending = store.live_decisions(SYSTEM, status="pending")
    assert sorted(d.id for d in pending) == sorted(a["decision_id"] for a in held)
    cases = {c.id: c for c in store.list_cases(1)}
    lead = Actor("lee", Role.PANEL_LEAD)
    for answer in held:
        case = cases[answer["case_id"]]  # in the audit's queue, beside the batch's cases
        names = _names(answer)
        assert case.row_key == f"live:{answer['id']}" and case.primary_reason == names[0]
        assert [r["reason"] for r in case.reasons] == names
        review = store.case_review(lead, answer["case_id"])
        assert [r["reason"] for r in review.snapshot["reasons"]] == names
        assert review.status in ("queued", "in_review") and review.final_label is None


def all_assigned(store: Store, held: list[dict[str, Any]]) -> bool:
    """Whether every held decision's case has its one reviewer."""
    table = store.assignment_table(Actor("lee", Role.PANEL_LEAD), 1)
    assigned = {a["case_id"] for a in table if a["status"] != "withdrawn"}
    return {a["case_id"] for a in held} <= assigned


def first_live_case(store: Store, held: list[dict[str, Any]]) -> int:
    """The case "My reviews" opens first for the live reviewer: one held decision's."""
    mine = store.my_assignments(Actor(LIVE_REVIEWER, Role.REVIEWER))
    held_cases = {a["case_id"] for a in held}
    assert mine and {a.case_id for a in mine} <= held_cases  # only the live stream's
    table = store.assignment_table(Actor("lee", Role.PANEL_LEAD), 1)
    per_case = [sum(1 for a in table if a["case_id"] == c) for c in held_cases]
    assert per_case == [1] * len(held_cases)  # overlap 1: one rating closes a case
    return mine[0].case_id


def decide_on_the_page(deployment: Deployment, tmp_path: Path, case_id: int,
                       label: int) -> None:
    """Sign in as the live reviewer with a password, open "My reviews" and rate the case
    shown with ``label``, a rationale and confidence 4."""
    from playwright.sync_api import expect

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    with running(["serve", "--port", str(port), "--host", "127.0.0.1", "--auth", "local"],
                 deployment, name="fairpanel serve", health=f"{url}/_stcore/health",
                 log=tmp_path / "serve.log", stop=signal.SIGTERM,
                 ok=lambda status, body: body.strip() == "ok") as serve, \
            browser_page(viewport=VIEWPORT) as page:
        page.goto(url)
        username = page.get_by_role("textbox", name="Username", exact=True)
        expect(username).to_be_visible()
        idle(page)
        username.fill(LIVE_REVIEWER)
        page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        idle(page)
        page.get_by_test_id("stSidebar").get_by_role("link", name="My reviews").click()
        expect(page.get_by_role("heading", name="My reviews", exact=True)).to_be_visible()
        heading = page.get_by_role("heading", name=re.compile(rf"^Case \d+ · {SYSTEM}$"))
        expect(heading).to_have_count(1)
        assert heading.inner_text() == f"Case {case_id} · {SYSTEM}"  # the held decision
        rate(page, case_id, label)
    assert serve.returncode == 0
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def rate(page: Any, case_id: int, label: int) -> None:
    """Fill and submit the rating form of ``case_id`` (see test_review_browser.rate)."""
    from playwright.sync_api import expect

    # A click that lands while the run drawing the case is still building the form is lost.
    idle(page)
    form = page.get_by_test_id("stForm").first
    option = re.compile(rf"\({label}\)$")
    form.get_by_text(option).click()
    form.get_by_test_id("stRadio").nth(1).get_by_text("4", exact=True).click()
    rationale = form.get_by_role("textbox")
    rationale.fill(f"Live case {case_id}: the debt is small against the income.")
    expect(form.get_by_role("radio", name=option)).to_be_checked()
    expect(form.get_by_role("radio", name="4", exact=True)).to_be_checked()
    idle(page)
    # Tall enough for the whole case, its header in view: the page scrolls inside the app.
    page.set_viewport_size(SCREENSHOT)
    page.get_by_role("heading", name=f"Case {case_id} · {SYSTEM}").scroll_into_view_if_needed()
    wait_until_drawn(page)
    page.screenshot(path=str(ARTIFACTS / "e2e_live_acceptance.png"))
    form.get_by_role("button", name=re.compile("Submit rating")).click()
    expect(page.get_by_text(f"Rating of case {case_id} saved.").first).to_be_visible()


def check_status(api: str, token: str, decision: dict[str, Any], label: int) -> None:
    """The read token sees the reviewer's decision, by role and never by name."""
    answer = httpx.get(f"{api}/v1/decisions/{decision['decision_id']}",
                       headers={"Authorization": f"Bearer {token}"}, timeout=HANG_TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    status = answer.json()
    assert (status["status"], status["outcome"], status["final_decision"], status["changed"],
            status["decided_by"]) == ("decided", "held", label, True, "reviewer")
    assert status["model_decision"] == decision["model_decision"] != label
    assert status["decided_at"] is not None
    _anonymous(answer.text)


def check_webhook(receiver: Receiver, secret: str, decision: dict[str, Any],
                  label: int) -> None:
    """The receiver gets the final decision, signed with the secret printed once."""
    assert receiver.got.wait(timeout=HANG_TIMEOUT_S), "no webhook within the hang guard"
    # Only held decisions are posted (notify "held"), and only this one is decided.
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    signature = {k.lower(): v for k, v in headers.items()}[SIGNATURE_HEADER.lower()]
    assert verify(body, secret, signature)
    assert not verify(body, secret + "x", signature)
    assert not verify(body.replace(b"reviewer", b"model"), secret, signature)
    sent = json.loads(body)
    assert (sent["decision_id"], sent["final_decision"], sent["changed"],
            sent["decided_by"]) == (decision["decision_id"], label, True, "reviewer")
    _anonymous(body.decode())


def _anonymous(text: str) -> None:
    for name, (_, display) in PEOPLE.items():
        if PEOPLE[name][0] == "reviewer":
            assert name not in text and display not in text


def _names(answer: dict[str, Any]) -> list[str]:
    return [r["reason"] for r in answer["reasons"]]


def _each(option: str, values: tuple[str, ...]) -> list[str]:
    return [part for value in values for part in (option, value)]


def _plain(value: Any) -> Any:
    """numpy scalars as JSON numbers."""
    return value.item()
