"""``fairpanel api``: the decision API over this store (FastAPI on uvicorn).

Serves ``POST /v1/systems/{system}/decisions`` and ``GET /v1/decisions/{id}`` with
bearer tokens from ``fairpanel tokens create``, the OpenAPI document at
``/openapi.json`` and its pages at ``/docs`` (offline). Binds 127.0.0.1 unless told
otherwise; stops on Ctrl-C.
"""

from __future__ import annotations

import argparse

from audits.cli.common import EXIT_OK

__all__ = ["add_api_parser"]


def add_api_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``fairpanel api``."""
    api = sub.add_parser("api", help="serve the decision API (live decisions held for a "
                                     "person)",
                         description="Serve the decision API over this store: services send "
                                     "decisions before they take effect and read their "
                                     "final outcome; tokens come from fairpanel tokens "
                                     "create. OpenAPI at /openapi.json, pages at /docs.")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8800, help="port (default 8800)")
    api.add_argument("--rate", type=_positive, default=None, metavar="PER_SECOND",
                     help="requests per second each token may send (default 50; 429 beyond)")
    api.add_argument("--burst", type=_positive, default=None, metavar="N",
                     help="requests a token may send at once (default 100)")
    api.set_defaults(func=_cmd_api)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text!r}")
    return value


def _cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from audits.api.app import DEFAULT_BURST, DEFAULT_RATE, create_app
    from audits.store.db import default_database_url

    print(f"fairpanel decision API on http://{args.host}:{args.port} "
          f"(docs at /docs); Ctrl-C stops it", flush=True)
    app = create_app(url=default_database_url(),
                     rate=DEFAULT_RATE if args.rate is None else args.rate,
                     burst=DEFAULT_BURST if args.burst is None else args.burst)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK
