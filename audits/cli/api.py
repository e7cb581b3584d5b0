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
    api.set_defaults(func=_cmd_api)


def _cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from audits.api.app import create_app
    from audits.store.db import default_database_url

    print(f"fairpanel decision API on http://{args.host}:{args.port} "
          f"(docs at /docs); Ctrl-C stops it", flush=True)
    uvicorn.run(create_app(url=default_database_url()), host=args.host, port=args.port,
                log_level="warning")
    return EXIT_OK
