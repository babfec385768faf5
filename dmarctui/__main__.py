"""`python -m dmarctui`."""

from dmarctui.cli import main

raise SystemExit(main())
