"""``fairpanel agreement`` and ``fairpanel reviewers``: the panel measured from a CSV.

Both read a long table of ratings (one row per case and reviewer), whether exported from
fairpanel or from another annotation tool, and write the documented JSON contracts
(:meth:`audits.raters.agreement.AgreementSummary.to_dict`,
:func:`audits.raters.human_bias.reviewer_report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audits.cli.common import (
    EXIT_OK,
    emit_json,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_panel_parsers", "binary_labels", "rater_groups_of", "reviewers_text"]

MSG_COLUMN = "column {column!r} ({role}) is not in {path}; columns present: {present}"
MSG_NOT_BINARY = (
    "labels of {column!r} are not 0/1 ({values}); name the positive one with "
    "--positive-label"
)
MSG_POSITIVE_ABSENT = "--positive-label {value!r} never occurs in column {column!r}"
MSG_GROUP_VARIES = "reviewer {rater!r} has more than one value in {column!r}: {values}"
MSG_SHOWN_PAIR = "--model-shown and --model-decision go together; give both or neither"


def add_panel_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``agreement`` and ``reviewers`` on the top-level subparsers."""
    agree = sub.add_parser(
        "agreement", help="inter-reviewer agreement of a long ratings table",
        description="Krippendorff's alpha, Fleiss' kappa, Gwet's AC1 and percent "
                    "agreement with bootstrap intervals over cases.")
    _common(agree)
    agree.add_argument("--level", choices=["nominal", "ordinal", "interval"],
                       default="nominal", help="measurement level of the labels (nominal)")
    agree.set_defaults(func=_cmd_agreement)
    rev = sub.add_parser(
        "reviewers", help="reviewer severity, differential functioning, automation bias",
        description="Each reviewer's severity against the rest of the panel, the "
                    "interaction between reviewer groups and subject groups, and the "
                    "effect of showing the model's decision.")
    _common(rev)
    rev.add_argument("--positive-label", default=None, help="the label that counts as 1")
    rev.add_argument("--subject-group", metavar="COL", help="the case's subject group")
    rev.add_argument("--rater-group", metavar="COL", help="the reviewer's background group")
    rev.add_argument("--model-shown", metavar="COL", help="whether the model was shown (0/1)")
    rev.add_argument("--model-decision", metavar="COL", help="the model's decision")
    rev.add_argument("--truth", metavar="COL", help="gold or adjudicated answer")
    rev.set_defaults(func=_cmd_reviewers)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("ratings", metavar="RATINGS", help="CSV or Parquet, one row per rating")
    p.add_argument("--item", required=True, metavar="COL", help="the case column")
    p.add_argument("--rater", required=True, metavar="COL", help="the reviewer column")
    p.add_argument("--label", required=True, metavar="COL", help="the label column")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--json", metavar="PATH|-", help="write the JSON result ('-' for stdout)")


def _cmd_agreement(args: argparse.Namespace) -> int:
    from audits.raters.agreement import agreement_summary

    frame = _read(args, [(args.item, "--item"), (args.rater, "--rater"),
                         (args.label, "--label")])
    summary = agreement_summary(frame, level=args.level, n_boot=args.n_boot,
                                random_state=args.seed, item=args.item, rater=args.rater,
                                label=args.label)
    result = summary.to_dict()
    lines = [f"{result['n_items']} cases, {result['n_raters']} reviewers, "
             f"{args.level} labels"]
    for name in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement"):
        est = result[name]
        lines.append(f"  {name:<20} {_fmt(est['value'])}  [{_fmt(est['ci_low'])}, "
                     f"{_fmt(est['ci_high'])}]")
    if result.get("fleiss_note"):
        lines.append(f"  note: {result['fleiss_note']}")
    emit_json(result, args.json, "\n".join(lines))
    return EXIT_OK


def _cmd_reviewers(args: argparse.Namespace) -> int:
    import pandas as pd

    from audits.raters.human_bias import reviewer_report

    if (args.model_shown is None) != (args.model_decision is None):
        raise ValueError(MSG_SHOWN_PAIR)
    optional = [("subject_group", args.subject_group), ("model_shown", args.model_shown),
                ("model_decision", args.model_decision), ("truth", args.truth)]
    wanted = [(args.item, "--item"), (args.rater, "--rater"), (args.label, "--label")] + [
        (col, f"--{name.replace('_', '-')}") for name, col in optional if col]
    if args.rater_group:
        wanted.append((args.rater_group, "--rater-group"))
    frame = _read(args, wanted)
    data = pd.DataFrame({"case_id": frame[args.item], "reviewer_id": frame[args.rater],
                         "label": binary_labels(frame[args.label], args.positive_label,
                                                args.label)})
    for name, col in optional:
        if col:
            data[name] = frame[col]
    if args.model_decision:
        data["model_decision"] = binary_labels(frame[args.model_decision],
                                               args.positive_label, args.model_decision)
    if args.truth:
        known = frame[args.truth].notna()
        data["truth"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
        data.loc[known, "truth"] = binary_labels(frame.loc[known, args.truth],
                                                 args.positive_label, args.truth)
    if args.model_shown:
        data["model_shown"] = frame[args.model_shown].astype(bool)
    groups = (rater_groups_of(frame, args.rater, args.rater_group) if args.rater_group
              else None)
    result = reviewer_report(data, rater_groups=groups, n_boot=args.n_boot,
                             random_state=args.seed)
    emit_json(result, args.json, reviewers_text(result))
    return EXIT_OK


def reviewers_text(result: dict[str, Any]) -> str:
    """Return the plain-text summary of ``fairpanel reviewers``: counts, then who.

    Each line says what is counted, so a reviewer id is never read as a count.

    Examples
    --------
    >>> print(reviewers_text({"reviewers": [{"reviewer_id": "4", "flagged": True},
    ...                                     {"reviewer_id": "5", "flagged": False}],
    ...                       "interactions": [], "automation_bias": None}))
    2 reviewers
    reviewers flagged for severity: 1 of 2 (reviewer 4)
    reviewer-group x subject-group cells flagged: 0 of 0
    """
    reviewers, cells = result["reviewers"], result["interactions"]
    flagged = [str(r["reviewer_id"]) for r in reviewers if r["flagged"]]
    flagged_cells = [f"{i['rater_group']} x {i['subject_group']}" for i in cells
                     if i["flagged"]]
    who = ("" if not flagged else
           f" (reviewer {flagged[0]})" if len(flagged) == 1 else
           f" (reviewers {', '.join(flagged)})")
    lines = [f"{len(reviewers)} reviewers",
             f"reviewers flagged for severity: {len(flagged)} of {len(reviewers)}{who}",
             f"reviewer-group x subject-group cells flagged: {len(flagged_cells)} of "
             f"{len(cells)}" + (f" ({', '.join(flagged_cells)})" if flagged_cells else "")]
    bias = result["automation_bias"]
    if bias is not None:
        lines.append(f"automation bias: {_fmt(bias['value'])} [{_fmt(bias['ci_low'])}, "
                     f"{_fmt(bias['ci_high'])}]")
    return "\n".join(lines)


def binary_labels(values: pd.Series, positive: str | None, column: str) -> pd.Series:
    """Return labels as 0/1: ``positive`` (compared as text) is 1; else they must be 0/1.

    Examples
    --------
    >>> import pandas as pd
    >>> binary_labels(pd.Series(["yes", "no"]), "yes", "decision").tolist()
    [1, 0]
    """
    import pandas as pd

    if positive is not None:
        text = values.astype(str)
        if not (text == str(positive)).any():
            raise ValueError(MSG_POSITIVE_ABSENT.format(value=positive, column=column))
        return (text == str(positive)).astype("int64")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or not numbers.isin([0, 1]).all():
        shown = sorted({str(v) for v in values.unique()})[:5]
        raise ValueError(MSG_NOT_BINARY.format(column=column, values=shown))
    return numbers.astype("int64")


def rater_groups_of(frame: pd.DataFrame, rater: str, column: str) -> dict[Any, str]:
    """Return reviewer -> group from a column that must be constant per reviewer."""
    groups = frame.groupby(rater)[column].unique()
    for reviewer, values in groups.items():
        if len(values) != 1:
            raise ValueError(MSG_GROUP_VARIES.format(rater=reviewer, column=column,
                                                     values=list(values)))
    return {reviewer: str(values[0]) for reviewer, values in groups.items()}


def _read(args: argparse.Namespace, columns: list[tuple[str, str]]) -> pd.DataFrame:
    from audits.data.datasets import read_table

    frame = read_table(Path(args.ratings))
    for column, role in columns:
        if column not in frame.columns:
            raise ValueError(MSG_COLUMN.format(column=column, role=role, path=args.ratings,
                                               present=", ".join(map(str, frame.columns))))
    return frame



def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"
