"""Subcommands of ``lrlab`` too large for ``cli.py``: each module holds its argument setup and
its ``run``, and imports torch only inside ``run``."""
