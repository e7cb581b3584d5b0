"""``fairpanel judges``: an LLM judge held to the panel's standard, per user group.

``fairpanel judges LOG --ratings CSV --by ATTRIBUTE`` reads a conversation log (its
``judge`` scores) and the panel's rubric ratings (a long CSV: ``conversation_id,
reviewer_id, criterion, score``) and prints, per criterion and per group of the user
attribute, the judge-panel agreement, the alternative annotator test and the judge's
offset from the panel (:func:`audits.raters.judges.judge_analysis`).
``fairpanel judges --simulated --by dialect`` runs it on the bundled simulated
conversations and their simulated panel; ``fairpanel judges --system NAME --by ATTRIBUTE``
on a registered conversation system and its panel's rubric ratings in the store (the JSON
then also names the ``system``, its ``version`` and the queue's ``audit_run_id``). A
``judge_shown`` column in the ratings (true where the reviewer saw the judge's scores,
randomised) adds the reviewers' automation bias. ``--json -`` prints ``{"by", "judges",
"conversations", "rated", "agreement", "alt_test", "bias", "automation", "config"}``
(README, "Conversations").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from audits.cli.common import EXIT_OK, ProgressBar, emit_json, open_store
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_judges_parser"]

MSG_SOURCE = "give one of: LOG with --ratings CSV, --simulated, or --system NAME"
#: The simulated panel's reviewers copy the judge's score of a criterion this often when
#: they were shown it (datasets/conversations.md).
SIMULATED_AUTOMATION_BIAS = 0.3
MSG_NEED_RATINGS = "LOG needs --ratings CSV (the panel's ratings)"
MSG_NO_JUDGE = "{where} holds no judge scores (a record's judge.scores)"


def add_judges_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``fairpanel judges``."""
    p = sub.add_parser(
        "judges", help="hold an LLM judge to the panel's standard, per user group",
        description="Agreement of the judge with the panel (ordinal Krippendorff's alpha "
                    "with bootstrap intervals), the alternative annotator test (can the "
                    "judge replace a reviewer? Benjamini-Yekutieli over reviewers) and "
                    "the judge's offset from the panel, per criterion, over all "
                    "conversations and per group of a user attribute.")
    p.add_argument("log", metavar="LOG", nargs="?", default=None,
                   help="a conversation log (.jsonl or .parquet) holding the judge's scores")
    p.add_argument("--ratings", metavar="CSV",
                   help="the panel's ratings: conversation_id, reviewer_id, criterion, score"
                        " (and judge_shown, for automation bias)")
    p.add_argument("--simulated", action="store_true",
                   help="the bundled simulated conversations and their simulated panel")
    p.add_argument("--system", metavar="NAME",
                   help="a registered conversation system and its panel's ratings in the store")
    p.add_argument("--by", required=True, metavar="ATTRIBUTE",
                   help="the user attribute whose groups are compared (e.g. language)")
    p.add_argument("--criteria", nargs="+", metavar="NAME",
                   help="the criteria to analyse (default: all the judge and panel share)")
    p.add_argument("--epsilon", type=float, default=0.2,
                   help="the alternative annotator test's tolerance (default 0.2)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    p.add_argument("--json", metavar="PATH|-", help="write the JSON ('-' for stdout)")
    add_acting_options(p, who="anyone who may read panel aggregates, with --system")
    p.set_defaults(func=_cmd_judges)


def _cmd_judges(args: argparse.Namespace) -> int:
    import pandas as pd

    from audits.conversations.records import read_conversations
    from audits.conversations.simulated import (
        bundled_conversations,
        simulate_conversations,
        simulated_panel_ratings,
    )
    from audits.raters.judges import judge_analysis

    if sum((args.log is not None, bool(args.simulated), args.system is not None)) != 1:
        raise ValueError(MSG_SOURCE)
    progress = ProgressBar(sys.stderr)
    if args.system is not None:
        stored = _of_system(args, progress)
        emit_json(stored, args.json, _text(stored))
        return EXIT_OK
    progress(0.05, "Reading the conversations and the ratings")
    if args.simulated:
        conversations = bundled_conversations()
        panel = simulated_panel_ratings(simulate_conversations(2_000, seed=0),
                                        automation_bias=SIMULATED_AUTOMATION_BIAS)
        where = "the simulated conversations"
    else:
        if args.ratings is None:
            raise ValueError(MSG_NEED_RATINGS)
        conversations = read_conversations(Path(args.log))
        panel = pd.read_csv(args.ratings)
        where = str(args.log)
    frame = conversations.frame
    if not conversations.judge_criteria:
        raise ValueError(MSG_NO_JUDGE.format(where=where))
    if args.by not in frame.columns or args.by not in (
            *conversations.user_attributes, *conversations.demographics):
        raise ValueError(f"user attribute {args.by!r} is not in {where}; it has: "
                         + ", ".join([*conversations.user_attributes,
                                      *conversations.demographics]))
    judged = conversations.judge_scores()
    progress(0.2, "Agreement, the alternative annotator test and the judge's offset")
    found = judge_analysis(panel, judged, frame[args.by].fillna("<missing>"),
                           criteria=args.criteria, epsilon=args.epsilon,
                           n_boot=args.n_boot, random_state=args.seed)
    progress(1.0, "Done")
    result: dict[str, Any] = {
        "by": args.by, "judges": sorted(str(j) for j in frame["judge_name"].dropna().unique()),
        "conversations": len(frame), "rated": int(panel["conversation_id"].nunique()),
        **found.to_dict()}
    emit_json(result, args.json, _text(result))
    return EXIT_OK


def _of_system(args: argparse.Namespace, progress: ProgressBar) -> dict[str, Any]:
    from audits.conversations.findings import stored_judge_analysis

    if args.ratings is not None:
        raise ValueError(MSG_SOURCE)
    progress(0.05, f"Reading {args.system!r} and its panel's ratings")
    with open_store() as store:
        actor = acting_user(store, args)
        result = stored_judge_analysis(store, actor, args.system, by=args.by,
                                       criteria=args.criteria, epsilon=args.epsilon,
                                       n_boot=args.n_boot, random_state=args.seed)
    progress(1.0, "Done")
    return result


def _text(result: dict[str, Any]) -> str:
    lines = [f"{result['rated']:,} of {result['conversations']:,} conversations rated by "
             f"the panel; judge(s): {', '.join(result['judges'])}; groups by {result['by']}"]
    for row in result["alt_test"]:
        passes = {True: "can replace a reviewer", False: "not shown to replace a reviewer",
                  None: "not tested"}[row["passes"]]
        omega = "-" if row["omega"] is None else f"{row['omega']:.2f}"
        lines.append(f"  {row['criterion']}, {row['group']}: {passes} (omega {omega}, "
                     f"{row['n_conversations']} conversations, "
                     f"{row['median_per_reviewer']} per reviewer)")
    for row in result["automation"]:
        if row["group"] == "all conversations" and row["ci_low"] is not None \
                and row["ci_low"] > 0:
            lines.append(f"  reviewers shown the judge's {row['criterion']} verdict agree "
                         f"with it {row['value']:+.1%} more often [{row['ci_low']:+.1%}, "
                         f"{row['ci_high']:+.1%}]: they copy it in {row['copy_rate']:.0%} "
                         "of would-be disagreements")
    for row in result["bias"]:
        if row["p_adjusted"] is not None and row["p_adjusted"] < 0.05:
            lines.append(f"  the judge's {row['criterion']} scores for {row['group']} are "
                         f"{row['offset']:+.2f} from the panel's [{row['offset_ci_low']:+.2f}, "
                         f"{row['offset_ci_high']:+.2f}], {row['difference']:+.2f} against "
                         f"the other conversations (adjusted p {row['p_adjusted']:.2g})")
    return "\n".join(lines)
