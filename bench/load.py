"""Load: many drivers and workers on one study, then count duplicated cells and failures.

Runs ``--drivers`` ``ablate sweep`` commands at once, each in its own working directory with
``--workers`` worker processes, on one grid study of tiny runs (so that the stores, not the
training, are what is loaded), against either

- ``sqlite``: one ``optuna.db`` and one ``mlflow.db`` shared by all drivers (one machine), or
- ``postgres``: a PostgreSQL database for Optuna and an ``mlflow server`` over PostgreSQL (the
  scale-out set-up), both started here from pip wheels (tests/servers.py).

Prints one line: processes, cells, duplicated cells, failed runs, wall time.

    python bench/load.py --backend postgres --drivers 4 --workers 3
"""

from __future__ import annotations

import argparse
import collections
import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import TINY  # noqa: E402

from ablate import tracking as T  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--drivers", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--configs", type=int, default=11)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ablate-load-"))
    raw = copy.deepcopy(TINY)
    raw["train"]["epochs"] = 1
    raw["data"]["params"]["train_scenes"] = 16
    raw["search"]["seeds"] = list(range(args.seeds))
    step = 1.0 / (args.configs - 1)
    raw["search"]["params"]["aux_weight"]["step"] = round(step, 10)
    servers = []
    if args.backend == "postgres":
        from servers import MlflowServer, start_postgres

        pg = start_postgres()
        storage = pg.create_database("optuna")
        server = MlflowServer(pg.create_database("mlflow"), root / "artifacts").start()
        tracking = server.url
        servers = [server.stop, pg.stop]
    else:
        storage = f"sqlite:///{root / 'optuna.db'}"
        tracking = f"sqlite:///{root / 'mlflow.db'}"
    try:
        start = time.monotonic()
        procs = []
        for i in range(args.drivers):
            work = root / f"driver{i}"
            work.mkdir()
            (work / "load.yaml").write_text(yaml.safe_dump(raw))
            cmd = [sys.executable, "-m", "ablate.cli", "sweep", "load.yaml", "--storage",
                   storage, "--tracking-uri", tracking, "--workers", str(args.workers),
                   "--quiet", "--no-report"]  # fmt: skip
            procs.append(subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))  # fmt: skip
        codes = []
        for p in procs:
            out, err = p.communicate()
            codes.append(p.returncode)
            if p.returncode != 0:
                print(err[-2000:], file=sys.stderr)
        wall = time.monotonic() - start
        c = T.client(tracking)
        exp = c.get_experiment_by_name("tiny")
        runs = T.find_runs(c, exp.experiment_id, role="seed")
        finished = collections.Counter(
            (r.data.tags[T.HASH], r.data.tags[T.SEED]) for r in runs if r.info.status == "FINISHED"
        )
        statuses = collections.Counter(r.info.status for r in runs)
        duplicated = sum(n - 1 for n in finished.values())
        print(
            f"{args.backend}: {args.drivers} drivers x {args.workers} workers = "
            f"{args.drivers * args.workers} worker processes on one study; "
            f"{len(finished)} of {args.configs * args.seeds} cells finished, "
            f"{duplicated} duplicated, seed runs by status {dict(statuses)}, "
            f"driver exit codes {codes}; wall {wall:.0f} s"
        )
        return 0 if duplicated == 0 and set(codes) == {0} else 1
    finally:
        for stop in servers:
            stop()


if __name__ == "__main__":
    sys.exit(main())
