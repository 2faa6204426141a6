"""Record a study's full learning curves for the replay benchmark (issue 17): the experiment's
grid swept in full (no pruner, no racing: every configuration, every seed, every epoch) as a
user runs it, then every seed run's per-epoch values read back from MLflow into one small CSV.

    python bench/record_curves.py experiments/pspnet_aux_weight.yaml \\
        --out bench/curves/pspnet_aux_weight.csv [--workers 2] [--set train.epochs=12 ...]

The CSV's first lines (``#``) hold the command that made it, the commit, the date and the
sweep's wall time; then one row per (configuration, seed, epoch): the search values, ``seed``,
``epoch`` (1-based: the epochs trained so far), the objective's metric and ``train/loss``.
A folder given to ``--keep`` that was swept before is read again, not swept again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL = ["search.pruner=none", "search.race=null"]


def sweep(experiment: Path, folder: Path, workers: int, overrides: list[str]) -> float:
    done = folder / "recorded.json"
    if done.exists():
        return json.loads(done.read_text())["wall"]
    sets = [a for o in [*overrides, *FULL] for a in ("--set", o)]
    cmd = [sys.executable, "-m", "ablate", "sweep", str(experiment), "--workers", str(workers),
           "--quiet", "--no-report", *sets]  # fmt: skip
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"sweep failed in {folder}:\n{p.stderr[-3000:]}")
    done.write_text(json.dumps({"wall": wall, "summary": p.stdout.splitlines()[0]}))
    return wall


def curves(folder: Path, spec) -> pd.DataFrame:
    from ablate import tracking as T

    c = T.client(f"sqlite:///{folder / 'mlflow.db'}")
    exp = c.get_experiment_by_name(spec.name)
    metric = spec.objective.metric
    rows = []
    for run in T.search(c, exp.experiment_id, {T.ROLE: "seed"}):
        if run.info.status != "FINISHED":
            continue
        params = run.data.params
        values = {a: params.get(a) for a in spec.search.params}
        seed = int(run.data.tags[T.SEED])
        series = {}
        for name in (metric, "train/loss"):
            for m in c.get_metric_history(run.info.run_id, name):
                series.setdefault(m.step, {})[name] = m.value
        for step, v in sorted(series.items()):
            rows.append({**values, "seed": seed, "epoch": step + 1, **v})
    keys = [*spec.search.params, "seed", "epoch"]
    return pd.DataFrame(rows).sort_values(keys, kind="stable").reset_index(drop=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--keep", type=Path, help="sweep in this folder (kept afterwards)")
    a = ap.parse_args()
    from ablate import spec as S

    spec = S.load(a.experiment, [*a.overrides, *FULL])
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()  # at the start
    folder = a.keep or Path(tempfile.mkdtemp(prefix="ablate-curves-"))
    folder.mkdir(parents=True, exist_ok=True)
    wall = sweep(a.experiment.resolve(), folder, a.workers, a.overrides)
    table = curves(folder, spec)
    expected = len(S.grid_cells(spec)) * len(spec.search.seeds) * spec.train.epochs
    command = " ".join(["python bench/record_curves.py", str(a.experiment), "--out",
                        str(a.out), "--workers", str(a.workers),
                        *[f"--set {o}" for o in a.overrides]])  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w") as f:
        f.write(f"# {command}\n# commit {commit}, {dt.date.today()}, sweep wall {wall:.0f} s "
                f"with {a.workers} workers; {len(table)} of {expected} (config, seed, epoch) "
                "rows\n")  # fmt: skip
        table.to_csv(f, index=False, float_format="%.6g")
    print(f"{a.out}: {len(table)} rows of {expected} ({wall:.0f} s)")
    return 0 if len(table) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
