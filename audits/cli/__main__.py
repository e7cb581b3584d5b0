"""``python -m audits.cli``: the ``fairpanel`` command."""

from audits.cli.command import main

raise SystemExit(main())
