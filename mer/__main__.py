"""`python -m mer COMMAND ...` is the `mer` command."""

from .cli import main

raise SystemExit(main())
