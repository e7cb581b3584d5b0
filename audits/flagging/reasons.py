"""The two reasons that read the audit and the model, and what people are told of reasons.

:func:`disparity_flags` and :func:`counterfactual_flags` are re-exported by
:mod:`audits.flagging.flags`; see there for the flags table contract.

A flag's ``explanation`` is written for the people who tune the queue: it may name the
decision, its confusion cell ("a false positive", which gives away the true outcome) or
a gold case's known answer. Whoever rates or adjudicates a case must not learn any of
that, or the labels that measure them (and retrain the model) are anchored on the answer.
:func:`outcome_free_reasons` gives each reason as such a person may read it: one fixed
sentence per kind of reason, built from the kind alone, never from the stored text, so
no decision, outcome, label value, number or gold answer can reach them.
:func:`reasons_for` picks the full or the outcome-free form by role.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audits.data.schema import check_columns_exist
from audits.explain.counterfactual import (
    MSG_PROXY_IS_SENSITIVE,
    MSG_PROXY_NOT_FEATURE,
    _original_value,
    _typical,
)
from audits.fairness.metrics import spec_of
from audits.flagging.common import (
    _CELLS,
    _ERROR_CELLS,
    MSG_ITEM,
    MSG_NEEDS_Y_TRUE,
    MSG_NO_DIRECTION,
    MSG_NO_SENSITIVE,
    MSG_PROXY_KEY,
    _binary,
    _check_unique,
    _number,
    _table,
)
from audits.models.training import DEFAULT_THRESHOLD, predict_decisions
from audits.roles import Role

__all__ = ["FULL_REASON_ROLES", "OUTCOME_FREE", "counterfactual_flags", "disparity_flags",
           "outcome_free_reasons", "reasons_for"]

MSG_REFERENCE = "reference must be a pandas DataFrame of the system's rows; got {kind}"

#: What a reviewer or an adjudicator reads for each reason: the kind of case, never its
#: decision, outcome, label, score or known answer.
OUTCOME_FREE: Mapping[str, str] = {
    "low_confidence": "The model was unsure: its score lies close to its decision threshold.",
    "disparity": "The case belongs to a group for which the fairness audit found a "
                 "disparity that fails the parity rule.",
    "counterfactual": "Changing only a sensitive attribute of the case (and the features "
                      "that stand in for it) would change the model's decision.",
    "attribution": "Features that may stand in for a sensitive attribute carry much of the "
                   "model's reasoning on this case.",
    "random_control": "Drawn at random, as a control sample for the panel.",
    "gold": "Drawn to check the panel's accuracy (nothing about this case is shown beyond "
            "what any case shows).",
    "slice": "The case belongs to a subgroup nobody declared (a combination of its "
             "features) that slice discovery found worse off than the rest.",
    "active_learning": "A person's decision on a case like this one teaches the model most.",
}
OUTCOME_FREE_OTHER = "Flagged for review by the queue's policy."
MSG_REASON = "reason #{i} must be a mapping with a 'reason' key (the kind of flag)"
#: Roles that read the full reasons (decision, confusion cell, known answer): they
#: neither rate nor adjudicate. Panel leads and admins adjudicate; reviewers rate.
FULL_REASON_ROLES = frozenset({Role.DATA_SCIENTIST, Role.COMPLIANCE_OFFICER})


def disparity_flags(
    frame: pd.DataFrame,
    *,
    y_true: str | None,
    y_pred: str,
    disparities: Sequence[Mapping[str, Any]],
    positive_is_favourable: bool = True,
) -> pd.DataFrame:
    """Flag decisions of a group that fails a disparity, of the kind that drives it.

    Only items with ``verdict == "fail"`` count. A row is flagged when it belongs to the
    failing group (every attribute matches, compared as text) and its confusion cell
    drives the failure: below the reference (ratio < 1), the metric's denominator cells
    outside its numerator (a low selection rate: the denials); above it, the numerator
    cells (a high false positive rate: the false positives). Metrics that are not one
    fraction (balanced accuracy, ROC AUC, calibration error) are driven by the errors.

    The score is the failure's severity: ``min(1, |log2 r|)`` where ``r`` is the bound
    of the ratio's confidence interval nearest 1 when the interval lies on one side of 1
    (else the ratio itself), so a twofold disparity scores 1. Without a usable ratio it
    is ``min(1, |d|)`` for the difference ``d`` read the same way. A row in several
    failing groups keeps the worst one (the first on ties).

    Parameters
    ----------
    frame : pandas.DataFrame
        Holds ``y_pred``, ``y_true`` if given, and every attribute of the disparities.
    y_true : str or None
        Column of true outcomes (0/1); required by metrics driven by true outcomes.
    y_pred : str
        Column of decisions (0/1).
    disparities : sequence of mapping
        The audit's JSON ``disparities`` list (see ``FairnessAudit.to_dict``).
    positive_is_favourable : bool, default True
        Words the decisions "Approved"/"Declined"; otherwise as an unfavourable positive.

    Returns
    -------
    pandas.DataFrame with columns :data:`FLAG_COLUMNS`

    Raises
    ------
    ValueError
        An item names an unknown metric, lacks a key or a direction, needs ``y_true``
        that is not given, or a decision column is not 0/1.

    Examples
    --------
    >>> df = pd.DataFrame({"sex": ["F", "F", "M"], "p": [0, 1, 0]})
    >>> item = {"metric": "selection_rate", "attributes": {"sex": "F"},
    ...         "reference": {"sex": "M"}, "verdict": "fail",
    ...         "ratio": {"value": 0.35, "ci_low": 0.31, "ci_high": 0.39}}
    >>> out = disparity_flags(df, y_true=None, y_pred="p", disparities=[item])
    >>> out.row.tolist(), round(float(out.score[0]), 2)
    ([0], 1.0)
    >>> out.explanation[0]
    'Declined, in group sex=F whose selection rate is 0.35x that of sex=M (fails the rule).'
    """
    _check_unique(frame.index, "frame")
    check_columns_exist(frame, [y_pred] if y_true is None else [y_pred, y_true], "decision")
    pred = _binary(frame[y_pred], y_pred)
    truth = None if y_true is None else _binary(frame[y_true], y_true)
    cell = (1 - pred) * 2 if truth is None else np.where(pred == 1, 1 - truth, 3 - truth)
    best = np.full(len(frame), -1.0)
    which = np.full(len(frame), -1)
    items = [_check_item(item, i) for i, item in enumerate(disparities)]
    for i, item in enumerate(items):
        if item.get("verdict") != "fail":
            continue
        score, above = _severity(item, i)
        driving = np.asarray(_driving_cells(str(item["metric"]), above))
        if truth is None and not (driving[0] == driving[1] and driving[2] == driving[3]):
            raise ValueError(MSG_NEEDS_Y_TRUE.format(i=i, metric=item["metric"]))
        hit = _members(frame, item["attributes"]) & (driving[cell] == 1) & (score > best)
        best[hit], which[hit] = score, i
    keep = which >= 0
    notes = [_disparity_note(items[w], int(p), None if truth is None else int(c),
                             positive_is_favourable)
             for w, p, c in zip(which[keep], pred[keep], cell[keep], strict=True)]
    return _table(frame.index[keep], "disparity", best[keep], notes)



def outcome_free_reasons(reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Return a case's reasons as a reviewer or adjudicator may read them.

    Each reason keeps its kind (``reason``) and gets the fixed sentence of
    :data:`OUTCOME_FREE` for that kind as its ``explanation``; the stored explanation and
    score are dropped. A kind listed twice is given once.

    Parameters
    ----------
    reasons : iterable of mapping
        A case's ``reasons`` (each with a ``reason`` key), as stored.

    Returns
    -------
    list of dict
        ``{"reason", "explanation"}`` in the given order.

    Raises
    ------
    ValueError
        A reason without a ``reason`` key.

    Examples
    --------
    >>> outcome_free_reasons([{"reason": "disparity", "score": 0.9,
    ...     "explanation": "Approved (a false positive), in group sex=F ..."}])[0]["explanation"]
    'The case belongs to a group for which the fairness audit found a disparity that fails \
the parity rule.'
    """
    out: dict[str, dict[str, str]] = {}
    for i, reason in enumerate(reasons):
        if not isinstance(reason, Mapping) or "reason" not in reason:
            raise ValueError(MSG_REASON.format(i=i))
        kind = str(reason["reason"])
        out.setdefault(kind, {"reason": kind,
                              "explanation": OUTCOME_FREE.get(kind, OUTCOME_FREE_OTHER)})
    return list(out.values())


def reasons_for(role: Role | str, reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return a case's reasons in the form ``role`` may read: full or outcome-free.

    Full (as stored) only for :data:`FULL_REASON_ROLES`; everyone else, and any unknown
    role, gets :func:`outcome_free_reasons`.

    Examples
    --------
    >>> stored = [{"reason": "gold", "score": 0.5, "explanation": "Known answer: 1"}]
    >>> reasons_for("panel_lead", stored)[0]["explanation"][:30]
    "Drawn to check the panel's acc"
    >>> reasons_for("compliance_officer", stored)[0]["explanation"]
    'Known answer: 1'
    """
    try:
        full = Role(role) in FULL_REASON_ROLES
    except ValueError:
        full = False
    return [dict(r) for r in reasons] if full else outcome_free_reasons(reasons)


def counterfactual_flags(
    pipeline: Any,
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    sensitive_features: Sequence[str],
    proxies: Mapping[str, Sequence[str]] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    positive_is_favourable: bool = True,
    reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Flag decisions that flip when only the row's group (and its proxies) changes.

    For each sensitive feature and each group other than the row's own, the row is
    re-scored with the sensitive feature set to that group (when it is a model input)
    and each proxy set to that group's typical value (median if numeric, else the most
    frequent value, over ``reference``, by default ``frame``). A sensitive feature that
    is not an input and has no
    proxies changes nothing. The score is the largest ``|change of y_score|`` among the
    counterfactuals that flip the decision, so a wide swing outranks a nudge across the
    threshold; the explanation names that counterfactual.

    Parameters
    ----------
    pipeline : fitted estimator with ``predict_proba``
    frame : pandas.DataFrame
        Holds ``features`` and ``sensitive_features``; its index labels the rows.
    features : sequence of str
        The model's input columns.
    sensitive_features : sequence of str
    proxies : mapping of str to sequence of str or None, default None
        Sensitive feature -> model features that stand in for it.
    threshold : float, default 0.5
    positive_is_favourable : bool, default True
        Words decisions "approved"/"declined"; otherwise "positive"/"negative".
    reference : pandas.DataFrame or None, default None
        Where the groups and their proxies' typical values come from (holds the same
        columns as ``frame``). None uses ``frame`` itself: right for a batch, while one
        live decision needs the system's data (alone, a row knows only its own group).
        A row of ``frame`` is flagged as it would be in a batch of ``reference``.

    Returns
    -------
    pandas.DataFrame with columns :data:`FLAG_COLUMNS`

    Raises
    ------
    ValueError
        No sensitive feature, a missing column (in ``frame`` or ``reference``), or a
        proxy that is not a model feature, is the sensitive feature itself, or belongs
        to no sensitive feature.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> df = pd.DataFrame({"sex": [0, 1] * 20, "x": [0.0] * 40})
    >>> model = LogisticRegression().fit(df[["sex", "x"]].to_numpy(), df["sex"])
    >>> out = counterfactual_flags(model, df.head(2), features=["sex", "x"],
    ...                            sensitive_features=["sex"])
    >>> out.row.tolist()
    [0, 1]
    >>> out.explanation[0]
    'Declined as sex=0 (score 0.16); approved if sex were 1 (score 0.84).'
    """
    features, sensitive = tuple(features), tuple(sensitive_features)
    _check_unique(frame.index, "frame")
    if not sensitive:
        raise ValueError(MSG_NO_SENSITIVE)
    check_columns_exist(frame, [*features, *sensitive], "feature")
    if reference is not None:
        if not isinstance(reference, pd.DataFrame):
            raise TypeError(MSG_REFERENCE.format(kind=type(reference).__name__))
        check_columns_exist(reference, [*features, *sensitive], "reference column")
    stand_ins = _check_proxies(proxies, features, sensitive)
    original = predict_decisions(pipeline, frame, features=features, threshold=threshold)
    before = original["y_pred"].to_numpy()
    best = np.full(len(frame), -1.0)
    notes = np.full(len(frame), "", dtype=object)
    score_before = original["y_score"].to_numpy()
    for column in sensitive:
        own = frame[column].astype("string")
        for other, altered, what in _counterfactuals(frame, column, column in features,
                                                     stand_ins.get(column, ()), reference):
            after = predict_decisions(pipeline, altered, features=features, threshold=threshold)
            score_after = after["y_score"].to_numpy()
            delta = np.abs(score_after - score_before)
            hit = (own != other).fillna(True).to_numpy(bool)
            hit &= (after["y_pred"].to_numpy() != before) & (delta > best)
            best[hit] = delta[hit]
            for pos in np.flatnonzero(hit):
                notes[pos] = (
                    f"{_word(before[pos], positive_is_favourable).capitalize()} as "
                    f"{column}={own.iloc[pos]} (score {score_before[pos]:.2f}); "
                    f"{_word(1 - before[pos], positive_is_favourable)} if {what} "
                    f"(score {score_after[pos]:.2f})."
                )
    keep = best >= 0
    return _table(frame.index[keep], "counterfactual", np.clip(best[keep], 0, 1),
                  list(notes[keep]))



def _check_item(item: Mapping[str, Any], i: int) -> Mapping[str, Any]:
    for key in ("metric", "attributes", "verdict"):
        if key not in item or (key == "attributes" and not item[key]):
            raise ValueError(MSG_ITEM.format(i=i, key=key))
    spec_of(str(item["metric"]))  # unknown names raise, naming the known metrics
    return item



def _severity(item: Mapping[str, Any], i: int) -> tuple[float, bool]:
    """Severity in [0, 1] and whether the group's metric lies above the reference."""
    for key, transform in (("ratio", math.log2), ("difference", float)):
        value, low, high = (_number((item.get(key) or {}).get(part))
                            for part in ("value", "ci_low", "ci_high"))
        neutral = 1.0 if key == "ratio" else 0.0
        if value is None or value == neutral or (key == "ratio" and value <= 0):
            continue
        bound = value
        if low is not None and high is not None and (high < neutral or low > neutral):
            bound = high if value < neutral else low
        if key == "ratio" and bound <= 0:
            bound = value
        return min(1.0, abs(transform(bound))), value > neutral
    raise ValueError(MSG_NO_DIRECTION.format(i=i, metric=item["metric"]))



def _driving_cells(metric: str, above: bool) -> tuple[int, ...]:
    spec = spec_of(metric)
    if spec.numerator is None or spec.denominator is None:
        return _ERROR_CELLS
    if above:
        return spec.numerator
    return tuple(d * (1 - n) for n, d in zip(spec.numerator, spec.denominator, strict=True))



def _members(frame: pd.DataFrame, attributes: Mapping[str, Any]) -> np.ndarray:
    check_columns_exist(frame, list(attributes), "sensitive feature")
    mask = np.ones(len(frame), dtype=bool)
    for column, value in attributes.items():
        mask &= frame[column].astype("string").eq(str(value)).fillna(False).to_numpy(bool)
    return mask



def _label(attributes: Mapping[str, Any] | None) -> str:
    return " & ".join(f"{k}={v}" for k, v in (attributes or {}).items()) or "the reference"



def _word(pred: int, favourable: bool) -> str:
    if favourable:
        return "approved" if pred == 1 else "declined"
    return "positive" if pred == 1 else "negative"



def _disparity_note(item: Mapping[str, Any], pred: int, cell: int | None,
                    favourable: bool) -> str:
    extras = [] if favourable else ["unfavourable" if pred == 1 else "favourable"]
    extras += [] if cell is None else [_CELLS[cell]]
    decision = _word(pred, favourable).capitalize()
    decision += f" ({'; '.join(extras)})" if extras else ""
    metric = str(item["metric"]).replace("_", " ")
    ratio = _number((item.get("ratio") or {}).get("value"))
    if ratio is not None and ratio > 0 and ratio != 1:
        how = f"is {ratio:.2f}x"
    else:
        diff = _number((item.get("difference") or {}).get("value")) or 0.0
        how = f"is {abs(diff):.2f} {'higher' if diff > 0 else 'lower'} than"
    rule = f"the rule {item['rule']}" if item.get("rule") else "the rule"
    return (f"{decision}, in group {_label(item['attributes'])} whose {metric} {how} that "
            f"of {_label(item.get('reference'))} (fails {rule}).")



def _check_proxies(proxies: Mapping[str, Sequence[str]] | None, features: tuple[str, ...],
                   sensitive: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out = {}
    for column, stand_ins in (proxies or {}).items():
        if column not in sensitive:
            raise ValueError(MSG_PROXY_KEY.format(column=column, features=list(sensitive)))
        for proxy in stand_ins:
            if proxy == column:
                raise ValueError(MSG_PROXY_IS_SENSITIVE.format(column=proxy))
            if proxy not in features:
                raise ValueError(MSG_PROXY_NOT_FEATURE.format(column=proxy))
        out[column] = tuple(stand_ins)
    return out



def _counterfactuals(frame: pd.DataFrame, column: str, is_input: bool,
                     proxies: tuple[str, ...], reference: pd.DataFrame | None = None
                     ) -> Iterable[tuple[str, pd.DataFrame, str]]:
    """Yield (other group, frame moved to it, words for what changed); the groups and
    the proxies' typical values come from ``reference`` (default ``frame``)."""
    if not is_input and not proxies:
        return
    source = frame if reference is None else reference
    labels = source[column].astype("string")
    for other in sorted(str(g) for g in labels.dropna().unique()):
        altered = frame.copy()
        members = (labels == other).fillna(False).to_numpy(bool)
        if is_input:
            altered[column] = _original_value(source[column], other)
        for proxy in proxies:
            altered[proxy] = _typical(source.loc[members, proxy])
        moved = ", ".join(proxies)
        if is_input:
            what = f"{column} were {other}" + (
                f" and {moved} took that group's typical value" if proxies else "")
        else:
            what = f"{moved} took the typical value of {column}={other}"
        yield other, altered, what

