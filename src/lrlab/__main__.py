"""``python -m lrlab``: the same as the ``lrlab`` command."""

from __future__ import annotations

from lrlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
