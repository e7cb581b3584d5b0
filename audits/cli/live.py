"""``fairpanel live set|show``: a system's live policy and webhook.

``live set SYSTEM`` stores how the system's live decisions are held (each option of
:class:`audits.live.policy.LivePolicy`; the ones not given keep their stored or default
value) and where its final decisions are posted (``--webhook URL``, ``--notify
held|all``); a new URL's signing secret is printed once (``--json -`` prints
``{"system", "policy", "webhook_url", "notify", "secret"}``). ``live show SYSTEM``
prints the settings, never the secret.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from audits.cli.common import EXIT_OK, emit_json, group_help, open_store
from audits.cli.signoff import acting_user, add_acting_options

__all__ = ["add_live_parser"]

#: LivePolicy fields settable here, with their types (for argparse) and help.
_FIELDS: dict[str, tuple[type, str]] = {
    "low_confidence_margin": (float, "hold a decision whose score is this close to the "
                                     "threshold"),
    "random_rate": (float, "share held at random as a control, in [0, 1]"),
    "random_state": (int, "seed of the control's draw"),
    "reviews_per_day": (float, "the review budget: held decisions per day"),
    "burst": (float, "the most the budget saves up (default: one day's)"),
    "sla_hours": (float, "hours with the panel before the lead is asked"),
    "lead_hours": (float, "hours with the lead before the fallback"),
}


def add_live_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``fairpanel live``."""
    live = sub.add_parser("live", help="a system's live policy and webhook",
                          description="Set or show how a system's live decisions are held "
                                      "for a person, and where final decisions are posted.")
    lsub = live.add_subparsers(title="live commands", metavar="ACTION")
    set_ = lsub.add_parser("set", help="set the live policy and webhook",
                           description="Store a system's live policy (options not given "
                                       "keep their stored or default value) and webhook. "
                                       "A new webhook URL gets a signing secret, printed "
                                       "once.")
    set_.add_argument("system", help="the system")
    for name, (kind, text) in _FIELDS.items():
        set_.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help=text)
    set_.add_argument("--no-counterfactual", action="store_true",
                      help="do not hold decisions that flip with the group")
    set_.add_argument("--attribution-min-share", type=float, default=None,
                      help="hold decisions whose SHAP attribution on sensitive features and "
                           "proxies is at least this share (one SHAP per decision)")
    set_.add_argument("--when-spent", choices=["auto", "hold"], default=None,
                      help="with the budget spent: decide automatically (marked unreviewed: "
                           "budget) or hold anyway")
    set_.add_argument("--fallback", choices=["model", "positive", "negative"], default=None,
                      help="what takes effect when nobody decides in time")
    hook = set_.add_mutually_exclusive_group()
    hook.add_argument("--webhook", metavar="URL", default=None,
                      help="post final decisions here, signed (HMAC-SHA256)")
    hook.add_argument("--no-webhook", action="store_true", help="stop posting")
    set_.add_argument("--notify", choices=["held", "all"], default=None,
                      help="which final decisions are posted (default held)")
    set_.add_argument("--new-secret", action="store_true",
                      help="a new signing secret for the same URL")
    set_.add_argument("--json", metavar="PATH|-", default=None,
                      help="write the settings (and a new secret) as JSON to PATH or -")
    add_acting_options(set_, who="a data scientist or an admin")
    set_.set_defaults(func=_cmd_set)
    show = lsub.add_parser("show", help="show the live settings (never the secret)",
                           description="Print a system's live policy and webhook.")
    show.add_argument("system", help="the system")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=_cmd_show)
    live.set_defaults(func=lambda a: group_help(live))


def _cmd_set(args: argparse.Namespace) -> int:
    from audits.live.policy import LivePolicy
    from audits.live.stored import configure_live

    with open_store() as store:
        current = store.live_settings(args.system)
        values: dict[str, Any] = dict(current.policy) if current is not None else {}
        for name in (*_FIELDS, "attribution_min_share", "when_spent", "fallback"):
            given = getattr(args, name)
            if given is not None:
                values[name] = given
        if args.no_counterfactual:
            values["counterfactual"] = False
        policy = LivePolicy(**values)
        url = None if args.no_webhook else (args.webhook or (current.webhook_url
                                                             if current else None))
        notify = args.notify or (current.notify if current else "held")
        saved = configure_live(store, acting_user(store, args), args.system, policy,
                               webhook_url=url, notify=notify, new_secret=args.new_secret)
    result = {"system": saved.system, "policy": saved.policy, "webhook_url": saved.webhook_url,
              "notify": saved.notify, "secret": saved.secret}
    text = _text(result)
    if saved.secret:
        text += ("\nwebhook signing secret (shown once; the receiver checks "
                 f"X-Fairpanel-Signature with it):\n{saved.secret}")
    emit_json(result, args.json, text)
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from audits.live.policy import LivePolicy

    with open_store() as store:
        saved = store.live_settings(args.system)
    result = {"system": args.system,
              "policy": saved.policy if saved and saved.policy else LivePolicy().to_dict(),
              "webhook_url": saved.webhook_url if saved else None,
              "notify": saved.notify if saved else "held", "stored": saved is not None}
    print(json.dumps(result, indent=2) if args.json else _text(result))
    return EXIT_OK


def _text(result: dict[str, Any]) -> str:
    policy = ", ".join(f"{k}={v}" for k, v in result["policy"].items())
    hook = result["webhook_url"] or "none"
    return (f"system {result['system']!r}: {policy}\nwebhook: {hook} "
            f"(posts {result['notify']} final decisions)")
