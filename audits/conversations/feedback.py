"""From the panel's reviews of a chatbot's conversations: a fine-tuning set, an evaluation
set and the bot's knowledge gaps.

The reviews are one row per conversation and reviewer (:data:`REVIEW_COLUMNS`):
``acceptable`` (the bot's answer is fine as it stands), an optional ``corrected_answer``
(the answer the bot should have given), the ``rubric`` scores, and the lineage of the
rating (``case_id``, ``snapshot_sha256`` of the case the reviewer saw, ``rated_at``,
``judge_shown``). Every public function checks them first.

The panel's **verdict** on a conversation is the adjudicated ``final`` one where given,
else the majority of the reviewers; a tie counts as not acceptable (the panel did not
agree the answer is fine). The **correction** used is, among the reviewers who wrote
one, that of a reviewer whose vote agrees with the verdict, then the earliest
``rated_at``, then the smallest reviewer id; an answer the panel accepted is replaced only
by a correction from a reviewer who also accepted it (an improvement), never by a
dissenter's. Every correction is kept in the metadata.
A conversation **needs correction** when its verdict is not acceptable or its answer was
corrected.

The **bot's answer** is its last message before a hand-over: the conversation is cut at
the first ``agent`` turn (a person's words are never attributed to the bot), the log's
own ``system`` turns and any bot greeting before the first user turn are left out,
consecutive turns of one speaker are joined by a blank line (so user and assistant
alternate), and the last assistant message is the answer; the messages before it are its
context. Earlier assistant messages carry ``"weight": 0`` (the bot's own words, not
reviewed as the answer) and the answer ``"weight": 1``, as OpenAI's chat fine-tuning
format reads them.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audits.conversations.records import JUDGE_PREFIX, Conversations, Turn
from audits.conversations.rubric import DEFAULT_RUBRIC, Rubric
from audits.fairness.intervals import wilson_interval

__all__ = ["GAP_COLUMNS", "NO_INTENT", "REVIEW_COLUMNS", "evaluation_records",
           "knowledge_gaps", "training_records", "write_jsonl"]

#: The columns of a reviews table (one row per conversation and reviewer).
REVIEW_COLUMNS = ("conversation_id", "reviewer_id", "acceptable", "corrected_answer",
                  "rubric", "rationale", "rated_at", "case_id", "snapshot_sha256",
                  "judge_shown")
#: The columns of :func:`knowledge_gaps`.
GAP_COLUMNS = ("intent", "reviewed", "needs_correction", "unacceptable", "corrected",
               "share", "ci_low", "ci_high", "weakest_criterion", "weakest_n", "examples")
#: The intent of conversations the bot gave none.
NO_INTENT = "<no intent>"
SHOWN = 3

MSG_CONVERSATIONS = "conversations must be a Conversations (read_conversations); got {kind}"
MSG_REVIEWS = "reviews must be a pandas DataFrame; got {kind}"
MSG_COLUMNS = "reviews lack the column(s) {missing}; a reviews table has {expected}"
MSG_TYPE = ("reviews column {column!r} must hold {expected}; {n} row(s) do not, the first "
            "(row {row}): {value!r}")
MSG_UNKNOWN = "reviews name {n} conversation id(s) not in the conversations; the first: {ids}"
MSG_DUPLICATE = ("reviews rate a conversation more than once by one reviewer ({n} pair(s)); "
                 "the first: {pairs}")
MSG_FINAL_UNKNOWN = "final names {n} conversation id(s) not in the conversations; the first: {ids}"
MSG_FINAL_TYPE = "final[{cid!r}] must be true, false or missing; got {value!r}"
MSG_OPTION = "{name} must be {expected}; got {value!r}"
MSG_NOT_JSON = "record {index} cannot be written as JSON ({error}); nothing was written"

_EXPECTED = {
    "conversation_id": "non-empty strings", "reviewer_id": "non-empty strings",
    "acceptable": "true or false", "corrected_answer": "strings or missing",
    "rubric": "objects of criterion: finite number (yes/no as 0/1), or missing",
    "rationale": "strings or missing", "rated_at": "ISO 8601 times",
    "case_id": "integers", "snapshot_sha256": "non-empty strings",
    "judge_shown": "true or false",
}


@dataclass(frozen=True)
class _Review:
    conversation_id: str
    reviewer_id: str
    acceptable: bool
    correction: str | None
    rubric: Mapping[str, float]
    rationale: str | None
    rated_at: str
    at: datetime
    case_id: int
    snapshot_sha256: str
    judge_shown: bool


@dataclass(frozen=True)
class _Panel:
    """One reviewed conversation: its reviews (by time, then reviewer) and verdict."""

    conversation_id: str
    reviews: tuple[_Review, ...]
    acceptable: bool
    verdict_from: str
    chosen: _Review | None

    @property
    def needs_correction(self) -> bool:
        return not self.acceptable or self.chosen is not None


@dataclass(frozen=True)
class _Dialogue:
    context: tuple[tuple[str, str], ...]
    answer: str | None
    handed_over: bool
    left_out: int


def training_records(conversations: Conversations, reviews: pd.DataFrame, *, system: str,
                     final: Mapping[str, Any] | pd.Series | None = None,
                     include_accepted: bool = True) -> list[dict[str, Any]]:
    """One chat fine-tuning record per reviewed conversation with an answer to learn.

    Parameters
    ----------
    conversations : Conversations
    reviews : pandas.DataFrame
        One row per (conversation, reviewer), the columns :data:`REVIEW_COLUMNS`.
    system : str
        The system message of every record (empty: none).
    final : mapping or pandas.Series, optional
        Conversation id -> the adjudicated verdict (acceptable, bool); conversations it
        leaves out or gives a missing value take the panel's majority.
    include_accepted : bool, default True
        Also the conversations whose answer the panel accepted as it stands (False: only
        the corrected ones).

    Returns
    -------
    list of dict
        ``{"messages": [...], "metadata": {...}}`` (JSON-safe), in the log's order: the
        context and the answer, the corrected one where the panel wrote one. Left out: a
        verdict of not acceptable with no correction, and a conversation with no user
        turn or no answer to keep (:func:`evaluation_records` has them all).

    Examples
    --------
    >>> import pandas as pd
    >>> from audits.conversations.records import conversations_from_records
    >>> c = conversations_from_records([{
    ...     "conversation_id": "a", "bot": {"intent": "refund"},
    ...     "turns": [{"role": "user", "text": "Can I return it?"},
    ...               {"role": "assistant", "text": "No."}]}])
    >>> base = {"conversation_id": "a", "acceptable": False, "rationale": "wrong",
    ...         "case_id": 7, "snapshot_sha256": "ab12", "judge_shown": False}
    >>> reviews = pd.DataFrame([
    ...     {**base, "reviewer_id": "r1", "rubric": {"correct": 2},
    ...      "corrected_answer": "Yes, within 30 days.", "rated_at": "2026-10-02T09:00:00Z"},
    ...     {**base, "reviewer_id": "r2", "rubric": {"correct": 1},
    ...      "corrected_answer": None, "rated_at": "2026-10-02T10:00:00Z"}])
    >>> [record] = training_records(c, reviews, system="Be brief.")
    >>> record["messages"]  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'system', 'content': 'Be brief.'},
     {'role': 'user', 'content': 'Can I return it?'},
     {'role': 'assistant', 'content': 'Yes, within 30 days.', 'weight': 1}]
    >>> record["metadata"]["panel"]["rubric"], record["metadata"]["correction_by"]
    ({'correct': {'median': 1.5, 'n': 2}}, 'r1')
    """
    panels, dialogues = _prepared(conversations, reviews, final, system)
    records = []
    for panel in panels:
        dialogue = dialogues[panel.conversation_id]
        answer = panel.chosen.correction if panel.chosen is not None else (
            dialogue.answer if panel.acceptable and include_accepted else None)
        if answer is None or not any(role == "user" for role, _ in dialogue.context):
            continue
        messages = _system(system) + [
            {"role": role, "content": text, **({"weight": 0} if role == "assistant" else {})}
            for role, text in dialogue.context]
        messages.append({"role": "assistant", "content": answer, "weight": 1})
        records.append({"messages": messages,
                        "metadata": _metadata(conversations, panel, dialogue, system)})
    return records


def evaluation_records(conversations: Conversations, reviews: pd.DataFrame, *, system: str,
                       final: Mapping[str, Any] | pd.Series | None = None
                       ) -> list[dict[str, Any]]:
    """One evaluation record per reviewed conversation, whatever the verdict.

    Parameters are those of :func:`training_records`.

    Returns
    -------
    list of dict
        ``{"messages", "bot_answer", "reference", "acceptable", "metadata"}`` in the log's
        order: the context the bot answered (system message first), the bot's answer,
        the reference answer (the correction, else the bot's answer where the panel
        accepted it, else None: a known bad answer with no better one yet) and the
        panel's verdict on the bot's answer.

    Examples
    --------
    >>> c, reviews = _example()  # the conversation and reviews of training_records' example
    >>> [(r["bot_answer"], r["reference"]) for r in evaluation_records(c, reviews, system="")]
    [('No.', 'Yes, within 30 days.')]
    """
    panels, dialogues = _prepared(conversations, reviews, final, system)
    records = []
    for panel in panels:
        dialogue = dialogues[panel.conversation_id]
        reference = panel.chosen.correction if panel.chosen is not None else (
            dialogue.answer if panel.acceptable else None)
        messages = _system(system) + [{"role": role, "content": text}
                                      for role, text in dialogue.context]
        records.append({"messages": messages, "bot_answer": dialogue.answer,
                        "reference": reference, "acceptable": panel.acceptable,
                        "metadata": _metadata(conversations, panel, dialogue, system)})
    return records


def write_jsonl(records: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write records as UTF-8 JSON Lines, all or nothing; return how many.

    The lines go to a temporary file in the target's folder, which then replaces the
    target (``os.replace``, atomic): on any error the target is untouched and the
    temporary file removed. The file is readable by its owner only (it holds users'
    conversations). NaN and infinities are refused (they are not JSON).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "set.jsonl"
    >>> write_jsonl([{"messages": []}, {"messages": []}], path)
    2
    """
    target = Path(path)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=".tmp")
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            for count, record in enumerate(records, start=1):
                try:
                    line = json.dumps(record, ensure_ascii=False, allow_nan=False)
                except (TypeError, ValueError) as error:
                    raise ValueError(MSG_NOT_JSON.format(index=count - 1, error=error)
                                     ) from error
                out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count


def knowledge_gaps(conversations: Conversations, reviews: pd.DataFrame, *,
                   final: Mapping[str, Any] | pd.Series | None = None, min_reviewed: int = 1,
                   confidence: float = 0.95, rubric: Rubric = DEFAULT_RUBRIC) -> pd.DataFrame:
    """Where the bot's answers need correcting: per intent, with Wilson intervals.

    Parameters
    ----------
    conversations, reviews, final
        As for :func:`training_records`.
    min_reviewed : int, default 1
        Leave out intents with fewer reviewed conversations.
    confidence : float, default 0.95
        The level of the Wilson score interval of each share.
    rubric : Rubric, default DEFAULT_RUBRIC
        The rubric the reviews scored: each scale's ends, and which answer of a yes/no
        question is the failure (1 for ``harmful``). A criterion not in it is placed by
        the range of its scores in the reviews, higher better.

    Returns
    -------
    pandas.DataFrame
        One row per intent (:data:`NO_INTENT` where the bot gave none), the columns
        :data:`GAP_COLUMNS`: ``reviewed`` conversations; ``needs_correction`` (the verdict
        is not acceptable or the answer was corrected; ``unacceptable`` and ``corrected``
        count each); its ``share`` of ``reviewed`` with ``ci_low, ci_high``;
        ``weakest_criterion``, the criterion most often lowest among the conversations
        needing correction (each criterion's panel median placed on [0, 1], 0 the worst,
        by ``rubric``; ties all count, a criterion at its best never does; missing where
        none is below), and
        in how many (``weakest_n``); ``examples``, up to three conversation ids needing
        correction, those with the smallest share of acceptable votes first. Sorted by
        ``needs_correction`` (descending), ``share`` (descending), then intent.

    Examples
    --------
    >>> c, reviews = _example()  # the conversation and reviews of training_records' example
    >>> knowledge_gaps(c, reviews)[["intent", "reviewed", "needs_correction",
    ...                             "weakest_criterion"]]
       intent  reviewed  needs_correction weakest_criterion
    0  refund         1                 1           correct
    """
    if isinstance(min_reviewed, bool) or not isinstance(min_reviewed, int) or min_reviewed < 1:
        raise ValueError(MSG_OPTION.format(name="min_reviewed", expected="an integer >= 1",
                                           value=min_reviewed))
    if not isinstance(confidence, Real) or not 0 < float(confidence) < 1:
        raise ValueError(MSG_OPTION.format(name="confidence", expected="a number in (0, 1)",
                                           value=confidence))
    if not isinstance(rubric, Rubric):
        raise TypeError(MSG_OPTION.format(name="rubric", expected="a Rubric", value=rubric))
    panels = _panels(conversations, reviews, final)
    scales = _scales(panels, rubric)
    intents = conversations.frame["intent"]
    by_intent: dict[str, list[_Panel]] = {}
    for panel in panels:
        intent = intents.loc[panel.conversation_id]
        by_intent.setdefault(NO_INTENT if pd.isna(intent) else str(intent), []).append(panel)
    rows = [_gap(intent, its, scales)
            for intent, its in by_intent.items() if len(its) >= min_reviewed]
    table = pd.DataFrame(rows, columns=list(GAP_COLUMNS))
    low, high = wilson_interval(table["needs_correction"].to_numpy(),
                                table["reviewed"].to_numpy(), level=float(confidence))
    table["share"] = (table["needs_correction"] / table["reviewed"]).astype(float)
    table["ci_low"], table["ci_high"] = low, high
    return table.sort_values(["needs_correction", "share", "intent"],
                             ascending=[False, False, True], ignore_index=True)


def _gap(intent: str, panels: list[_Panel],
         scales: Mapping[str, tuple[float, float, bool]]) -> dict[str, Any]:
    needing = [p for p in panels if p.needs_correction]
    lowest: Counter[str] = Counter()
    for panel in needing:
        placed = {}
        for criterion, (median, _) in _rubric(panel).items():
            low, high, reverse = scales[criterion]
            if high > low:
                value = (median - low) / (high - low)
                placed[criterion] = 1 - value if reverse else value
        floor = min(placed.values(), default=1.0)
        lowest.update(c for c, v in placed.items() if v == floor and v < 1)
    weakest = min(lowest.items(), key=lambda kv: (-kv[1], kv[0]), default=(None, 0))
    examples = sorted(needing, key=lambda p: (
        sum(r.acceptable for r in p.reviews) / len(p.reviews), p.conversation_id))
    return {"intent": intent, "reviewed": len(panels), "needs_correction": len(needing),
            "unacceptable": sum(not p.acceptable for p in panels),
            "corrected": sum(p.chosen is not None for p in panels),
            "weakest_criterion": weakest[0], "weakest_n": weakest[1],
            "examples": tuple(p.conversation_id for p in examples[:SHOWN])}


def _scales(panels: Sequence[_Panel], rubric: Rubric) -> dict[str, tuple[float, float, bool]]:
    """Each scored criterion's worst and best ends, and whether the worst is the high one."""
    scores: dict[str, list[float]] = {}
    for panel in panels:
        for review in panel.reviews:
            for criterion, score in review.rubric.items():
                scores.setdefault(criterion, []).append(score)
    scales = {}
    for name, its in scores.items():
        if name not in rubric.names:
            scales[name] = (min(its), max(its), False)
            continue
        known = rubric.criterion(name)
        scales[name] = (float(known.low), float(known.high),
                        known.kind == "yes_no" and known.bad_answer == 1)
    return scales


def _prepared(conversations: Conversations, reviews: pd.DataFrame,
              final: Mapping[str, Any] | pd.Series | None, system: str
              ) -> tuple[list[_Panel], dict[str, _Dialogue]]:
    if not isinstance(system, str):
        raise TypeError(MSG_OPTION.format(name="system", expected="a string (empty: none)",
                                          value=system))
    panels = _panels(conversations, reviews, final)
    return panels, {p.conversation_id: _dialogue(conversations.turns[p.conversation_id])
                    for p in panels}


def _system(system: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}] if system else []


def _dialogue(turns: Sequence[Turn]) -> _Dialogue:
    """The bot's part of a conversation: its context and its last answer."""
    cut = next((i for i, t in enumerate(turns) if t.role == "agent"), len(turns))
    kept = [t for t in turns[:cut] if t.role != "system"]
    first_user = next((i for i, t in enumerate(kept) if t.role == "user"), len(kept))
    merged: list[tuple[str, str, int]] = []  # role, text, turns joined
    for turn in kept[first_user:]:
        if merged and merged[-1][0] == turn.role:
            role, text, n = merged[-1]
            merged[-1] = (role, text + "\n\n" + turn.text, n + 1)
        else:
            merged.append((turn.role, turn.text, 1))
    last = max((i for i, m in enumerate(merged) if m[0] == "assistant"), default=None)
    if last is None:  # no answer: the context is all there is
        context, answer, used = merged, None, merged
    else:
        context, answer, used = merged[:last], merged[last][1], merged[:last + 1]
    return _Dialogue(context=tuple((role, text) for role, text, _ in context), answer=answer,
                     handed_over=cut < len(turns),
                     left_out=len(turns) - sum(n for _, _, n in used))


def _metadata(conversations: Conversations, panel: _Panel, dialogue: _Dialogue,
              system: str) -> dict[str, Any]:
    row = conversations.frame.loc[panel.conversation_id]
    reviews = panel.reviews
    judge = None
    if not pd.isna(row["judge_name"]):
        scores = {c: float(row[JUDGE_PREFIX + c]) for c in conversations.judge_criteria
                  if not pd.isna(row[JUDGE_PREFIX + c])}
        judge = {"name": str(row["judge_name"]), "scores": scores}
    votes = sum(r.acceptable for r in reviews)
    first, last = min(reviews, key=lambda r: r.at), max(reviews, key=lambda r: r.at)
    return {
        "system": system, "conversation_id": panel.conversation_id,
        "intent": None if pd.isna(row["intent"]) else str(row["intent"]),
        "panel": {"reviewers": len(reviews), "acceptable_votes": votes,
                  "unacceptable_votes": len(reviews) - votes, "acceptable": panel.acceptable,
                  "verdict_from": panel.verdict_from,
                  "rubric": {c: {"median": m, "n": n} for c, (m, n) in _rubric(panel).items()}},
        "corrected": panel.chosen is not None, "needs_correction": panel.needs_correction,
        "correction_by": None if panel.chosen is None else panel.chosen.reviewer_id,
        "corrections": [{"reviewer_id": r.reviewer_id, "acceptable": r.acceptable,
                         "rated_at": r.rated_at, "text": r.correction,
                         "rationale": r.rationale} for r in reviews if r.correction],
        "bot_answer": dialogue.answer, "handed_over": dialogue.handed_over,
        "turns_left_out": dialogue.left_out, "judge": judge,
        "lineage": {"case_ids": sorted({r.case_id for r in reviews}),
                    "snapshot_sha256": sorted({r.snapshot_sha256 for r in reviews}),
                    "reviewer_ids": sorted(r.reviewer_id for r in reviews),
                    "rated_at": {"first": first.rated_at, "last": last.rated_at},
                    "judge_shown": sum(r.judge_shown for r in reviews)},
    }


def _rubric(panel: _Panel) -> dict[str, tuple[float, int]]:
    """Each criterion's median over the reviewers who scored it, and how many did."""
    scores: dict[str, list[float]] = {}
    for review in panel.reviews:
        for criterion, score in review.rubric.items():
            scores.setdefault(criterion, []).append(score)
    return {c: (float(statistics.median(s)), len(s)) for c, s in sorted(scores.items())}


def _panels(conversations: Conversations, reviews: pd.DataFrame,
            final: Mapping[str, Any] | pd.Series | None) -> list[_Panel]:
    """The checked reviews, one panel per reviewed conversation in the log's order."""
    checked = _checked(conversations, reviews)
    verdicts = _final(conversations, final)
    grouped: dict[str, list[_Review]] = {}
    for review in checked:
        grouped.setdefault(review.conversation_id, []).append(review)
    panels = []
    for cid in conversations.frame.index:
        if cid not in grouped:
            continue
        its = tuple(sorted(grouped[cid], key=lambda r: (r.at, r.reviewer_id)))
        votes = sum(r.acceptable for r in its)
        if verdicts.get(cid) is not None:
            acceptable, source = bool(verdicts[cid]), "final"
        else:
            acceptable = 2 * votes > len(its)
            source = "tie" if 2 * votes == len(its) else "majority"
        # An accepted answer is replaced only by a correction from its side of the vote:
        # a dissenter's rewrite must not override the panel's verdict.
        candidates = [r for r in its if r.correction and (r.acceptable or not acceptable)]
        chosen = min(candidates, default=None,
                     key=lambda r: (r.acceptable != acceptable, r.at, r.reviewer_id))
        panels.append(_Panel(cid, its, acceptable, source, chosen))
    return panels


def _checked(conversations: Conversations, reviews: pd.DataFrame) -> list[_Review]:
    if not isinstance(conversations, Conversations):
        raise TypeError(MSG_CONVERSATIONS.format(kind=type(conversations).__name__))
    if not isinstance(reviews, pd.DataFrame):
        raise TypeError(MSG_REVIEWS.format(kind=type(reviews).__name__))
    missing = [c for c in REVIEW_COLUMNS if c not in reviews.columns]
    if missing:
        raise ValueError(MSG_COLUMNS.format(missing=", ".join(missing),
                                            expected=", ".join(REVIEW_COLUMNS)))
    rows = reviews[list(REVIEW_COLUMNS)].to_dict(orient="records")
    for column in ("conversation_id", "reviewer_id"):
        _need(rows, column, lambda v: isinstance(v, str) and v != "")
    known = conversations.frame.index
    unknown = list(dict.fromkeys(r["conversation_id"] for r in rows
                                 if r["conversation_id"] not in known))
    if unknown:
        raise ValueError(MSG_UNKNOWN.format(n=len(unknown), ids=", ".join(unknown[:SHOWN])))
    pairs = Counter((r["conversation_id"], r["reviewer_id"]) for r in rows)
    twice = [f"{cid}/{rid}" for (cid, rid), n in pairs.items() if n > 1]
    if twice:
        raise ValueError(MSG_DUPLICATE.format(n=len(twice), pairs=", ".join(twice[:SHOWN])))
    for column, ok in (("acceptable", _is_bool), ("judge_shown", _is_bool),
                       ("corrected_answer", _text_or_missing), ("rationale", _text_or_missing),
                       ("rubric", _is_rubric), ("rated_at", _is_time),
                       ("case_id", lambda v: isinstance(v, Integral) and not _is_bool(v)),
                       ("snapshot_sha256", lambda v: isinstance(v, str) and v != "")):
        _need(rows, column, ok)
    return [_review(r) for r in rows]


def _need(rows: list[dict[str, Any]], column: str, ok: Callable[[Any], bool]) -> None:
    bad = [i for i, r in enumerate(rows) if not ok(r[column])]
    if bad:
        raise ValueError(MSG_TYPE.format(column=column, expected=_EXPECTED[column], n=len(bad),
                                         row=bad[0], value=rows[bad[0]][column]))


def _review(row: Mapping[str, Any]) -> _Review:
    correction = None if _missing(row["corrected_answer"]) else row["corrected_answer"]
    return _Review(
        conversation_id=row["conversation_id"], reviewer_id=row["reviewer_id"],
        acceptable=bool(row["acceptable"]),
        correction=correction if correction and correction.strip() else None,
        rubric={} if _missing(row["rubric"]) else {
            str(c): float(s) for c, s in row["rubric"].items()},
        rationale=None if _missing(row["rationale"]) else row["rationale"],
        rated_at=row["rated_at"], at=_parse_time(row["rated_at"]),
        case_id=int(row["case_id"]), snapshot_sha256=row["snapshot_sha256"],
        judge_shown=bool(row["judge_shown"]))


def _final(conversations: Conversations, final: Mapping[str, Any] | pd.Series | None
           ) -> dict[str, bool | None]:
    if final is None:
        return {}
    items = final.items()
    out: dict[str, bool | None] = {}
    for cid, value in items:
        if not (_missing(value) or _is_bool(value)):
            raise ValueError(MSG_FINAL_TYPE.format(cid=cid, value=value))
        out[cid] = None if _missing(value) else bool(value)
    unknown = [str(c) for c in out if c not in conversations.frame.index]
    if unknown:
        raise ValueError(MSG_FINAL_UNKNOWN.format(n=len(unknown),
                                                  ids=", ".join(unknown[:SHOWN])))
    return out


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _text_or_missing(value: Any) -> bool:
    return _missing(value) or isinstance(value, str)


def _is_rubric(value: Any) -> bool:
    if _missing(value):
        return True
    return isinstance(value, Mapping) and all(
        isinstance(c, str) and isinstance(s, Real) and not _is_bool(s)
        and math.isfinite(float(s)) for c, s in value.items())


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        _parse_time(value)
    except ValueError:
        return False
    return True


def _parse_time(value: str) -> datetime:
    """An ISO 8601 time, as UTC (a time without an offset is read as UTC)."""
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _example() -> tuple[Conversations, pd.DataFrame]:
    """A conversation and two reviews (the docstrings' example)."""
    from audits.conversations.records import conversations_from_records

    c = conversations_from_records([{
        "conversation_id": "a", "bot": {"intent": "refund"},
        "turns": [{"role": "user", "text": "Can I return it?"},
                  {"role": "assistant", "text": "No."}]}])
    base = {"conversation_id": "a", "acceptable": False, "rationale": "wrong",
            "case_id": 7, "snapshot_sha256": "ab12", "judge_shown": False}
    reviews = pd.DataFrame([
        {**base, "reviewer_id": "r1", "rubric": {"correct": 2},
         "corrected_answer": "Yes, within 30 days.", "rated_at": "2026-10-02T09:00:00Z"},
        {**base, "reviewer_id": "r2", "rubric": {"correct": 1},
         "corrected_answer": None, "rated_at": "2026-10-02T10:00:00Z"}])
    return c, reviews
