"""``ablate sweep | confirm | run | report | list | ui | dashboard``.

Each command's code is imported when it runs (:mod:`.sweep`, :mod:`.report`, :mod:`.run`,
:mod:`.serve`): ``ablate --help``, ``ablate report`` and ``ablate ui`` load neither torch nor
optuna. Errors of the user's input are one line and exit 2; a bug prints its traceback (with
any password in a URL masked) and exits 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import importlib
import sys

from ablate.cli.parser import parser
from ablate.errors import AblateError

__all__ = ["main"]

# command -> (module of ablate.cli, function)
COMMANDS = {"sweep": ("sweep", "sweep"), "confirm": ("sweep", "confirm"), "run": ("run", "run"),
            "report": ("report", "report"), "list": ("serve", "list"), "ui": ("serve", "ui"),
            "dashboard": ("serve", "dashboard")}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        module, name = COMMANDS[args.command]
        command = getattr(importlib.import_module(f"ablate.cli.{module}"), f"{name}_command")
        return command(args)
    except AblateError as exc:
        print(f"ablate: error: {_masked(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        why = getattr(exc, "name", "SIGINT")
        print(f"ablate: interrupted ({why}); run the same command again to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    except Exception:  # noqa: BLE001  (a bug: show it, but never a password in it)
        import traceback

        print(_masked(traceback.format_exc()), file=sys.stderr, end="")
        return 1


def _masked(text) -> str:
    from ablate.tracking.store import mask_url

    return mask_url(str(text))
