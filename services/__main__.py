"""``python -m services`` is the ``mes-sandbox`` command."""

from services.cli import main

raise SystemExit(main())
