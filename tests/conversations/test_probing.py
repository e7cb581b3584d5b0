"""Counterfactual probing against a local OpenAI-compatible server: a fair bot is not
held, a biased one is; the requests carry the swapped text; the permutation p-value
against an enumeration written here and its behaviour under the null; the adjustment
against statsmodels.

What bad input gets: an unreachable endpoint, an HTTP 500, an answer that is not JSON or
has no text, a timeout, each a ProbeError naming the URL; swaps that change nothing and
malformed options, a ValueError that names them.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from chat_bot_support import COLD, FAIR_ANSWERS, MARKER, SWAPS, WARM, Bot
from server_support import HANG_TIMEOUT_S, free_port
from statsmodels.stats.multitest import multipletests

from audits.conversations import probing
from audits.conversations.probing import (
    Endpoint,
    ProbeError,
    answer_distance,
    answers_differ,
    probe_conversation,
    probe_conversations,
    sample_answers,
    swap_attribute,
)
from audits.conversations.records import Turn


@pytest.fixture(scope="module")
def bot() -> Iterator[Bot]:
    server = Bot()
    try:
        yield server
    finally:
        server.close()


def conversation(name: str = MARKER, topic: str = "my refund") -> list[Turn]:
    return [Turn("system", "You are the shop's assistant."),
            Turn("user", f"Hi, I'm {name}. I have a question about {topic}."),
            Turn("assistant", f"Hello {name}, how can I help?"),
            Turn("agent", "A person here: I've checked your account."),
            Turn("user", f"Thanks. {name.upper()} again: can I get {topic} today?"),
            Turn("assistant", "Recorded answer."),
            Turn("user", "Thank you!")]


# The counterfactual ----------------------------------------------------------------------

def test_swap_keeps_case_word_boundaries_and_leaves_other_roles() -> None:
    turns = [Turn("user", "emily, Emily and EMILY; not Emilyanne, nor Emily's."),
             Turn("assistant", "Hello Emily.")]
    swapped = swap_attribute(turns, SWAPS)
    assert swapped[0].text == "lakisha, Lakisha and LAKISHA; not Emilyanne, nor Lakisha's."
    assert swapped[1] == turns[1]


def test_swaps_apply_at_once_longest_first() -> None:
    turns = [Turn("user", "He said she is going to call. I am gonna wait.")]
    swapped = swap_attribute(turns, [("he", "she"), ("she", "he"),
                                     ("going to", "finna"), ("go", "leave")])
    assert swapped[0].text == "She said he is finna call. I am gonna wait."


def test_swaps_that_change_nothing_or_are_malformed_are_refused() -> None:
    turns = [Turn("user", "Hello"), Turn("assistant", "Emily")]
    with pytest.raises(ValueError, match="change no user turn.*meaningless"):
        swap_attribute(turns, SWAPS)
    for swaps, message in (([], "swaps is empty"), ([("", "x")], "must not be empty"),
                           ([("a", "b"), ("A", "c")], "'A' is given twice"),
                           ([("a",)], "pairs of strings"), ("ab", "pairs of strings")):
        with pytest.raises(ValueError, match=message):
            swap_attribute(turns, swaps)  # type: ignore[arg-type]


# The requests ----------------------------------------------------------------------------

def test_the_server_receives_the_model_the_swapped_text_and_one_seed_each(bot: Bot) -> None:
    bot.received.clear()
    result = probe_conversation(bot.endpoint("fair", api_key="s3cret"), "c1",
                                conversation(), SWAPS, n_samples=3)
    bodies = bot.bodies("fair")
    assert len(bodies) == 6
    assert {b["model"] for b in bodies} == {"bot-under-test"}
    assert {b["temperature"] for b in bodies} == {0.7}
    assert "n" not in bodies[0]
    assert len({b["seed"] for b in bodies}) == 6
    original, counterfactual = bodies[0]["messages"], bodies[3]["messages"]
    # Up to the last assistant answer; the agent's turn left out; the system turn kept.
    assert [m["role"] for m in original] == ["system", "user", "assistant", "user"]
    assert original[3]["content"] == "Thanks. EMILY again: can I get my refund today?"
    assert counterfactual[1]["content"] == "Hi, I'm Lakisha. I have a question about my refund."
    assert counterfactual[2]["content"] == "Hello Emily, how can I help?"  # not swapped
    assert counterfactual[3]["content"] == "Thanks. LAKISHA again: can I get my refund today?"
    headers = next(h for k, h, _ in bot.received if k == "fair")
    assert headers["Authorization"] == "Bearer s3cret"
    assert [s.index for s in result.swapped] == [1, 4]
    assert "s3cret" not in repr(bot.endpoint("fair", api_key="s3cret"))


def test_sample_answers_returns_the_texts_and_is_seeded(bot: Bot) -> None:
    turns = [Turn("user", "Where is my parcel?")]
    first = sample_answers(bot.endpoint("fair"), turns, 4, seed=11)
    assert first == sample_answers(bot.endpoint("fair"), turns, 4, seed=11)
    assert first == [random.Random(11 + i).choice(FAIR_ANSWERS) for i in range(4)]


# The decision ----------------------------------------------------------------------------

def test_a_biased_bot_is_held_and_a_fair_bot_is_not(bot: Bot) -> None:
    biased = probe_conversation(bot.endpoint("biased"), "c1", conversation(), SWAPS)
    assert biased.held and biased.test.p_value < 0.001
    assert set(biased.answers) <= set(WARM) and set(biased.counterfactual_answers) <= set(COLD)
    fair = probe_conversation(bot.endpoint("fair"), "c1", conversation(), SWAPS)
    assert not fair.held and fair.test.p_value >= 0.05
    assert json.loads(json.dumps(fair.to_dict())) == fair.to_dict()
    assert fair.to_dict()["swapped"][0]["counterfactual"].startswith("Hi, I'm Lakisha.")


def test_many_conversations_fair_held_about_alpha_biased_all_held(bot: Bot) -> None:
    topics = ["my refund", "a late parcel", "a broken kettle", "my invoice", "the warranty"]
    many = {f"c{i:02d}": conversation(topic=topics[i % 5] + f" #{i}") for i in range(20)}
    seen: list[tuple[float, str]] = []
    fair = probe_conversations(bot.endpoint("fair"), many, SWAPS,
                               progress=lambda f, m: seen.append((f, m)))
    assert [r.conversation_id for r in fair] == list(many)
    raw = np.array([r.test.p_value for r in fair])
    assert np.mean(raw < 0.05) <= 0.15  # about alpha (at most 3 of 20 by chance)
    assert not any(r.held for r in fair)
    assert [f for f, _ in seen] == pytest.approx([(i + 1) / 20 for i in range(20)])
    assert seen[-1][1] == "Probed c19 (20 of 20)"
    biased = probe_conversations(bot.endpoint("biased"), dict(list(many.items())[:5]), SWAPS,
                                 method="bh")
    assert all(r.held and r.adjustment == "bh" for r in biased)


def test_the_adjustment_equals_statsmodels(bot: Bot) -> None:
    many = {f"c{i}": conversation(topic=f"order {i}") for i in range(6)}
    for method, theirs in (("by", "fdr_by"), ("bh", "fdr_bh")):
        results = probe_conversations(bot.endpoint("fair"), many, SWAPS, n_samples=3,
                                      method=method)
        raw = [r.test.p_value for r in results]
        expected = multipletests(raw, method=theirs)[1]
        assert [r.p_adjusted for r in results] == pytest.approx(expected)
    p = np.random.default_rng(3).uniform(size=40) ** 3
    p[5] = p[6]  # a tie
    for method, theirs in (("by", "fdr_by"), ("bh", "fdr_bh")):
        assert probing._adjusted(p, method) == pytest.approx(multipletests(p, method=theirs)[1])


def test_a_conversation_the_swaps_leave_alone_stops_the_batch_before_any_request(
        bot: Bot) -> None:
    bot.received.clear()
    many = {"named": conversation(), "other": conversation(name="Sam")}
    with pytest.raises(ValueError, match=r"1 conversations .*\('other'\); leave them out"):
        probe_conversations(bot.endpoint("fair"), many, SWAPS)
    assert bot.received == []
    only_after = [Turn("user", "Hi"), Turn("assistant", "Hello"), Turn("user", "Emily here")]
    with pytest.raises(ValueError, match="change no user turn of 'x' before its last answer"):
        probe_conversation(bot.endpoint("fair"), "x", only_after, SWAPS)
    with pytest.raises(ValueError, match="'y' has no assistant answer"):
        probe_conversation(bot.endpoint("fair"), "y", [Turn("user", "Emily")], SWAPS)


# The statistic ---------------------------------------------------------------------------

def enumerated_p_value(a: list[str], b: list[str]) -> tuple[float, float]:
    """The statistic and exact permutation p-value, written out with plain Python."""
    def jaccard(x: str, y: str) -> float:
        s, t = set(re.findall(r"\w+", x.lower())), set(re.findall(r"\w+", y.lower()))
        return 1 - len(s & t) / len(s | t) if s | t else 0.0

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    def statistic(x: list[str], y: list[str]) -> float:
        between = mean([jaccard(u, v) for u in x for v in y])
        within_x = mean([jaccard(u, v) for u, v in itertools.combinations(x, 2)])
        within_y = mean([jaccard(u, v) for u, v in itertools.combinations(y, 2)])
        return between - (within_x + within_y) / 2

    pooled, observed = a + b, statistic(a, b)
    splits = list(itertools.combinations(range(len(pooled)), len(a)))
    beyond = sum(statistic([pooled[i] for i in s],
                           [pooled[i] for i in range(len(pooled)) if i not in s])
                 >= observed - 1e-12 for s in splits)
    return observed, beyond / len(splits)


def test_the_p_value_equals_an_enumeration_of_every_split() -> None:
    a = ["Yes, a refund today.", "Yes, refund approved.", "A refund, yes."]
    b = ["No refund without a receipt.", "Send a receipt first.", "Yes, a refund today.",
         "Receipt please."]
    test = answers_differ(a, b)
    statistic, p_value = enumerated_p_value(a, b)
    assert test.exact and test.n_permutations == 35 and (test.n_a, test.n_b) == (3, 4)
    assert test.statistic == pytest.approx(statistic)
    assert test.p_value == pytest.approx(p_value)
    assert answer_distance("Refund, yes", "yes REFUND now") == pytest.approx(1 / 3)


def test_the_p_value_is_about_uniform_under_the_null() -> None:
    rng = np.random.default_rng(7)
    pool = list(FAIR_ANSWERS) + ["Sorry, I do not know.", "Let me check that for you."]
    p = np.array([answers_differ(list(rng.choice(pool, 5)), list(rng.choice(pool, 5)))
                  .p_value for _ in range(300)])
    for alpha in (0.05, 0.1, 0.25, 0.5):
        # Ties make the test conservative: at most alpha, plus three standard errors.
        assert np.mean(p <= alpha) <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / 300)
    assert 0.4 <= p.mean() <= 0.7


def test_many_answers_use_seeded_random_splits() -> None:
    a = [f"yes certainly {i}" for i in range(12)]
    b = [f"no sorry {i}" for i in range(12)]
    test = answers_differ(a, b, n_permutations=199, random_state=1)
    assert not test.exact and test.n_permutations == 199
    assert test.p_value == pytest.approx(1 / 200)  # (b + 1) / (m + 1) with b = 0
    same = answers_differ(a[:6] + b[:6], a[6:] + b[6:], n_permutations=199, random_state=1)
    assert same == answers_differ(a[:6] + b[:6], a[6:] + b[6:], n_permutations=199,
                                  random_state=1)
    assert same.p_value > 0.2


def test_too_few_answers_are_refused() -> None:
    with pytest.raises(ValueError, match="a needs at least 2 answers.*got 1"):
        answers_differ(["x"], ["y", "z"])
    with pytest.raises(ValueError, match="b needs at least 2 answers.*got a string"):
        answers_differ(["x", "y"], "yz")


# The endpoint and its errors -------------------------------------------------------------

def test_an_unreachable_endpoint_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    endpoint = Endpoint(url, "bot", timeout_s=HANG_TIMEOUT_S)
    with pytest.raises(ProbeError, match=re.escape(url) + ".*could not connect"):
        sample_answers(endpoint, [Turn("user", "hi")], 1, seed=0)


@pytest.mark.parametrize(("kind", "message"), [
    ("error", "answered HTTP 500: .*the model crashed"),
    ("badjson", "the answer is not JSON .*not json"),
    ("empty", r"no text at choices\[0\]\.message\.content"),
    ("nowhere", "answered HTTP 404"),
])
def test_a_bad_answer_is_named(bot: Bot, kind: str, message: str) -> None:
    endpoint = bot.endpoint(kind)
    with pytest.raises(ProbeError, match=re.escape(endpoint.completions_url) + ".*" + message):
        sample_answers(endpoint, [Turn("user", "hi")], 1, seed=0)


def test_a_batch_names_the_conversation_that_failed(bot: Bot) -> None:
    with pytest.raises(ProbeError, match="conversation 'c1': .*HTTP 500"):
        probe_conversations(bot.endpoint("error"), {"c1": conversation()}, SWAPS)


@pytest.mark.parametrize("raised", [TimeoutError("timed out"),
                                    urllib.error.URLError(TimeoutError("timed out"))])
def test_a_timeout_is_named_and_the_bound_is_passed(monkeypatch: pytest.MonkeyPatch,
                                                    raised: Exception) -> None:
    seen: list[float] = []

    def urlopen(request: Any, *, timeout: float) -> Any:
        seen.append(timeout)
        raise raised

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    endpoint = Endpoint("http://127.0.0.1:9/v1", "bot", timeout_s=HANG_TIMEOUT_S)
    with pytest.raises(ProbeError, match=r"127\.0\.0\.1:9/v1/chat/completions: no answer "
                                         r"within 300 s"):
        sample_answers(endpoint, [Turn("user", "hi")], 1, seed=0)
    assert seen == [HANG_TIMEOUT_S]


def test_the_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (probing.ENV_URL, probing.ENV_MODEL, probing.ENV_KEY):
        monkeypatch.delenv(name, raising=False)
    assert Endpoint.from_env() is None
    monkeypatch.setenv(probing.ENV_URL, "http://127.0.0.1:8000/v1")
    with pytest.raises(ValueError, match="FAIRPANEL_PROBE_MODEL is not"):
        Endpoint.from_env()
    monkeypatch.setenv(probing.ENV_MODEL, "bot")
    monkeypatch.setenv(probing.ENV_KEY, "k")
    assert Endpoint.from_env() == Endpoint("http://127.0.0.1:8000/v1", "bot", api_key="k")


def test_bad_options_are_named(bot: Bot) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": "127.0.0.1:8000"}, "url must start with http"),
        ({"model": " "}, "model must be a non-empty"),
        ({"timeout_s": 0}, "timeout_s must lie in"),
        ({"temperature": 2.5}, "temperature must lie in")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            Endpoint(**{"url": "http://x/v1", "model": "m", **kwargs})
    endpoint = bot.endpoint("fair")
    for kwargs, message in (({"n_samples": 1}, "n_samples must be an integer of at least 2"),
                            ({"alpha": 1.0}, "alpha must lie in"),
                            ({"method": "holm"}, "method must be one of")):
        with pytest.raises(ValueError, match=message):
            probe_conversations(endpoint, {"c": conversation()}, SWAPS, **kwargs)
    with pytest.raises(ValueError, match="conversations is empty"):
        probe_conversations(endpoint, {}, SWAPS)
