"""``ablate list``, ``ablate ui`` and ``ablate dashboard``: what is registered, and the two
web views over a study (MLflow's UI, optuna-dashboard)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ablate.errors import AblateError


def saved_views(uri: str, base: str) -> list[str]:
    """Links to each study's saved comparison view (written by its report)."""
    from ablate import tracking as T
    from ablate.report import views

    try:
        c = T.client(uri)
        exps = c.search_experiments()
    except Exception:  # noqa: BLE001  (an empty or new store: no views yet)
        return []
    lines = []
    for e in exps:
        for tag in sorted(e.tags):
            if tag.startswith(views.TAG_PREFIX + "ablate-"):
                key = tag[len(views.TAG_PREFIX) :]
                lines.append(f"  {e.name} / {key[7:]}: {views.url(base, e.experiment_id, key)}")
    if lines:
        lines.insert(0, "Each study's configurations, compared (open a link once the UI is up):")
    return lines


def list_command(args) -> int:
    from ablate.plugins import load_plugins
    from ablate.registry import ALL

    load_plugins()
    for kind, reg in ALL.items():
        print(f"{kind}: {', '.join(reg.names())}")
    return 0


def dashboard_command(args) -> int:
    import shutil

    from ablate import tracking as T
    from ablate.study.adapter import DEFAULT_STORAGE, db_url

    storage = db_url(args.storage or DEFAULT_STORAGE)
    exe = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    if exe is None:
        raise AblateError("optuna-dashboard is not installed: pip install 'ablate[dashboard]'")
    print(f"optuna-dashboard on http://127.0.0.1:{args.port} over {T.mask_url(storage)} "
          "(Ctrl-C stops it)", flush=True)  # fmt: skip
    os.execv(exe, [exe, storage, "--host", "127.0.0.1", "--port", str(args.port)])
    return 0  # not reached


def ui_command(args) -> int:
    from ablate import tracking as T

    uri = T.tracking_uri(args.tracking_uri)
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
    ]
    print(f"MLflow UI on http://127.0.0.1:{args.port} over {T.mask_url(uri)} (Ctrl-C stops it)")
    for line in saved_views(uri, f"http://127.0.0.1:{args.port}"):
        print(line)
    os.execv(sys.executable, cmd)
    return 0  # not reached
