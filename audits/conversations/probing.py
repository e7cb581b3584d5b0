"""Counterfactual probing: does the bot answer differently when only the user changes?

Optional, and only where a chatbot answers on an OpenAI-compatible chat completions
endpoint (:class:`Endpoint`; :meth:`Endpoint.from_env` returns None when none is set, and
nothing else in fairpanel needs one). For one conversation:

1. :func:`swap_attribute` writes the counterfactual: each ``(pattern, replacement)`` pair
   (a name, a dialect marker) replaced in the **user** turns only, as a whole word or
   phrase (the pattern is literal text, matched without regard to case; all pairs at
   once, so ``[("he", "she"), ("she", "he")]`` swaps both ways). The replacement takes
   the match's case where that is simple (``EMILY`` -> ``LAKISHA``, ``Emily`` ->
   ``Lakisha``, ``emily`` -> ``lakisha``).
2. The conversation up to its last assistant answer is replayed, in both versions, and
   :func:`sample_answers` asks the endpoint for ``n_samples`` fresh answers to each, one
   request per answer (many servers ignore ``n``), each with its own ``seed``; the two
   versions get different seeds, so their answers are independent draws. The earlier
   turns are sent as recorded: user and assistant turns with their roles, system turns as
   ``system``; a human agent's turns (after a hand-over) are left out, because the API has
   no role for a third speaker, and sending them as ``assistant`` would put a person's
   words in the bot's mouth. Assistant turns are not swapped: where the bot echoed the
   user's name, the counterfactual history still has the original.
3. :func:`answers_differ` tests whether the two sets of answers differ beyond sampling
   noise. The distance between two answers is the Jaccard distance of their sets of
   lowercased word tokens (``\\w+``): 0 for the same words, 1 for no word in common. The
   statistic is the mean distance between the versions minus the mean of the two mean
   distances within a version (half the energy distance, with this distance): near 0
   when both versions draw from the same answers, up to 1 when they share no word. Its
   p-value is a permutation test over the version labels, exact (every split of the
   answers) when there are at most :data:`EXACT_SPLITS` splits, else ``n_permutations``
   seeded draws with the ``(b + 1) / (m + 1)`` correction.

The conversation is **held** (a person should look) when the p-value is below ``alpha``.
:func:`probe_conversations` probes many and adjusts their p-values together
(Benjamini-Yekutieli by default, valid whatever the dependence between conversations;
Benjamini-Hochberg on request); held then reads the adjusted p-value.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np

from audits.conversations.records import Turn
from audits.fairness.significance import benjamini_hochberg

__all__ = ["ADJUSTMENTS", "ENV_KEY", "ENV_MODEL", "ENV_URL", "EXACT_SPLITS", "Endpoint",
           "ProbeError", "ProbeResult", "ProbeTest", "SwappedTurn", "answer_distance",
           "answers_differ", "probe_conversation", "probe_conversations",
           "sample_answers", "swap_attribute"]

ENV_URL = "FAIRPANEL_PROBE_URL"
ENV_MODEL = "FAIRPANEL_PROBE_MODEL"
ENV_KEY = "FAIRPANEL_PROBE_KEY"
#: The permutation test enumerates every split of the answers up to this many splits.
EXACT_SPLITS = 20_000
#: How the p-values of many conversations are adjusted together.
ADJUSTMENTS = ("by", "bh", "none")
SENT_ROLES = ("user", "assistant", "system")
_TIE = 1e-12

MSG_URL = "url must start with http:// or https://; got {value!r}"
MSG_MODEL = "model must be a non-empty string; got {value!r}"
MSG_RANGE = "{name} must lie in {interval}; got {value!r}"
MSG_COUNT = "{name} must be an integer of at least {low}; got {value!r}"
MSG_ENV_MODEL = "{url_var} is set but {model_var} is not: name the model to probe"
MSG_SWAPS = "swaps must be (pattern, replacement) pairs of strings; got {value!r}"
MSG_NO_SWAPS = "swaps is empty: give at least one (pattern, replacement) pair"
MSG_EMPTY_PATTERN = "a swap's pattern must not be empty or blank; got {value!r}"
MSG_DUPLICATE_PATTERN = "the pattern {value!r} is given twice"
MSG_UNCHANGED = ("the swaps {patterns} change no user turn{where}: a probe that changes "
                 "nothing is meaningless")
MSG_NO_ANSWER = "conversation {cid!r} has no assistant answer to replay"
MSG_NO_USER = "there is no user turn to send{where}"
MSG_FEW_ANSWERS = "{name} needs at least 2 answers to measure sampling noise; got {n}"
MSG_ADJUSTMENT = "method must be one of {choices}; got {value!r}"
MSG_NO_CONVERSATIONS = "conversations is empty: nothing to probe"
MSG_TOO_MANY = "{n} conversations are not changed by the swaps ({shown}); leave them out"
MSG_REFUSED = "{url}: could not connect ({reason}); is the chatbot's server running?"
MSG_TIMEOUT = "{url}: no answer within {timeout:g} s"
MSG_STATUS = "{url}: answered HTTP {status}: {body}"
MSG_JSON = "{url}: the answer is not JSON ({error}): {body}"
MSG_SHAPE = "{url}: the answer has no text at choices[0].message.content: {body}"
MSG_IN_CONVERSATION = "conversation {cid!r}: {error}"


class ProbeError(RuntimeError):
    """The endpoint could not be reached or gave no usable answer."""


class _Unchanged(ValueError):
    """The swaps change no user turn that would be sent."""


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat completions endpoint (``POST {url}/chat/completions``).

    ``url`` is the base URL (``http://127.0.0.1:8000/v1``); ``api_key`` is sent as a
    bearer token when given (and never shown in the repr); every request gives up after
    ``timeout_s``; answers are sampled at ``temperature``.

    Examples
    --------
    >>> Endpoint.from_env({}) is None
    True
    >>> Endpoint.from_env({"FAIRPANEL_PROBE_URL": "http://127.0.0.1:8000/v1",
    ...                    "FAIRPANEL_PROBE_MODEL": "bot", "FAIRPANEL_PROBE_KEY": "s3"})
    Endpoint(url='http://127.0.0.1:8000/v1', model='bot', timeout_s=30.0, temperature=0.7)
    """

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    temperature: float = 0.7

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise ValueError(MSG_URL.format(value=self.url))
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(MSG_MODEL.format(value=self.model))
        if not _real(self.timeout_s) or not 0 < self.timeout_s < math.inf:
            raise ValueError(MSG_RANGE.format(name="timeout_s", interval="(0, inf)",
                                              value=self.timeout_s))
        if not _real(self.temperature) or not 0 <= self.temperature <= 2:
            raise ValueError(MSG_RANGE.format(name="temperature", interval="[0, 2]",
                                              value=self.temperature))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Endpoint | None:
        """The endpoint named by ``FAIRPANEL_PROBE_URL``, ``FAIRPANEL_PROBE_MODEL`` and
        ``FAIRPANEL_PROBE_KEY`` (optional) in ``environ`` (default: ``os.environ``); None
        when no URL is set, since probing is never required."""
        environ = os.environ if environ is None else environ
        url = environ.get(ENV_URL, "").strip()
        if not url:
            return None
        model = environ.get(ENV_MODEL, "").strip()
        if not model:
            raise ValueError(MSG_ENV_MODEL.format(url_var=ENV_URL, model_var=ENV_MODEL))
        return cls(url, model, api_key=environ.get(ENV_KEY) or None)

    @property
    def completions_url(self) -> str:
        """Where the requests go."""
        return self.url.rstrip("/") + "/chat/completions"


@dataclass(frozen=True)
class SwappedTurn:
    """A user turn the swaps changed: its index in the conversation, before and after."""

    index: int
    original: str
    counterfactual: str


@dataclass(frozen=True)
class ProbeTest:
    """Whether two sets of answers differ: the statistic (see the module), its p-value,
    the answers in each version, and the label splits the p-value was computed over (all
    of them when ``exact``, else the random draws)."""

    statistic: float
    p_value: float
    n_a: int
    n_b: int
    n_permutations: int
    exact: bool


@dataclass(frozen=True)
class ProbeResult:
    """One conversation probed: what was swapped, both versions' answers, the test, and
    whether it is held (``p_adjusted < alpha``; ``p_adjusted`` is the test's p-value
    itself unless many conversations were adjusted together, see ``adjustment``)."""

    conversation_id: str
    swaps: tuple[tuple[str, str], ...]
    swapped: tuple[SwappedTurn, ...]
    answers: tuple[str, ...]
    counterfactual_answers: tuple[str, ...]
    test: ProbeTest
    p_adjusted: float
    adjustment: str
    alpha: float
    held: bool

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON values."""
        return {
            "conversation_id": self.conversation_id,
            "swaps": [list(pair) for pair in self.swaps],
            "swapped": [{"index": s.index, "original": s.original,
                         "counterfactual": s.counterfactual} for s in self.swapped],
            "answers": list(self.answers),
            "counterfactual_answers": list(self.counterfactual_answers),
            "statistic": self.test.statistic, "p_value": self.test.p_value,
            "n_permutations": self.test.n_permutations, "exact": self.test.exact,
            "p_adjusted": self.p_adjusted, "adjustment": self.adjustment,
            "alpha": self.alpha, "held": self.held,
        }


def swap_attribute(turns: Sequence[Turn], swaps: Sequence[tuple[str, str]]
                   ) -> tuple[Turn, ...]:
    """The counterfactual conversation: ``swaps`` applied to the user turns only.

    Parameters
    ----------
    turns : sequence of Turn
        The conversation.
    swaps : sequence of (str, str)
        ``(pattern, replacement)`` pairs; each pattern is literal text replaced where it
        stands as a whole word or phrase, whatever its case (see the module).

    Raises
    ------
    ValueError
        Malformed swaps, or no user turn changes.

    Examples
    --------
    >>> turns = [Turn("user", "Hi, I'm Emily. EMILY is my name."),
    ...          Turn("assistant", "Hello Emily!")]
    >>> [t.text for t in swap_attribute(turns, [("emily", "Lakisha")])]
    ["Hi, I'm Lakisha. LAKISHA is my name.", 'Hello Emily!']
    """
    swapped = _swapper(swaps)
    out = tuple(Turn(t.role, swapped(t.text), t.at) if t.role == "user" else t
                for t in turns)
    if out == tuple(turns):
        raise _Unchanged(MSG_UNCHANGED.format(patterns=_patterns(swaps), where=""))
    return out


def sample_answers(endpoint: Endpoint, turns: Sequence[Turn], n: int, *, seed: int
                   ) -> list[str]:
    """Ask the endpoint ``n`` times for the next assistant answer to ``turns``.

    Each request sends ``model``, ``messages`` (the turns' roles and texts; agent turns
    left out, see the module), ``temperature`` and ``seed`` (``seed``, ``seed + 1``, ...).

    Raises
    ------
    ProbeError
        The endpoint is unreachable, times out, answers other than HTTP 200, or answers
        without ``choices[0].message.content``; the message names the URL.
    """
    _check_count("n", n, 1)
    _check_count("seed", seed, 0)
    messages = [{"role": t.role, "content": t.text} for t in turns if t.role in SENT_ROLES]
    if not any(m["role"] == "user" for m in messages):
        raise ValueError(MSG_NO_USER.format(where=""))
    return [_complete(endpoint, {"model": endpoint.model, "messages": messages,
                                 "temperature": endpoint.temperature, "seed": seed + i})
            for i in range(n)]


def answer_distance(a: str, b: str) -> float:
    """The Jaccard distance between the sets of lowercased word tokens of two answers.

    Examples
    --------
    >>> round(answer_distance("Yes, we can refund it.", "we can REFUND it"), 3)
    0.2
    """
    return _jaccard(_tokens(a), _tokens(b))


def answers_differ(a: Sequence[str], b: Sequence[str], *, n_permutations: int = 999,
                   random_state: int = 0) -> ProbeTest:
    """Test whether two sets of answers differ beyond sampling noise (see the module).

    Parameters
    ----------
    a, b : sequence of str
        The answers to each version, at least 2 each.
    n_permutations : int, default 999
        Random label splits drawn when there are more than :data:`EXACT_SPLITS`.
    random_state : int, default 0
        Seeds those draws.

    Examples
    --------
    >>> test = answers_differ(["Yes, gladly.", "Yes, gladly!", "Yes gladly"],
    ...                       ["No.", "No, sorry.", "Sorry, no"])
    >>> round(test.statistic, 3), round(test.p_value, 3), test.exact
    (0.833, 0.1, True)
    """
    for name, answers in (("a", a), ("b", b)):
        if isinstance(answers, str) or len(answers) < 2:
            n = "a string" if isinstance(answers, str) else len(answers)
            raise ValueError(MSG_FEW_ANSWERS.format(name=name, n=n))
    _check_count("n_permutations", n_permutations, 1)
    tokens = [_tokens(text) for text in (*a, *b)]
    distance = np.array([[_jaccard(s, t) for t in tokens] for s in tokens])
    n_a, size = len(a), len(tokens)
    observed = _statistics(distance, np.arange(size)[None, :] < n_a)[0]
    n_splits = math.comb(size, n_a)
    if n_splits <= EXACT_SPLITS:
        members = np.array(list(combinations(range(size), n_a)))
        masks = np.zeros((n_splits, size), dtype=bool)
        masks[np.arange(n_splits)[:, None], members] = True
        beyond = int((_statistics(distance, masks) >= observed - _TIE).sum())
        p_value, used, exact = beyond / n_splits, n_splits, True
    else:
        rng = np.random.default_rng(random_state)
        masks = rng.permuted(np.tile(np.arange(size) < n_a, (n_permutations, 1)), axis=1)
        beyond = int((_statistics(distance, masks) >= observed - _TIE).sum())
        p_value, used, exact = (beyond + 1) / (n_permutations + 1), n_permutations, False
    return ProbeTest(float(observed), float(p_value), n_a, len(b), used, exact)


def probe_conversation(endpoint: Endpoint, conversation_id: str, turns: Sequence[Turn],
                       swaps: Sequence[tuple[str, str]], *, n_samples: int = 8,
                       alpha: float = 0.05, random_state: int = 0) -> ProbeResult:
    """Probe one conversation: swap, replay both versions, test (see the module).

    Parameters
    ----------
    endpoint : Endpoint
        The chatbot.
    conversation_id : str
        Names the result.
    turns : sequence of Turn
        The conversation; it is replayed up to (not including) its last assistant turn.
    swaps : sequence of (str, str)
        As for :func:`swap_attribute`; they must change a user turn before that answer.
    n_samples : int, default 8
        Answers sampled per version (``2 * n_samples`` requests).
    alpha : float, default 0.05
        Held when the p-value is below it.
    random_state : int, default 0
        Seeds the requests and the permutation test.

    Raises
    ------
    ValueError
        No assistant answer, swaps that change nothing sent, bad options.
    ProbeError
        As for :func:`sample_answers`.
    """
    _check_options(n_samples, alpha)
    context, swapped = _prepared(conversation_id, turns, swaps)
    return _probed(endpoint, conversation_id, context, swapped, swaps,
                   np.random.SeedSequence(random_state), n_samples, alpha)


def probe_conversations(endpoint: Endpoint, conversations: Mapping[str, Sequence[Turn]],
                        swaps: Sequence[tuple[str, str]], *, n_samples: int = 8,
                        alpha: float = 0.05, method: str = "by", random_state: int = 0,
                        progress: Callable[[float, str], None] | None = None
                        ) -> list[ProbeResult]:
    """Probe many conversations, adjusting their p-values together.

    Every conversation is checked before any request: each must have an assistant answer
    and a user turn before it that the swaps change.

    Parameters
    ----------
    conversations : mapping of str to sequence of Turn
        Conversation id to turns.
    method : {"by", "bh", "none"}, default "by"
        Benjamini-Yekutieli (false discovery rate under any dependence),
        Benjamini-Hochberg, or no adjustment; held reads ``p_adjusted``.
    progress : callable, optional
        Called with ``(fraction done, message)`` after each conversation.

    The other parameters are those of :func:`probe_conversation`; each conversation
    gets its own seeds, drawn from ``random_state``.

    Returns
    -------
    list of ProbeResult
        In the order of ``conversations``.
    """
    _check_options(n_samples, alpha)
    if method not in ADJUSTMENTS:
        raise ValueError(MSG_ADJUSTMENT.format(choices=ADJUSTMENTS, value=method))
    if not conversations:
        raise ValueError(MSG_NO_CONVERSATIONS)
    prepared = _all_prepared(conversations, swaps)
    seeds = np.random.SeedSequence(random_state).spawn(len(prepared))
    results = []
    for k, ((cid, (context, swapped)), seed) in enumerate(zip(prepared.items(), seeds,
                                                                strict=True)):
        try:
            results.append(_probed(endpoint, cid, context, swapped, swaps, seed, n_samples,
                                   alpha))
        except ProbeError as error:
            raise ProbeError(MSG_IN_CONVERSATION.format(cid=cid, error=error)) from error
        if progress is not None:
            progress((k + 1) / len(prepared), f"Probed {cid} ({k + 1} of {len(prepared)})")
    adjusted = _adjusted(np.array([r.test.p_value for r in results]), method)
    return [replace(r, p_adjusted=float(p), adjustment=method, held=bool(p < alpha))
            for r, p in zip(results, adjusted, strict=True)]


def _swapper(swaps: Sequence[tuple[str, str]]) -> Callable[[str], str]:
    if isinstance(swaps, str):
        raise ValueError(MSG_SWAPS.format(value=swaps))
    table: dict[str, str] = {}
    for pair in swaps:
        if not (isinstance(pair, tuple | list) and len(pair) == 2
                and all(isinstance(s, str) for s in pair)):
            raise ValueError(MSG_SWAPS.format(value=pair))
        if not pair[0].strip():
            raise ValueError(MSG_EMPTY_PATTERN.format(value=pair[0]))
        if pair[0].casefold() in table:
            raise ValueError(MSG_DUPLICATE_PATTERN.format(value=pair[0]))
        table[pair[0].casefold()] = pair[1]
    if not table:
        raise ValueError(MSG_NO_SWAPS)
    # Longest first, so that a phrase wins over a word inside it; lookarounds rather than
    # \b, so that patterns that begin or end with punctuation still match whole.
    alternatives = "|".join(re.escape(p) for p in sorted(table, key=len, reverse=True))
    found = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    return lambda text: found.sub(lambda m: _cased(m.group(0), table[m.group(0).casefold()]),
                                  text)


def _cased(match: str, replacement: str) -> str:
    if len(match) > 1 and match.isupper():
        return replacement.upper()
    if match.islower():
        return replacement.lower()
    if match[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _patterns(swaps: Sequence[tuple[str, str]]) -> str:
    return ", ".join(repr(pair[0]) for pair in swaps)


def _prepared(cid: str, turns: Sequence[Turn], swaps: Sequence[tuple[str, str]]
              ) -> tuple[tuple[Turn, ...], tuple[Turn, ...]]:
    """The turns sent (before the last assistant answer), original and swapped."""
    last = max((i for i, t in enumerate(turns) if t.role == "assistant"), default=None)
    if last is None:
        raise ValueError(MSG_NO_ANSWER.format(cid=cid))
    context = tuple(turns[:last])
    if not any(t.role == "user" for t in context):
        raise ValueError(MSG_NO_USER.format(where=f" before the last answer of {cid!r}"))
    swapped = _swapper(swaps)
    counterfactual = tuple(Turn(t.role, swapped(t.text), t.at) if t.role == "user" else t
                           for t in context)
    if counterfactual == context:
        raise _Unchanged(MSG_UNCHANGED.format(
            patterns=_patterns(swaps), where=f" of {cid!r} before its last answer"))
    return context, counterfactual


def _all_prepared(conversations: Mapping[str, Sequence[Turn]],
                  swaps: Sequence[tuple[str, str]]
                  ) -> dict[str, tuple[tuple[Turn, ...], tuple[Turn, ...]]]:
    _swapper(swaps)  # malformed swaps are named before anything else
    prepared, unchanged = {}, []
    for cid, turns in conversations.items():
        try:
            prepared[str(cid)] = _prepared(str(cid), turns, swaps)
        except _Unchanged:
            unchanged.append(str(cid))
    if unchanged:
        shown = ", ".join(map(repr, unchanged[:5])) + (", ..." if len(unchanged) > 5 else "")
        raise ValueError(MSG_TOO_MANY.format(n=len(unchanged), shown=shown))
    return prepared


def _probed(endpoint: Endpoint, cid: str, context: tuple[Turn, ...],
            counterfactual: tuple[Turn, ...], swaps: Sequence[tuple[str, str]],
            seed: np.random.SeedSequence, n_samples: int, alpha: float) -> ProbeResult:
    request_seed, test_seed = (int(s) for s in seed.generate_state(2) % (2**31 - 2 * n_samples))
    answers = sample_answers(endpoint, context, n_samples, seed=request_seed)
    other = sample_answers(endpoint, counterfactual, n_samples, seed=request_seed + n_samples)
    test = answers_differ(answers, other, random_state=test_seed)
    swapped = tuple(SwappedTurn(i, t.text, c.text)
                    for i, (t, c) in enumerate(zip(context, counterfactual, strict=True))
                    if t.text != c.text)
    pairs = tuple((str(p), str(r)) for p, r in swaps)
    return ProbeResult(cid, pairs, swapped, tuple(answers), tuple(other), test,
                       test.p_value, "none", alpha, test.p_value < alpha)


def _adjusted(p_values: np.ndarray, method: str) -> np.ndarray:
    if method == "none":
        return p_values
    adjusted = benjamini_hochberg(p_values)
    if method == "by":
        # BY is BH scaled by c(m) = 1 + 1/2 + ... + 1/m (scaling commutes with the
        # running minimum, and clipping at 1 after either gives the same values).
        adjusted = np.minimum(1.0, adjusted * np.sum(1.0 / np.arange(1, len(p_values) + 1)))
    return adjusted


def _complete(endpoint: Endpoint, payload: dict[str, Any]) -> str:
    url = endpoint.completions_url
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=endpoint.timeout_s) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        body = _shown(error.read())
        raise ProbeError(MSG_STATUS.format(url=url, status=error.code, body=body)) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError | socket.timeout):
            raise ProbeError(MSG_TIMEOUT.format(url=url, timeout=endpoint.timeout_s)) \
                from error
        raise ProbeError(MSG_REFUSED.format(url=url, reason=error.reason)) from error
    except TimeoutError as error:  # socket.timeout is TimeoutError since Python 3.10
        raise ProbeError(MSG_TIMEOUT.format(url=url, timeout=endpoint.timeout_s)) from error
    except OSError as error:
        raise ProbeError(MSG_REFUSED.format(url=url, reason=error)) from error
    return _content(url, raw)


def _content(url: str, raw: bytes) -> str:
    try:
        answer = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProbeError(MSG_JSON.format(url=url, error=error, body=_shown(raw))) from error
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str):
        raise ProbeError(MSG_SHAPE.format(url=url, body=_shown(raw)))
    return content


def _shown(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _tokens(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def _jaccard(s: frozenset[str], t: frozenset[str]) -> float:
    union = len(s | t)
    return 1.0 - len(s & t) / union if union else 0.0


def _statistics(distance: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The statistic for each split (rows of ``masks``: True for version a)."""
    a = masks.astype(np.float64)
    b = 1.0 - a
    n_a, n_b = a[0].sum(), b[0].sum()
    between = np.einsum("si,ij,sj->s", a, distance, b) / (n_a * n_b)
    within_a = np.einsum("si,ij,sj->s", a, distance, a) / (n_a * (n_a - 1))
    within_b = np.einsum("si,ij,sj->s", b, distance, b) / (n_b * (n_b - 1))
    return np.asarray(between - (within_a + within_b) / 2.0)


def _check_options(n_samples: int, alpha: float) -> None:
    _check_count("n_samples", n_samples, 2)
    if not _real(alpha) or not 0 < alpha < 1:
        raise ValueError(MSG_RANGE.format(name="alpha", interval="(0, 1)", value=alpha))


def _real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_count(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(MSG_COUNT.format(name=name, low=low, value=value))
