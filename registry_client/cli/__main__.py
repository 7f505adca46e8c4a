"""``python -m registry_client.cli``: the ``registry`` command without its script."""

from registry_client.cli import main

raise SystemExit(main())
