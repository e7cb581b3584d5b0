"""A chatbot's conversations as decisions: read, check and flatten a conversation log.

One record per conversation (a JSON Lines file, one object per line, or a Parquet file
with the same nested columns)::

    {"conversation_id": "c00001",
     "turns": [{"role": "user", "text": "...", "at": "2026-10-01T09:00:00Z"},
               {"role": "assistant", "text": "...", "at": "2026-10-01T09:00:04Z"}],
     "bot": {"confidence": 0.82, "intent": "refund", "escalated": false,
             "handed_over": false},
     "outcome": {"resolved": true, "user_rating": 4},
     "user": {"language": "en", "region": "north", "channel": "web",
              "demographics": {"consented": true, "age_band": "35-44"}},
     "judge": {"name": "judge-a", "scores": {"correct": 4, "tone": 5, "harmful": 0}}}

Only ``conversation_id`` and ``turns`` are required. ``user`` holds the attributes the
bot's fairness is examined across (language, region, channel, ...); self-reported
demographics are read only from ``user.demographics`` with ``"consented": true`` (a
record carrying demographics without that consent is refused, so they are never kept).
``judge`` holds an LLM judge's scores per rubric criterion, and the judge's name.

:func:`read_conversations` checks every record and names the line and field of the first
problems it finds; nothing is returned half-read. :class:`Conversations` keeps the turns
and a flat table, one row per conversation, with the columns the rest of fairpanel reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["JUDGE_PREFIX", "ROLES", "SIGNALS", "Conversations", "Turn",
           "conversations_from_records", "read_conversations", "records_of"]

#: Who may speak in a turn: the user, the bot, a human agent after a hand-over, the system.
ROLES = ("user", "assistant", "agent", "system")
#: The bot's yes/no signals, each a column of the flat table (False when absent).
SIGNALS = ("escalated", "handed_over")
#: Judge scores become columns ``judge_<criterion>``.
JUDGE_PREFIX = "judge_"
#: Flat columns a user attribute may not take the name of.
RESERVED = ("conversation_id", "started_at", "n_turns", "n_user_turns", "confidence",
            "intent", "escalated", "handed_over", "resolved", "user_rating", "judge_name")
MAX_ERRORS = 5

MSG_NOT_FOUND = "no such file: {path}"
MSG_FORMAT = "{path}: conversations are read from .jsonl (JSON Lines) or .parquet files"
MSG_EMPTY = "{where}: no conversations"
MSG_BAD_JSON = "line {line}: not a JSON object ({error})"
MSG_NOT_OBJECT = "line {line}: a conversation must be a JSON object; got {kind}"
MSG_MISSING = "line {line}: {field} is missing"
MSG_TYPE = "line {line}: {field} must be {expected}; got {value!r}"
MSG_ROLE = "line {line}: turns[{i}].role must be one of {roles}; got {value!r}"
MSG_DUPLICATE = "line {line}: conversation_id {value!r} was already used on line {first}"
MSG_CONSENT = ("line {line}: user.demographics are kept only with \"consented\": true; "
               "leave them out where the user did not consent")
MSG_RESERVED = "line {line}: user attribute {name!r} clashes with the column of that name"
MSG_MANY = "{n} problems in {where}; the first {shown}:\n{lines}"


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation."""

    role: str
    text: str
    at: str | None = None


@dataclass(frozen=True)
class Conversations:
    """Checked conversations: a flat table and each conversation's turns.

    ``frame`` has one row per conversation (index: ``conversation_id``) with the columns
    ``started_at``, ``n_turns``, ``n_user_turns``, ``confidence``, ``intent``,
    ``escalated``, ``handed_over`` (bool), ``resolved`` (bool, missing where unknown),
    ``user_rating``, ``judge_name``, one column per user attribute and per judge
    criterion (``judge_<criterion>``), and the consented demographics
    (``demographic_<name>``, missing where not given).
    """

    frame: pd.DataFrame
    turns: dict[str, tuple[Turn, ...]]
    user_attributes: tuple[str, ...]
    demographics: tuple[str, ...]
    judge_criteria: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.frame)

    def transcript(self, conversation_id: str) -> tuple[Turn, ...]:
        """The turns of one conversation, in order."""
        return self.turns[conversation_id]

    def judge_scores(self) -> pd.DataFrame:
        """The judge's scores, long: ``conversation_id, criterion, score`` (the form
        :func:`audits.raters.judges.judge_analysis` reads; missing scores left out)."""
        wide = self.frame[[JUDGE_PREFIX + c for c in self.judge_criteria]].rename(
            columns=lambda k: k[len(JUDGE_PREFIX):])
        wide.columns.name = "criterion"
        return wide.stack().rename("score").reset_index()


def read_conversations(path: str | Path) -> Conversations:
    """Read and check a conversation log (``.jsonl`` or ``.parquet``).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Another format, no conversations, or records that break the contract (see the
        module): the first problems, each with its line (1-based) and field.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = path.write_text('{"conversation_id": "a", "turns": [{"role": "user", '
    ...                     '"text": "hi"}], "user": {"language": "en"}}\\n')
    >>> read_conversations(path).frame[["n_turns", "language", "escalated"]]
                     n_turns language  escalated
    conversation_id
    a                      1       en      False
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(MSG_NOT_FOUND.format(path=path))
    name = path.name.lower()
    if name.endswith(".jsonl"):
        records, errors = _json_lines(path)
    elif name.endswith(".parquet"):
        records, errors = pd.read_parquet(path).to_dict(orient="records"), []
        records = [_plain(r) for r in records]
    else:
        raise ValueError(MSG_FORMAT.format(path=path))
    return _checked(records, str(path), errors)


def conversations_from_records(records: Iterable[Mapping[str, Any]], *,
                               where: str = "records") -> Conversations:
    """Check in-memory conversation records (the same contract as a file's)."""
    return _checked([dict(r) for r in records], where, [])


def records_of(conversations: Conversations) -> list[dict[str, Any]]:
    """The conversations as records of the log's contract (what was read, checked).

    :func:`conversations_from_records` reads them back to the same conversations: how a
    conversation system keeps its log (:mod:`audits.conversations.stored`).

    Examples
    --------
    >>> read = conversations_from_records([{"conversation_id": "a", "turns": [
    ...     {"role": "user", "text": "hi"}], "user": {"language": "en"}}])
    >>> records_of(read)[0]["user"]
    {'language': 'en'}
    >>> conversations_from_records(records_of(read)).frame.equals(read.frame)
    True
    """
    frame = conversations.frame
    out = []
    for cid, row in zip(frame.index, frame.to_dict(orient="records"), strict=True):
        given = {k: v for k, v in row.items() if v is not None and v is not pd.NA
                 and not (isinstance(v, float) and math.isnan(v))}
        record: dict[str, Any] = {
            "conversation_id": str(cid),
            "turns": [{"role": t.role, "text": t.text, **({} if t.at is None else {"at": t.at})}
                      for t in conversations.turns[str(cid)]]}
        bot = {k: given[k] for k in ("confidence", "intent") if k in given}
        bot.update({k: bool(row[k]) for k in SIGNALS if bool(row[k])})
        outcome = {k: given[k] for k in ("user_rating",) if k in given}
        if "resolved" in given:
            outcome["resolved"] = bool(given["resolved"])
        user: dict[str, Any] = {a: given[a] for a in conversations.user_attributes if a in given}
        demographics = {d[len("demographic_"):]: given[d] for d in conversations.demographics
                        if d in given}
        if demographics:
            user["demographics"] = {"consented": True, **demographics}
        scores = {c: given[JUDGE_PREFIX + c] for c in conversations.judge_criteria
                  if JUDGE_PREFIX + c in given}
        for name, section in (("bot", bot), ("outcome", outcome), ("user", user)):
            if section:
                record[name] = section
        if "judge_name" in given:
            record["judge"] = {"name": given["judge_name"], "scores": scores}
        out.append(record)
    return out


def _json_lines(path: Path) -> tuple[list[Any], list[str]]:
    records: list[Any] = []
    errors: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                errors.append(MSG_BAD_JSON.format(line=number, error=error.msg))
    return records, errors


def _plain(value: Any) -> Any:
    """Parquet's nested values (arrays, NaN) as JSON's (lists, None)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, str):
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _checked(records: list[Any], where: str, errors: list[str]) -> Conversations:
    rows: list[dict[str, Any]] = []
    turns: dict[str, tuple[Turn, ...]] = {}
    first_line: dict[str, int] = {}
    attributes: dict[str, None] = {}
    demographics: dict[str, None] = {}
    criteria: dict[str, None] = {}
    for i, item in enumerate(records):
        line, record = item if isinstance(item, tuple) else (i + 1, item)
        found = _record(record, line, errors)
        if found is None:
            continue
        row, its_turns = found
        cid = row["conversation_id"]
        if cid in first_line:
            errors.append(MSG_DUPLICATE.format(line=line, value=cid, first=first_line[cid]))
            continue
        first_line[cid] = line
        for key in row:
            if key.startswith("user:"):
                attributes[key[5:]] = None
            elif key.startswith("demographic_"):
                demographics[key] = None
            elif key.startswith(JUDGE_PREFIX) and key != "judge_name":
                criteria[key[len(JUDGE_PREFIX):]] = None
        rows.append(row)
        turns[cid] = its_turns
    if errors:
        shown = errors[:MAX_ERRORS]
        raise ValueError(shown[0] if len(errors) == 1 else MSG_MANY.format(
            n=len(errors), where=where, shown=len(shown), lines="\n".join(shown)))
    if not rows:
        raise ValueError(MSG_EMPTY.format(where=where))
    frame = pd.DataFrame(rows).rename(columns=lambda c: c[5:] if c.startswith("user:") else c)
    # Sorted, so the columns do not depend on the order of a record's keys.
    attributes = dict.fromkeys(sorted(attributes))
    demographics = dict.fromkeys(sorted(demographics))
    criteria = dict.fromkeys(sorted(criteria))
    columns = [*RESERVED, *attributes, *demographics,
               *(JUDGE_PREFIX + c for c in criteria)]
    frame = frame.reindex(columns=columns).set_index("conversation_id")
    for signal in SIGNALS:
        frame[signal] = frame[signal].fillna(False).astype(bool)
    frame["resolved"] = frame["resolved"].astype("boolean")
    for column in ("n_turns", "n_user_turns"):
        frame[column] = frame[column].astype(int)
    for column in ("confidence", "user_rating", *(JUDGE_PREFIX + c for c in criteria)):
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    return Conversations(frame=frame, turns=turns, user_attributes=tuple(attributes),
                         demographics=tuple(demographics), judge_criteria=tuple(criteria))


def _record(record: Any, line: int, errors: list[str]
            ) -> tuple[dict[str, Any], tuple[Turn, ...]] | None:
    if not isinstance(record, Mapping):
        errors.append(MSG_NOT_OBJECT.format(line=line, kind=type(record).__name__))
        return None
    before = len(errors)

    def need(value: Any, field: str, expected: str, ok: bool) -> None:
        if not ok:
            errors.append(MSG_TYPE.format(line=line, field=field, expected=expected,
                                          value=value))

    cid = record.get("conversation_id")
    if cid is None:
        errors.append(MSG_MISSING.format(line=line, field="conversation_id"))
    else:
        need(cid, "conversation_id", "a non-empty string", isinstance(cid, str) and cid != "")
    raw_turns = record.get("turns")
    parsed: list[Turn] = []
    if raw_turns is None:
        errors.append(MSG_MISSING.format(line=line, field="turns"))
    elif not isinstance(raw_turns, list) or not raw_turns:
        need(raw_turns, "turns", "a non-empty list of turns", False)
    else:
        for i, turn in enumerate(raw_turns):
            if not isinstance(turn, Mapping):
                need(turn, f"turns[{i}]", "an object with role and text", False)
                continue
            role, text, at = turn.get("role"), turn.get("text"), turn.get("at")
            if role not in ROLES:
                errors.append(MSG_ROLE.format(line=line, i=i, roles=", ".join(ROLES),
                                              value=role))
            need(text, f"turns[{i}].text", "a string", isinstance(text, str))
            need(at, f"turns[{i}].at", "an ISO 8601 time or absent",
                 at is None or (isinstance(at, str) and _is_time(at)))
            parsed.append(Turn(str(role), str(text), at))
    row: dict[str, Any] = {"conversation_id": cid,
                           "started_at": parsed[0].at if parsed else None,
                           "n_turns": len(parsed),
                           "n_user_turns": sum(t.role == "user" for t in parsed)}
    bot = _section(record, "bot", line, errors)
    confidence = bot.get("confidence")
    need(confidence, "bot.confidence", "a number in [0, 1] or absent",
         confidence is None or (_is_number(confidence) and 0 <= float(confidence) <= 1))
    row["confidence"] = confidence
    intent = bot.get("intent")
    need(intent, "bot.intent", "a string or absent", intent is None or isinstance(intent, str))
    row["intent"] = intent
    for signal in SIGNALS:
        value = bot.get(signal)
        need(value, f"bot.{signal}", "true, false or absent",
             value is None or isinstance(value, bool))
        row[signal] = bool(value)
    outcome = _section(record, "outcome", line, errors)
    resolved = outcome.get("resolved")
    need(resolved, "outcome.resolved", "true, false or absent",
         resolved is None or isinstance(resolved, bool))
    row["resolved"] = resolved
    rating = outcome.get("user_rating")
    need(rating, "outcome.user_rating", "a number or absent",
         rating is None or _is_number(rating))
    row["user_rating"] = rating
    user = _section(record, "user", line, errors)
    for name, value in user.items():
        if name == "demographics":
            _demographics(value, line, errors, row)
            continue
        if name in RESERVED or name.startswith((JUDGE_PREFIX, "demographic_")):
            errors.append(MSG_RESERVED.format(line=line, name=name))
        need(value, f"user.{name}", "a string, a number or absent",
             value is None or isinstance(value, str) or _is_number(value))
        row[f"user:{name}"] = None if value is None else str(value)
    judge = _section(record, "judge", line, errors)
    if judge:
        judge_name = judge.get("name")
        need(judge_name, "judge.name", "a string",
             isinstance(judge_name, str) and judge_name != "")
        row["judge_name"] = judge_name
        scores = judge.get("scores")
        if not isinstance(scores, Mapping):
            need(scores, "judge.scores", "an object of criterion: number", False)
        else:
            for criterion, score in scores.items():
                need(criterion, "a judge criterion", "a name other than 'name'",
                     criterion != "name")
                need(score, f"judge.scores.{criterion}", "a number",
                     _is_number(score) and math.isfinite(float(score)))
                row[JUDGE_PREFIX + str(criterion)] = score
    if len(errors) > before:
        return None
    return row, tuple(parsed)


def _section(record: Mapping[str, Any], name: str, line: int, errors: list[str]
             ) -> Mapping[str, Any]:
    value = record.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.append(MSG_TYPE.format(line=line, field=name, expected="an object",
                                      value=value))
        return {}
    return value


def _demographics(value: Any, line: int, errors: list[str], row: dict[str, Any]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        errors.append(MSG_TYPE.format(line=line, field="user.demographics",
                                      expected="an object", value=value))
        return
    if value.get("consented") is not True:
        errors.append(MSG_CONSENT.format(line=line))
        return
    for name, item in value.items():
        if name != "consented":
            row[f"demographic_{name}"] = None if item is None else str(item)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_time(value: str) -> bool:
    try:
        pd.Timestamp(value)
    except ValueError:
        return False
    return True

