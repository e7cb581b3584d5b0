"""Display tables from a fairness run's stored ``results`` (no statistics computed here).

A fairness run's ``results`` is the JSON contract of ``FairnessAudit.to_dict()`` (plus
``threshold_curves``). The helpers below only reshape and format it for display: tidy
frames for tables, verdict counts and badges. Figures built from the same tables live in
:mod:`app.charts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.formatting import count, metric_label
from audits.fairness.findings import NOT_JUDGED as ENGINE_NOT_JUDGED
from audits.fairness.findings import ranked_disparities

__all__ = [
    "DISPARITY_COLUMNS",
    "FAIRNESS_METRICS",
    "NOT_JUDGED",
    "REFERENCE_COLOUR",
    "VERDICT_COLOURS",
    "VERDICT_LABELS",
    "disparity_records",
    "disparity_table",
    "fairness_groups",
    "fairness_slices",
    "group_name",
    "group_table",
    "interval_text",
    "nearest_threshold",
    "none_if_nan",
    "shown_numbers",
    "small_groups",
    "summary_table",
    "threshold_range",
    "threshold_records",
    "threshold_table",
    "verdict_badges",
    "verdict_counts",
    "verdict_style",
    "worst_disparities",
]

# -- fairness audit runs ----------------------------------------------------------------
#
# A fairness run's ``results`` is the JSON contract of ``FairnessAudit.to_dict()`` (plus
# ``threshold_curves``). The helpers below only reshape and format it for display: tidy
# frames for tables and one figure per metric. Groups are named from their
# ``attributes`` in the order of ``config["sensitive_features"]`` (the store keeps JSON
# keys sorted, so the stored order of ``attributes`` is alphabetical).

#: Metrics the fairness page shows first (fairlearn's names).
FAIRNESS_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate",
                    "precision")
#: Verdicts in display order with their labels: fail first, it is what needs action.
VERDICT_LABELS: dict[str, str] = {"fail": "fail",
                                  "insufficient_evidence": "insufficient evidence",
                                  "pass": "pass"}
#: Pass green, fail red, insufficient evidence grey; the reference group blue.
VERDICT_COLOURS: dict[str, str] = {"fail": "#d73027", "insufficient_evidence": "#8c8c8c",
                                   "pass": "#1a9850"}
REFERENCE_COLOUR = "#3b6ea5"
NOT_JUDGED = "not judged"
#: The columns of :func:`disparity_table` and :func:`worst_disparities`, verdict first.
DISPARITY_COLUMNS = ["verdict", "metric", "group", "reference", "ratio", "difference",
                     "adjusted p", "MDD"]
_BADGES = {"fail": ("red", "cancel"), "insufficient_evidence": ("gray", "help"),
           "pass": ("green", "check_circle")}
_VERDICT_BACKGROUNDS = {"fail": "#f8d0cc", "insufficient evidence": "#e6e6e6",
                        "pass": "#cfead6"}

AttributesKey = tuple[tuple[str, str], ...]


def fairness_slices(results: Mapping[str, Any]) -> list[str]:
    """Return the audit's slices as labels (``"sex"``, ``"sex & race"``), in audit order.

    Examples
    --------
    >>> fairness_slices({"config": {"slices": [["sex"], ["sex", "race"]]}})
    ['sex', 'sex & race']
    """
    return [" & ".join(s) for s in results["config"]["slices"]]


def interval_text(triple: Mapping[str, Any] | None) -> str:
    """Return ``{"value", "ci_low", "ci_high"}`` as ``"value [low, high]"`` (3 decimals).

    Examples
    --------
    >>> interval_text({"value": 0.6813, "ci_low": 0.5819, "ci_high": 0.7591})
    '0.681 [0.582, 0.759]'
    >>> interval_text({"value": 0.5, "ci_low": None, "ci_high": None})
    '0.500'
    >>> interval_text({"value": None, "ci_low": None, "ci_high": None})
    'n/a'
    """
    if not triple or triple.get("value") is None:
        return "n/a"
    low, high = triple.get("ci_low"), triple.get("ci_high")
    text = f"{triple['value']:.3f}"
    return text if low is None or high is None else f"{text} [{low:.3f}, {high:.3f}]"


def group_name(attributes: Mapping[str, Any], features: Sequence[str]) -> str:
    """Return a group's full name, ``"sex=female & age_group=under 25"``.

    Examples
    --------
    >>> group_name({"sex": "f", "age": "old"}, ["age", "sex"])
    'age=old & sex=f'
    """
    return " & ".join(f"{f}={attributes[f]}" for f in _ordered(attributes, features))


def fairness_groups(results: Mapping[str, Any]) -> pd.DataFrame:
    """Return one row per (group, metric) of a fairness run, tidy.

    Returns
    -------
    pandas.DataFrame
        ``group_id`` (position in ``results["groups"]``, the id ``threshold_curves``
        use), ``slice``, ``group`` (the values, ``"female & under 25"``), ``name`` (see
        :func:`group_name`), ``n``, ``small`` (fewer rows than the audit's ``min_n``),
        ``metric``, ``value``, ``ci_low``, ``ci_high`` (NaN where undefined),
        ``reference`` (the group is its slice's reference for that metric) and
        ``verdict`` (of its disparity to the reference; missing for the reference).

    Examples
    --------
    >>> results = {"config": {"sensitive_features": ["s"], "min_n": 30}, "groups": [
    ...     {"attributes": {"s": "a"}, "n": 40, "metrics": {"selection_rate":
    ...         {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}}}], "disparities": []}
    >>> fairness_groups(results)[["slice", "group", "small", "value"]].to_dict("records")
    [{'slice': 's', 'group': 'a', 'small': False, 'value': 0.5}]
    """
    features = list(results["config"]["sensitive_features"])
    min_n = int(results["config"].get("min_n", 0))
    verdicts, references = _disparity_index(results)
    rows = []
    for gid, group in enumerate(results["groups"]):
        attrs = group["attributes"]
        order = _ordered(attrs, features)
        label = " & ".join(order)
        key = _key(attrs)
        for metric, triple in group["metrics"].items():
            is_ref = references.get((metric, label)) == key
            rows.append({
                "group_id": gid, "slice": label, "group": " & ".join(str(attrs[f]) for f in order),
                "name": group_name(attrs, features), "n": int(group["n"]),
                "small": int(group["n"]) < min_n, "metric": metric,
                "value": _float(triple.get("value")), "ci_low": _float(triple.get("ci_low")),
                "ci_high": _float(triple.get("ci_high")), "reference": is_ref,
                "verdict": None if is_ref else verdicts.get((metric, key), NOT_JUDGED)})
    return pd.DataFrame(rows, columns=["group_id", "slice", "group", "name", "n", "small",
                                       "metric", "value", "ci_low", "ci_high", "reference",
                                       "verdict"])


def group_table(
    results: Mapping[str, Any], metrics: Sequence[str], *, slices: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return the per-group table: attributes, ``n``, each metric as ``"value [low, high]"``.

    One column per sensitive feature (empty where the feature is not part of the
    group's slice), then ``n``, one column per metric (its label), and ``note``
    (``"reference"`` when the group is the reference for every metric shown, ``"n < 30"``
    below the minimum size). ``slices`` keeps only those slices.

    Examples
    --------
    >>> results = {"config": {"sensitive_features": ["s"], "min_n": 30}, "groups": [
    ...     {"attributes": {"s": "a"}, "n": 4, "metrics": {"selection_rate":
    ...         {"value": 0.5, "ci_low": 0.25, "ci_high": 0.75}}}], "disparities": []}
    >>> group_table(results, ["selection_rate"]).to_dict("records")
    [{'s': 'a', 'n': 4, 'Selection rate': '0.500 [0.250, 0.750]', 'note': 'n < 30'}]
    """
    features = list(results["config"]["sensitive_features"])
    min_n = int(results["config"].get("min_n", 0))
    _, references = _disparity_index(results)
    rows = []
    for group in results["groups"]:
        attrs = group["attributes"]
        label = " & ".join(_ordered(attrs, features))
        if slices is not None and label not in slices:
            continue
        row: dict[str, Any] = {f: str(attrs[f]) if f in attrs else "" for f in features}
        row["n"] = int(group["n"])
        for metric in metrics:
            row[metric_label(metric)] = interval_text(group["metrics"].get(metric))
        is_ref = bool(metrics) and all(references.get((m, label)) == _key(attrs)
                                       for m in metrics)
        notes = (["reference"] if is_ref else []) + (
            [f"n < {min_n}"] if int(group["n"]) < min_n else [])
        row["note"] = ", ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*features, "n", *(metric_label(m) for m in metrics),
                                       "note"])


def small_groups(results: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Return ``(name, n)`` of the groups with fewer rows than the audit's ``min_n``.

    Examples
    --------
    >>> small_groups({"config": {"sensitive_features": ["s"], "min_n": 30},
    ...               "groups": [{"attributes": {"s": "a"}, "n": 4}]})
    [('s=a', 4)]
    """
    features = list(results["config"]["sensitive_features"])
    min_n = int(results["config"].get("min_n", 0))
    return [(group_name(g["attributes"], features), int(g["n"]))
            for g in results["groups"] if int(g["n"]) < min_n]


def headline_tiles(results: Mapping[str, Any],
                   verdicts: Mapping[str, int]) -> list[tuple[str, str]]:
    """The (label, value) tiles that head a fairness run: rows, groups and verdict counts."""
    return [("Decisions audited", count(results.get("rows"))),
            ("Groups", count(len(results.get("groups") or []))),
            ("Failing", count(verdicts["fail"])),
            ("Insufficient evidence", count(verdicts["insufficient_evidence"])),
            ("Passing", count(verdicts["pass"]))]


def verdict_counts(
    results: Mapping[str, Any],
    *,
    metrics: Sequence[str] | None = None,
    slices: Sequence[str] | None = None,
) -> dict[str, int]:
    """Count the disparities per verdict (every key of :data:`VERDICT_LABELS`, in order).

    Disparities no rule judged count under ``"not judged"`` when there are any.

    Examples
    --------
    >>> verdict_counts({"config": {"sensitive_features": ["s"]}, "disparities": [
    ...     {"metric": "m", "attributes": {"s": "b"}, "verdict": "fail"}]})
    {'fail': 1, 'insufficient_evidence': 0, 'pass': 0}
    """
    frame = disparity_records(results)
    if metrics is not None:
        frame = frame[frame["metric"].isin(list(metrics))]
    if slices is not None:
        frame = frame[frame["slice"].isin(list(slices))]
    counts = {v: int((frame["verdict"] == v).sum()) for v in VERDICT_LABELS}
    other = int((~frame["verdict"].isin(list(VERDICT_LABELS))).sum())
    return counts | ({NOT_JUDGED: other} if other else {})


def disparity_records(results: Mapping[str, Any]) -> pd.DataFrame:
    """Return the disparities of a fairness run as a tidy frame (numbers unformatted).

    Columns ``metric, slice, group, reference, difference, difference_low,
    difference_high, ratio, ratio_low, ratio_high, p_value, p_adjusted, verdict``;
    ``group`` and ``reference`` are full names (:func:`group_name`).

    Examples
    --------
    >>> d = disparity_records({"config": {"sensitive_features": ["s"]}, "disparities": [
    ...     {"metric": "m", "attributes": {"s": "b"}, "reference": {"s": "a"},
    ...      "difference": {"value": -0.1}, "ratio": {"value": 0.8}, "verdict": "fail"}]})
    >>> d[["slice", "group", "reference", "ratio", "verdict"]].to_dict("records")
    [{'slice': 's', 'group': 's=b', 'reference': 's=a', 'ratio': 0.8, 'verdict': 'fail'}]
    """
    features = list(results["config"]["sensitive_features"])
    rows = []
    for d in results.get("disparities", []):
        diff, ratio = d.get("difference") or {}, d.get("ratio") or {}
        rows.append({
            "metric": d["metric"], "slice": " & ".join(_ordered(d["attributes"], features)),
            "group": group_name(d["attributes"], features),
            "reference": group_name(d.get("reference") or {}, features),
            "difference": _float(diff.get("value")),
            "difference_low": _float(diff.get("ci_low")),
            "difference_high": _float(diff.get("ci_high")),
            "ratio": _float(ratio.get("value")), "ratio_low": _float(ratio.get("ci_low")),
            "ratio_high": _float(ratio.get("ci_high")),
            "p_value": _float(d.get("p_value")), "p_adjusted": _float(d.get("p_adjusted")),
            "verdict": d.get("verdict") or NOT_JUDGED})
    return pd.DataFrame(rows, columns=_DISPARITY_COLUMNS)


def disparity_table(
    results: Mapping[str, Any],
    *,
    verdicts: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    slices: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return the disparities for display, most severe first; empty or None filters keep all.

    The order is :func:`audits.fairness.findings.ranked_disparities` (fail, insufficient
    evidence, pass, then disparities no rule judged; larger disparities first). Columns
    ``verdict`` (label) first, so it stays in view on a narrow screen, then ``metric``
    (label), ``group``, ``reference``, ``ratio`` (``"value [low, high]"``, the
    per-comparison interval), ``difference`` (``"value"``: its interval is in
    :func:`disparity_records`), ``adjusted p`` and ``MDD`` (the minimum detectable
    difference at 80% power; numbers). ``verdicts`` holds keys of :data:`VERDICT_LABELS`.

    Examples
    --------
    >>> results = {"config": {"sensitive_features": ["s"]}, "disparities": [
    ...     {"metric": "selection_rate", "attributes": {"s": "b"}, "reference": {"s": "a"},
    ...      "difference": {"value": -0.1, "ci_low": -0.2, "ci_high": 0.0},
    ...      "ratio": {"value": 0.8, "ci_low": 0.6, "ci_high": 1.0},
    ...      "p_value": 0.04, "p_adjusted": 0.08, "verdict": "insufficient_evidence",
    ...      "min_detectable_difference": 0.12}]}
    >>> disparity_table(results, verdicts=["fail"]).shape[0]
    0
    >>> row = disparity_table(results).iloc[0]
    >>> row["verdict"], row["ratio"], float(row["MDD"])
    ('insufficient evidence', '0.800 [0.600, 1.000]', 0.12)
    """
    frame = ranked_disparities(results)
    frame["verdict"] = frame["verdict"].replace(ENGINE_NOT_JUDGED, NOT_JUDGED)
    for column, keep in (("verdict", verdicts), ("metric", metrics), ("slice", slices)):
        if keep:
            frame = frame[frame[column].isin(list(keep))]
    return pd.DataFrame({
        "verdict": [VERDICT_LABELS.get(v, v) for v in frame["verdict"]],
        "metric": [metric_label(m) for m in frame["metric"]],
        "group": frame["group"], "reference": frame["reference"],
        "ratio": [_interval(r, "ratio") for r in frame.itertuples(index=False)],
        "difference": [interval_text({"value": none_if_nan(v), "ci_low": None,
                                      "ci_high": None}) for v in frame["difference"]],
        "adjusted p": frame["p_adjusted"], "MDD": frame["min_detectable_difference"],
    }, columns=DISPARITY_COLUMNS).reset_index(drop=True)


def worst_disparities(results: Mapping[str, Any], *, n: int = 8,
                      verdicts: Sequence[str] | None = None) -> pd.DataFrame:
    """Return the ``n`` most severe judged disparities, with the interval the verdict read.

    Like :func:`disparity_table`, without the disparities no rule judged, and with
    ``interval`` instead of the per-comparison ones: the simultaneous ratio interval
    (``"value [low, high]"``) over the whole audit, which decides pass and fail.
    ``verdicts`` keeps only those verdicts (keys of :data:`VERDICT_LABELS`).

    Examples
    --------
    >>> results = {"config": {"sensitive_features": ["s"]}, "disparities": [
    ...     {"metric": "selection_rate", "attributes": {"s": "b"}, "reference": {"s": "a"},
    ...      "ratio": {"value": 0.5}, "ratio_adjusted": {"ci_low": 0.3, "ci_high": 0.7},
    ...      "p_adjusted": 0.001, "verdict": "fail"}]}
    >>> worst_disparities(results).iloc[0][["verdict", "group", "ratio"]].tolist()
    ['fail', 's=b', '0.500 [0.300, 0.700]']
    """
    frame = ranked_disparities(results)
    frame = frame[frame["verdict"].isin(list(verdicts or VERDICT_LABELS))].head(n)
    return pd.DataFrame({
        "verdict": [VERDICT_LABELS[v] for v in frame["verdict"]],
        "metric": [metric_label(m) for m in frame["metric"]],
        "group": frame["group"], "reference": frame["reference"],
        "ratio": [_simultaneous(r) for r in frame.itertuples(index=False)],
        "difference": [interval_text({"value": none_if_nan(v), "ci_low": None,
                                      "ci_high": None}) for v in frame["difference"]],
        "adjusted p": frame["p_adjusted"], "MDD": frame["min_detectable_difference"],
    }, columns=DISPARITY_COLUMNS).reset_index(drop=True)


def shown_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """Return a disparity table with ``adjusted p`` and ``MDD`` as text, ``"—"`` if undefined.

    Examples
    --------
    >>> shown_numbers(pd.DataFrame({"adjusted p": [1.2e-7, float("nan")],
    ...                             "MDD": [0.0412, float("nan")]})).to_dict("list")
    {'adjusted p': ['1.2e-07', '—'], 'MDD': ['0.041', '—']}
    """
    out = table.copy()
    for column, spec in (("adjusted p", "{:.2g}"), ("MDD", "{:.3f}")):
        if column in out.columns:
            out[column] = ["—" if pd.isna(v) else spec.format(v) for v in out[column]]
    return out


def summary_table(
    results: Mapping[str, Any], *, slices: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return the per-slice summaries (spreads, impact ratio, named parity summaries).

    Columns ``slice``, ``summary``, ``metric`` (labels), ``value`` (``"value [low,
    high]"``), ``groups`` (eligible groups compared) and ``verdict`` (label; empty where
    no rule judges the summary).

    Examples
    --------
    >>> results = {"summaries": [{"features": ["s"], "summary": "impact_ratio",
    ...     "metric": "selection_rate", "value": 0.7, "ci_low": 0.6, "ci_high": 0.8,
    ...     "n_groups": 2, "verdict": None}]}
    >>> row = summary_table(results).to_dict("records")[0]
    >>> row["summary"], row["value"], row["groups"], row["verdict"]
    ('Impact ratio', '0.700 [0.600, 0.800]', 2, '')
    """
    rows = [{"slice": " & ".join(r["features"]), "summary": metric_label(r["summary"]),
             "metric": metric_label(r["metric"]), "value": interval_text(r),
             "groups": int(r["n_groups"]),
             "verdict": VERDICT_LABELS.get(r.get("verdict") or "", r.get("verdict") or "")}
            for r in results.get("summaries", [])
            if slices is None or " & ".join(r["features"]) in slices]
    return pd.DataFrame(rows, columns=["slice", "summary", "metric", "value", "groups",
                                       "verdict"])


def verdict_badges(counts: Mapping[str, int]) -> str:
    """Return verdict counts as Streamlit markdown badges (fail red, pass green, else grey).

    Examples
    --------
    >>> verdict_badges({"fail": 2, "pass": 5})
    ':red-badge[:material/cancel: 2 fail] :green-badge[:material/check_circle: 5 pass]'
    """
    badges = []
    for verdict, n in counts.items():
        colour, icon = _BADGES.get(verdict, ("gray", "remove"))
        badges.append(f":{colour}-badge[:material/{icon}: {n} "
                      f"{VERDICT_LABELS.get(verdict, verdict)}]")
    return " ".join(badges)


def verdict_style(label: Any) -> str:
    """Return the CSS of a verdict cell (a pandas ``Styler.map`` function).

    Examples
    --------
    >>> verdict_style("fail")
    'background-color: #f8d0cc; color: #7f1d1d'
    """
    background = _VERDICT_BACKGROUNDS.get(str(label))
    if background is None:
        return ""
    ink = {"fail": "#7f1d1d", "pass": "#14532d"}.get(str(label), "#333333")
    return f"background-color: {background}; color: {ink}"


def threshold_records(results: Mapping[str, Any]) -> pd.DataFrame:
    """Return ``results["threshold_curves"]`` as a frame (empty without scores).

    Adds ``name`` (:func:`group_name`) and ``slice`` labels consistent with
    :func:`fairness_groups`; ``threshold`` null (above every score) becomes ``inf`` and
    other nulls NaN.

    Examples
    --------
    >>> results = {"config": {"sensitive_features": ["s"]},
    ...            "groups": [{"attributes": {"s": "a"}, "n": 2}],
    ...            "threshold_curves": {"group_id": [0], "threshold": [None],
    ...                                 "metric": ["selection_rate"], "value": [0.0],
    ...                                 "reference_id": [0], "difference": [0.0]}}
    >>> threshold_records(results)[["name", "threshold", "value"]].to_dict("records")
    [{'name': 's=a', 'threshold': inf, 'value': 0.0}]
    """
    curves = results.get("threshold_curves") or {}
    columns = ["group_id", "slice", "name", "threshold", "metric", "value", "difference"]
    if not curves:
        return pd.DataFrame(columns=columns)
    features = list(results["config"]["sensitive_features"])
    attrs = [g["attributes"] for g in results["groups"]]
    ids = [int(i) for i in curves["group_id"]]
    return pd.DataFrame({
        "group_id": ids,
        "slice": [" & ".join(_ordered(attrs[i], features)) for i in ids],
        "name": [group_name(attrs[i], features) for i in ids],
        "threshold": [math.inf if t is None else float(t) for t in curves["threshold"]],
        "metric": curves["metric"],
        "value": [_float(v) for v in curves["value"]],
        "difference": [_float(v) for v in curves["difference"]],
    }, columns=columns)


def threshold_range(curves: pd.DataFrame) -> tuple[float, float, float]:
    """Return ``(low, high, step)`` for a slider over the tabulated finite thresholds.

    The bounds are rounded outwards to the step, a power of ten near a fiftieth of the
    span (0.01 for scores in [0, 1], 0.1 for scores from 1 to 10).

    Examples
    --------
    >>> threshold_range(pd.DataFrame({"threshold": [0.013, 0.5, 0.996, float("inf")]}))
    (0.01, 1.0, 0.01)
    """
    finite = curves["threshold"][np.isfinite(curves["threshold"])]
    low, high = float(finite.min()), float(finite.max())
    step = 10.0 ** math.floor(math.log10((high - low) / 50)) if high > low else 1.0
    digits = max(0, -math.floor(math.log10(step)))
    return (round(math.floor(low / step) * step, digits),
            round(math.ceil(high / step) * step, digits), step)


def nearest_threshold(curves: pd.DataFrame, threshold: float) -> float:
    """Return the tabulated finite threshold nearest to ``threshold``.

    Examples
    --------
    >>> nearest_threshold(pd.DataFrame({"threshold": [0.2, 0.45, 0.7]}), 0.5)
    0.45
    """
    values = np.unique(curves["threshold"][np.isfinite(curves["threshold"])])
    return float(values[np.argmin(np.abs(values - threshold))])


def threshold_table(
    curves: pd.DataFrame, threshold: float, *, slices: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return every group's metrics at the tabulated threshold nearest to ``threshold``.

    One row per group (``slice``, ``group``), and per metric two columns: its value and
    ``"Δ <label>"``, the difference to the slice's reference group at the same threshold
    (the reference's row reads 0).

    Examples
    --------
    >>> curves = pd.DataFrame({"group_id": [0, 0, 1, 1], "slice": ["s"] * 4,
    ...     "name": ["s=a", "s=a", "s=b", "s=b"], "threshold": [0.2, 0.6, 0.2, 0.6],
    ...     "metric": ["selection_rate"] * 4, "value": [0.9, 0.4, 0.8, 0.2],
    ...     "difference": [0.0, 0.0, -0.1, -0.2]})
    >>> threshold_table(curves, 0.5).to_dict("records")[1]
    {'slice': 's', 'group': 's=b', 'Selection rate': 0.2, 'Δ Selection rate': -0.2}
    """
    at = curves[curves["threshold"] == nearest_threshold(curves, threshold)]
    if slices is not None:
        at = at[at["slice"].isin(list(slices))]
    groups = at.drop_duplicates("group_id")
    out = pd.DataFrame({"slice": groups["slice"].to_numpy(), "group": groups["name"].to_numpy()})
    for metric in dict.fromkeys(at["metric"]):
        rows = at[at["metric"] == metric].set_index("group_id")
        label = metric_label(metric)
        out[label] = groups["group_id"].map(rows["value"]).to_numpy()
        out[f"Δ {label}"] = groups["group_id"].map(rows["difference"]).to_numpy()
    return out


_DISPARITY_COLUMNS = ["metric", "slice", "group", "reference", "difference", "difference_low",
                      "difference_high", "ratio", "ratio_low", "ratio_high", "p_value",
                      "p_adjusted", "verdict"]


def _ordered(attributes: Mapping[str, Any], features: Sequence[str]) -> list[str]:
    known = [f for f in features if f in attributes]
    return known + sorted(set(attributes) - set(known))


def _key(attributes: Mapping[str, Any]) -> AttributesKey:
    return tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _disparity_index(
    results: Mapping[str, Any],
) -> tuple[dict[tuple[str, AttributesKey], str], dict[tuple[str, str], AttributesKey]]:
    """Return (metric, group) -> verdict and (metric, slice) -> reference group."""
    features = list(results["config"]["sensitive_features"])
    verdicts: dict[tuple[str, AttributesKey], str] = {}
    references: dict[tuple[str, str], AttributesKey] = {}
    for d in results.get("disparities", []):
        verdicts[(d["metric"], _key(d["attributes"]))] = d.get("verdict") or NOT_JUDGED
        if d.get("reference"):
            label = " & ".join(_ordered(d["attributes"], features))
            references[(d["metric"], label)] = _key(d["reference"])
    return verdicts, references


def _simultaneous(row: Any) -> str:
    """The ratio with its simultaneous interval; a bound missing beside the other is
    infinite (stored as null: e.g. a calibration error over a reference whose error's
    interval reaches 0)."""
    low, high = none_if_nan(row.ratio_adjusted_low), none_if_nan(row.ratio_adjusted_high)
    value = none_if_nan(row.ratio)
    if value is not None and (low is None) != (high is None):
        return (f"{value:.3f} [{low:.3f}, ∞]" if high is None else f"{value:.3f} [0, {high:.3f}]")
    return interval_text({"value": value, "ci_low": low, "ci_high": high})


def _interval(row: Any, name: str) -> str:
    return interval_text({"value": none_if_nan(getattr(row, name)),
                          "ci_low": none_if_nan(getattr(row, f"{name}_low")),
                          "ci_high": none_if_nan(getattr(row, f"{name}_high"))})


def none_if_nan(value: float) -> float | None:
    """Return None for NaN (how the JSON contract spells undefined), else the value."""
    return None if math.isnan(value) else value
