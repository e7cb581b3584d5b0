"""``fairpanel conversations``: a chatbot's conversations as a system in the store.

``conversations add NAME LOG`` registers a conversation log (JSON Lines or Parquet) as a
system, or ingests a batch into it (:func:`audits.conversations.register_conversations`);
``conversations queue NAME`` queues the conversations that need a person under a budget,
stratified by user group, optionally with counterfactual probes of an OpenAI-compatible
endpoint (``--probe-swap``, the endpoint named by ``FAIRPANEL_PROBE_URL`` and
``FAIRPANEL_PROBE_MODEL``); ``conversations findings NAME`` prints the bot's rates per
group, the judge's scores, the judge against the panel and the knowledge gaps;
``conversations export NAME --out PATH`` writes the reviewed conversations as a
fine-tuning (or ``--evaluation``) set in JSON Lines; ``conversations probe NAME`` probes
without queueing. JSON contracts: docs/json-contracts.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from audits.cli.common import EXIT_OK, ProgressBar, emit_json, group_help, open_store
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_conversations_parsers"]

MSG_SWAP = ("--swap takes FROM=TO (a word or phrase of the user's, and its counterpart); "
            "got {value!r}")
MSG_NO_ENDPOINT = (
    "no endpoint to probe: set FAIRPANEL_PROBE_URL (an OpenAI-compatible base URL, e.g. "
    "http://127.0.0.1:8000/v1) and FAIRPANEL_PROBE_MODEL; probing is optional"
)
MSG_NOTHING_TO_PROBE = "no conversation of {name!r} has a user turn that the swaps change"
MSG_RUBRIC_FILE = "--rubric {path}: {error}"


def add_conversations_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]
                              ) -> None:
    """Register ``conversations add|queue|findings|export|probe``."""
    group = sub.add_parser(
        "conversations", help="a chatbot's conversations: register, queue, findings, export",
        description="A conversation system is a chatbot's log registered like any system: "
                    "queued for review by escalation and QA signals, rated with a rubric, "
                    "its bot and its LLM judge audited across the users.")
    gsub = group.add_subparsers(title="conversations commands", metavar="ACTION")

    add = gsub.add_parser("add", help="register a conversation log, or ingest a batch",
                          description="Register a log (.jsonl or .parquet) as system NAME, "
                                      "or add a batch's new conversations to it as a new "
                                      "version (one seen before unchanged is skipped, "
                                      "changed is refused).")
    add.add_argument("name", metavar="NAME", help="the conversation system")
    add.add_argument("log", metavar="LOG", help="a conversation log (.jsonl or .parquet)")
    add.add_argument("--rubric", metavar="FILE.json",
                     help="the rubric: a JSON list of criteria {name, question, kind "
                          "(scale|yes_no), low, high, pass_at, bad_answer} (default: "
                          "correct, follows_policy, tone, harmful)")
    add.add_argument("--description", default="", help="what the bot is")
    add.add_argument("--json", metavar="PATH|-", help="write the JSON ('-' for stdout)")
    add_acting_options(add, who="a data scientist or admin")
    add.set_defaults(func=_cmd_add)

    queue = gsub.add_parser("queue", help="queue the conversations that need a person",
                            description="Run the version's fairness audit (the escalation "
                                        "rate per user group) and queue its conversations "
                                        "by the escalation and QA signals under a budget, "
                                        "stratified by user group (built once).")
    queue.add_argument("name", metavar="NAME", help="the conversation system")
    queue.add_argument("--budget", type=int, default=100, help="cases to queue (100)")
    queue.add_argument("--seed", type=int, default=0, help="seed of the draws (0)")
    _probe_options(queue, required=False)
    queue.add_argument("--json", metavar="PATH|-", help="write the JSON ('-' for stdout)")
    add_acting_options(queue, who="a data scientist or admin")
    queue.set_defaults(func=_cmd_queue)

    found = gsub.add_parser("findings", help="the bot across its users, and its judge",
                            description="The bot's escalation, resolution and hand-over "
                                        "rates per user group and intersection (intervals, "
                                        "ratios, verdicts), the judge's mean scores per "
                                        "group, the judge against the panel and the "
                                        "knowledge gaps.")
    found.add_argument("name", metavar="NAME", help="the conversation system")
    found.add_argument("--by", metavar="ATTRIBUTE",
                       help="the user attribute compared (default: the system's first)")
    found.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (1000)")
    found.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    found.add_argument("--json", metavar="PATH|-", help="write the JSON ('-' for stdout)")
    add_acting_options(found, who="anyone who may read panel aggregates")
    found.set_defaults(func=_cmd_findings)

    export = gsub.add_parser("export", help="the reviewed conversations as a JSONL set",
                             description="Write the reviewed conversations as a chat "
                                         "fine-tuning set (the panel's corrected answers, "
                                         "rubric scores and lineage) or an evaluation set.")
    export.add_argument("name", metavar="NAME", help="the conversation system")
    export.add_argument("--out", required=True, metavar="PATH", help="the .jsonl file")
    export.add_argument("--evaluation", action="store_true",
                        help="every reviewed conversation with its reference answer and "
                             "verdict, instead of the fine-tuning set")
    add_acting_options(export, who="a panel lead or admin")
    export.set_defaults(func=_cmd_export)

    probe = gsub.add_parser("probe", help="replay conversations with a user attribute "
                                          "swapped",
                            description="Replay conversations to an OpenAI-compatible "
                                        "endpoint with a user's name or dialect marker "
                                        "swapped and report those whose answers differ "
                                        "beyond sampling noise (permutation test, "
                                        "Benjamini-Yekutieli across conversations).")
    probe.add_argument("name", metavar="NAME", help="the conversation system")
    _probe_options(probe, required=True)
    probe.add_argument("--json", metavar="PATH|-", help="write the JSON ('-' for stdout)")
    add_acting_options(probe, who="a data scientist or admin")
    probe.set_defaults(func=_cmd_probe)
    group.set_defaults(func=lambda _args: group_help(group))


def _probe_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--probe-swap" if not required else "--swap", dest="swap",
                        action="append", metavar="FROM=TO", required=required,
                        help="a word or phrase of the user's and its counterpart (repeat); "
                             "needs FAIRPANEL_PROBE_URL and FAIRPANEL_PROBE_MODEL")
    parser.add_argument("--probe-limit", dest="probe_limit", type=int, default=20,
                        metavar="N", help="conversations to probe at most (20)")
    parser.add_argument("--probe-samples", dest="probe_samples", type=int, default=8,
                        metavar="N", help="answers sampled per version (8)")


def _cmd_add(args: argparse.Namespace) -> int:
    from audits.conversations.rubric import Rubric
    from audits.conversations.stored import load_conversations, register_conversations

    rubric = None
    if args.rubric is not None:
        try:
            rubric = Rubric.from_list(json.loads(Path(args.rubric).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(MSG_RUBRIC_FILE.format(path=args.rubric, error=error)) from error
    progress = ProgressBar(sys.stderr)
    with open_store() as store:
        actor = acting_user(store, args)
        before = {s.name for s in store.list_systems()}
        version = register_conversations(store, actor, args.name, Path(args.log),
                                         rubric=rubric, description=args.description,
                                         progress=progress)
        held = len(load_conversations(store, actor, version))
    result = {"system": args.name, "version": version.version, "conversations": held,
              "created_system": args.name not in before, "dataset_sha256": version.sha256,
              "rubric": dict(version.roles)["conversations"]["rubric"]}
    emit_json(result, args.json, f"{args.name} version {version.version}: {held:,} "
                                 "conversations")
    return EXIT_OK


def _cmd_queue(args: argparse.Namespace) -> int:
    from audits.conversations.stored import build_conversation_queue
    from audits.flagging.policy import CONVERSATION_QUOTAS, FlagPolicy

    progress = ProgressBar(sys.stderr)
    policy = FlagPolicy(budget=args.budget, quotas=CONVERSATION_QUOTAS,
                        random_state=args.seed)
    with open_store() as store:
        actor = acting_user(store, args)
        probes = _probes(store, actor, args, progress) if args.swap else []
        queue = build_conversation_queue(store, actor, args.name, policy=policy,
                                         probes=probes, progress=progress)
    by_reason: dict[str, int] = {}
    for case in queue.cases:
        by_reason[case.primary_reason] = by_reason.get(case.primary_reason, 0) + 1
    result = {"system": args.name, "audit_run_id": queue.audit_run.id,
              "created": queue.created, "cases": len(queue.cases),
              "by_reason": dict(sorted(by_reason.items())),
              "by_group": _count(c.subject_group for c in queue.cases),
              "flagged_by_reason": queue.summary.get("flagged_by_reason", {}),
              "probed": len(probes), "probes_held": sum(p.held for p in probes),
              "policy": queue.policy.as_dict()}
    lines = [f"{'Queued' if queue.created else 'Already queued'} {len(queue.cases)} "
             f"conversations of {args.name} (audit run {queue.audit_run.id})"]
    lines += [f"  {k:<20} {v:>5}" for k, v in result["by_reason"].items()]
    emit_json(result, args.json, "\n".join(lines))
    return EXIT_OK


def _cmd_findings(args: argparse.Namespace) -> int:
    from audits.conversations.findings import conversation_findings

    progress = ProgressBar(sys.stderr)
    with open_store() as store:
        actor = acting_user(store, args)
        found = conversation_findings(store, actor, args.name, by=args.by,
                                      n_boot=args.n_boot, random_state=args.seed,
                                      progress=progress)
    result = found.to_dict()
    emit_json(result, args.json, _findings_text(result))
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from audits.conversations.feedback import write_jsonl
    from audits.conversations.findings import reviewed_records

    with open_store() as store:
        actor = acting_user(store, args)
        records = reviewed_records(store, actor, args.name, evaluation=args.evaluation)
    count = write_jsonl(records, Path(args.out))
    print(f"Wrote {count} {'evaluation' if args.evaluation else 'fine-tuning'} records of "
          f"{args.name} to {args.out}")
    return EXIT_OK


def _cmd_probe(args: argparse.Namespace) -> int:
    progress = ProgressBar(sys.stderr)
    with open_store() as store:
        actor = acting_user(store, args)
        probes = _probes(store, actor, args, progress)
    result = {"system": args.name, "probed": len(probes),
              "held": sum(p.held for p in probes),
              "results": [p.to_dict() for p in probes]}
    lines = [f"{result['held']} of {len(probes)} probed conversations of {args.name} answered "
             "differently beyond sampling noise"]
    lines += [f"  {p.conversation_id}: adjusted p {p.p_adjusted:.2g}" for p in probes
              if p.held]
    emit_json(result, args.json, "\n".join(lines))
    return EXIT_OK


def _probes(store: Any, actor: Any, args: argparse.Namespace, progress: ProgressBar) -> list[Any]:
    """Probe the conversations of the system's latest version the swaps change."""
    from audits.conversations.probing import Endpoint, probe_conversations, swap_attribute
    from audits.conversations.stored import conversation_version, load_conversations

    swaps = [_swap(value) for value in args.swap]
    endpoint = Endpoint.from_env()
    if endpoint is None:
        raise ValueError(MSG_NO_ENDPOINT)
    log = load_conversations(store, actor, conversation_version(store, args.name))
    chosen: dict[str, Any] = {}
    for cid, turns in sorted(log.turns.items()):
        if len(chosen) >= args.probe_limit:
            break
        if any(t.role == "assistant" for t in turns):
            try:
                swap_attribute(turns, swaps)
            except ValueError:
                continue
            chosen[cid] = turns
    if not chosen:
        raise ValueError(MSG_NOTHING_TO_PROBE.format(name=args.name))
    return probe_conversations(endpoint, chosen, swaps, n_samples=args.probe_samples,
                               random_state=getattr(args, "seed", 0), progress=progress)


def _swap(value: str) -> tuple[str, str]:
    before, sep, after = value.partition("=")
    if not sep or not before.strip() or not after.strip():
        raise ValueError(MSG_SWAP.format(value=value))
    return before.strip(), after.strip()


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return dict(sorted(counts.items()))


def _findings_text(result: dict[str, Any]) -> str:
    lines = [f"{result['system']} version {result['version']}: {result['conversations']:,} "
             f"conversations, {result['rated']:,} rated by the panel; groups by {result['by']}"]
    groups = set(result["groups"])
    for row in result["rates"]:
        if row["group"] in groups and row["verdict"] == "fail":
            lines.append(f"  FAIL {row['rate']} for {row['group']}: {row['value']:.1%} "
                         f"[{row['ci_low']:.1%}, {row['ci_high']:.1%}], ratio "
                         f"{row['ratio']:.2f} to {row['reference']}")
    judges = result["judges"]
    if judges is None:
        lines.append("  the judge is not compared with the panel yet (too few ratings)")
    else:
        for row in judges["bias"]:
            if row["p_adjusted"] is not None and row["p_adjusted"] < 0.05:
                lines.append(f"  the judge's {row['criterion']} scores for {row['group']} are "
                             f"{row['offset']:+.2f} from the panel's (adjusted p "
                             f"{row['p_adjusted']:.2g})")
    for row in result["knowledge_gaps"][:3]:
        lines.append(f"  knowledge gap: {row['intent']}, {row['needs_correction']} of "
                     f"{row['reviewed']} reviewed answers need correcting")
    return "\n".join(lines)
