"""``python -m ebmlab.cli ...``: the ``ebmlab`` command."""

from ebmlab.cli import main

raise SystemExit(main())
