"""``fairpanel panel``: the stored reviewer panel from the command line.

``panel add USER`` puts an existing reviewer-role user on the panel (with a consented
background when given); ``panel assign --audit ID`` assigns the audit's queued cases
(:func:`audits.panel.stored.assign_queue`); ``panel analyse --audit ID`` measures the
stored ratings (:func:`audits.raters.stored.analyse_panel`) and writes them in the very
contracts of ``fairpanel agreement`` and ``fairpanel reviewers``, which read a CSV
instead (:mod:`audits.cli.panel`). The JSON contracts are in docs/json-contracts.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from audits.cli.common import (
    EXIT_OK,
    ProgressBar,
    emit_json,
    group_help,
    open_store,
)
from audits.cli.panel import reviewers_text
from audits.cli.qualifications import add_qualification_parsers
from audits.cli.signoff import acting_user, add_acting_options

if TYPE_CHECKING:
    import pandas as pd

    from audits.roles import Actor
    from audits.store import Store

__all__ = ["add_panel_store_parsers", "parse_background"]

MSG_BACKGROUND_FORM = "--background must look like KEY=VALUE; got {value!r}"
MSG_BACKGROUND_TWICE = "--background {key} is given twice"
MSG_NEEDS_CONSENT = (
    "--background is stored only with the reviewer's consent: add --consent once they "
    "have agreed (nothing was added)"
)
MSG_CONSENT_ALONE = "--consent goes with --background KEY=VALUE (what was consented to)"
MSG_BACKGROUND_KEY = "--background {key}: not an attribute of the background schema; choose " \
                     "one of: {choices}"
MSG_BACKGROUND_VALUE = "--background {key}={value!r} is not allowed; choose one of: {choices}"


def add_panel_store_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``panel add|assign|analyse|qualify|qualifications`` on the top-level
    subparsers."""
    panel = sub.add_parser("panel", help="the stored reviewer panel: add, assign, analyse",
                           description="The reviewer panel kept in the store: add reviewers, "
                                       "assign an audit's queued cases, analyse the ratings.")
    psub = panel.add_subparsers(title="panel commands", metavar="ACTION")
    add = psub.add_parser("add", help="put a reviewer-role user on the panel",
                          description="Put USER, an existing user with the reviewer role "
                                      "(fairpanel users add USER --role reviewer), on the "
                                      "panel. A background is stored only with --consent, "
                                      "apart from identity.")
    add.add_argument("username", metavar="USER")
    add.add_argument("--capacity", type=int, default=50, metavar="N",
                     help="most open assignments at a time (50)")
    add.add_argument("--expertise", action="append", default=[], metavar="X",
                     help="an area of expertise (repeat for several)")
    add.add_argument("--background", action="append", default=[], metavar="KEY=VALUE",
                     help="a self-reported background attribute, e.g. region=north "
                          "(repeat for several; needs --consent)")
    add.add_argument("--consent", action="store_true",
                     help="the reviewer consented to storing the background given")
    add_acting_options(add, who="a panel lead or admin")
    add.add_argument("--json", action="store_true", help="print JSON")
    add.set_defaults(func=_cmd_add)

    assign = psub.add_parser("assign", help="assign an audit's queued cases to the panel",
                             description="Assign every open case of audit ID's review queue "
                                         "that lacks reviewers, with overlap, diversity, "
                                         "workload and blinding (fairpanel queue build "
                                         "first). Cases already assigned keep theirs.")
    assign.add_argument("--audit", type=int, required=True, metavar="ID")
    assign.add_argument("--overlap", type=int, default=None, metavar="K",
                        help="reviewers per case (default: the audit's stored setting, else 3)")
    add_acting_options(assign, who="a panel lead or admin")
    assign.add_argument("--json", metavar="PATH|-", help="write the result as JSON")
    assign.set_defaults(func=_cmd_assign)

    analyse = psub.add_parser(
        "analyse", help="agreement and reviewer bias of an audit's stored ratings",
        description="Agreement (Krippendorff's alpha, Fleiss' kappa, Gwet's AC1, percent "
                    "agreement) and reviewer bias (severity, differential rater functioning "
                    "by background, automation bias) of audit ID's stored ratings, in the "
                    "JSON contracts of fairpanel agreement and fairpanel reviewers.")
    analyse.add_argument("--audit", type=int, required=True, metavar="ID")
    analyse.add_argument("--attribute", default="gender", metavar="KEY",
                         help="reviewer background compared (gender); groups under 5 "
                              "reviewers are never analysed")
    analyse.add_argument("--n-boot", type=int, default=500, help="bootstrap replicates (500)")
    analyse.add_argument("--seed", type=int, default=0, help="random seed (0)")
    add_acting_options(analyse, who="anyone who may read panel aggregates")
    analyse.add_argument("--json", metavar="PATH|-", help="write the result as JSON")
    analyse.set_defaults(func=_cmd_analyse)
    add_qualification_parsers(psub)
    panel.set_defaults(func=lambda _args: group_help(panel))


def parse_background(values: list[str]) -> dict[str, str]:
    """Return ``KEY=VALUE`` options as a mapping, refusing a malformed or repeated key.

    Examples
    --------
    >>> parse_background(["region=north", "age_band=30-44"])
    {'region': 'north', 'age_band': '30-44'}
    """
    out: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        key, item = key.strip(), item.strip()
        if not sep or not key or not item:
            raise ValueError(MSG_BACKGROUND_FORM.format(value=value))
        if key in out:
            raise ValueError(MSG_BACKGROUND_TWICE.format(key=key))
        out[key] = item
    return out


def _cmd_add(args: argparse.Namespace) -> int:
    background = parse_background(args.background)
    if background and not args.consent:
        raise ValueError(MSG_NEEDS_CONSENT)
    if args.consent and not background:
        raise ValueError(MSG_CONSENT_ALONE)
    with open_store() as store:
        actor = acting_user(store, args)
        _check_background(store.background_schema(), background)
        reviewer = store.add_reviewer(actor, args.username, expertise=args.expertise,
                                      capacity=args.capacity)
        if background:
            store.report_background(actor, args.username, background, consent=True)
    result = {"reviewer_id": reviewer.id, "username": reviewer.username,
              "capacity": reviewer.capacity, "expertise": list(reviewer.expertise),
              "background": sorted(background)}
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    told = f"; background given with consent: {', '.join(sorted(background))}" \
        if background else ""
    print(f"{reviewer.username} is on the panel (reviewer #{reviewer.id}, capacity "
          f"{reviewer.capacity}){told}")
    return EXIT_OK


def _check_background(schema: dict[str, list[str]], background: dict[str, str]) -> None:
    for key, value in background.items():
        if key not in schema:
            raise ValueError(MSG_BACKGROUND_KEY.format(key=key, choices=", ".join(schema)))
        if value not in schema[key]:
            raise ValueError(MSG_BACKGROUND_VALUE.format(key=key, value=value,
                                                         choices=", ".join(schema[key])))


def _cmd_assign(args: argparse.Namespace) -> int:
    import dataclasses

    from audits.panel.assignment import PanelConfig
    from audits.panel.stored import assign_queue

    with open_store() as store:
        actor = acting_user(store, args)
        if store.get_flag_policy(args.audit) is None:
            raise LookupError(f"audit run {args.audit} has no review queue: build it first "
                              f"(fairpanel queue build --audit {args.audit})")
        config = None
        if args.overlap is not None:
            stored = store.panel_config(args.audit)
            base = PanelConfig.from_dict(stored) if stored else PanelConfig()
            config = dataclasses.replace(base, overlap=args.overlap)
        done = assign_queue(store, actor, args.audit, config=config,
                            progress=ProgressBar(sys.stderr))
        names = {str(r.id): r.username for r in store.list_reviewers(actor)}
        overlap = int((store.panel_config(args.audit) or {}).get("overlap", 3))
    result = assignment_json(args.audit, overlap, done, names)
    text = (f"audit run {args.audit}: {result['n_new']} new assignments of "
            f"{result['n_cases']} cases to {len(result['workload'])} reviewers (overlap "
            f"{overlap}); {result['unfilled_cases']} cases short of reviewers")
    emit_json(result, args.json, text, default=str)
    return EXIT_OK


def assignment_json(audit_run_id: int, overlap: int, done: Any,
                    names: dict[str, str]) -> dict[str, Any]:
    """Return the JSON contract of ``fairpanel panel assign``."""
    table, workload = done.table, done.workload
    return {
        "audit_run_id": audit_run_id, "overlap": overlap, "n_new": len(table),
        "n_cases": int(table["case_id"].nunique()) if len(table) else 0,
        "unfilled_cases": len(done.unfilled),
        "mean_diversity": float(done.diversity["diversity"].mean())
        if len(done.diversity) else None,
        "assignments": [{"case_id": int(r.case_id),
                         "reviewer": names.get(str(r.reviewer_id), str(r.reviewer_id)),
                         "slot": int(r.slot), "kind": str(r.kind),
                         "model_shown": bool(r.model_shown),
                         "sensitive_shown": bool(r.sensitive_shown)}
                        for r in table.itertuples(index=False)],
        "workload": [{"reviewer": names.get(str(r.reviewer_id), str(r.reviewer_id)),
                      "assigned": int(r.assigned), "total": int(r.total),
                      "capacity": int(r.capacity)}
                     for r in workload.itertuples(index=False)],
    }


def _cmd_analyse(args: argparse.Namespace) -> int:
    from audits.raters.stored import analyse_panel

    with open_store() as store:
        actor = acting_user(store, args)
        analysis = analyse_panel(store, actor, args.audit, attribute=args.attribute,
                                 n_boot=args.n_boot, random_state=args.seed)
        reviewers = _reviewers(store, actor, args)
    agreement = analysis.agreement.to_dict()
    result = {"audit_run_id": args.audit, "attribute": args.attribute,
              "n_ratings": analysis.n_ratings, "n_cases": analysis.n_cases,
              "n_reviewers": analysis.n_reviewers,
              "simulated_share": analysis.simulated_share,
              "agreement": agreement, "reviewers": reviewers}
    lines = [f"audit run {args.audit}: {analysis.n_ratings} ratings of {analysis.n_cases} "
             f"cases by {analysis.n_reviewers} reviewers"]
    for name in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement"):
        est = agreement[name]
        lines.append(f"  {name:<20} {_fmt(est['value'])}  [{_fmt(est['ci_low'])}, "
                     f"{_fmt(est['ci_high'])}]")
    lines.append(reviewers_text(reviewers))
    emit_json(result, args.json, "\n".join(lines), default=str)
    return EXIT_OK


def _reviewers(store: Store, actor: Actor, args: argparse.Namespace) -> dict[str, Any]:
    """The ``fairpanel reviewers`` contract of the stored ratings (names, not ids).

    Per-reviewer severities are listed only for an actor who may read every rating
    (panel lead, admin, the command line); for the others ``reviewers`` is empty.
    """
    import pandas as pd

    from audits.raters.human_bias import reviewer_report
    from audits.roles import PERMISSIONS

    ratings = pd.DataFrame(store.ratings_for_analysis(actor, args.audit))
    full = actor.role in PERMISSIONS["read every rating"]
    names = ({r.id: r.username for r in store.list_reviewers(actor)} if full else {})
    groups = store.background_groups(actor, args.attribute)
    data = _report_columns(ratings)
    rater_groups = ({names.get(k, str(k)): v for k, v in groups.items()}
                    if len(set(groups.values())) > 1 else None)
    data["reviewer_id"] = [names.get(r, str(r)) for r in ratings["reviewer_id"]]
    result = reviewer_report(data, rater_groups=rater_groups, n_boot=args.n_boot,
                             random_state=args.seed)
    if not full:
        result["reviewers"] = []
    return result


def _report_columns(ratings: pd.DataFrame) -> pd.DataFrame:
    """The columns ``reviewer_report`` reads; the blind condition only when it varied."""
    data = ratings[["case_id", "reviewer_id", "label", "subject_group"]].copy()
    decision = ratings["model_decision"]
    if decision.notna().all() and ratings["model_shown"].nunique() == 2:
        data["model_shown"] = ratings["model_shown"].astype(bool)
        data["model_decision"] = decision.astype(int)
    return data



def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"

