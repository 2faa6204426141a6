"""``python tests/loaded.py ARGS``: the ``ablate ARGS`` command in this interpreter, then, on a
line of its own, which of torch, torchvision and optuna it loaded (``parse`` reads it back).
Used by tests/test_floors.py and bench/startup.py."""

from __future__ import annotations

import json
import sys

HEAVY = ("torch", "torchvision", "optuna")
PREFIX = "LOADED "


def parse(stdout: str) -> list[str]:
    """The heavy modules the command loaded, from its output."""
    return json.loads(stdout.split(PREFIX)[-1])


if __name__ == "__main__":
    from ablate.cli import main

    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:  # --help
        code = exc.code
    print(PREFIX + json.dumps(sorted(m for m in HEAVY if m in sys.modules)))
    sys.exit(code)
