"""Compute to conclusion, and sweep efficiency: the experiment as it ships against its full grid
(every configuration, every seed, every epoch: no pruner, no racing, and for the default the
question's whole grid, 11 aux weights x 6 seeds, as the replay's recorded curves), one after the
other on this machine, each as a user runs it (``ablate sweep`` in a fresh folder, SQLite
stores, then ``ablate report``).

Printed, each on a line of its own:

- ``sweep efficiency``: the sum of every seed run's training time (``fit``, all its segments,
  building the model and data included) over workers x the sweep command's wall time;
- ``compute to the same claims``: epochs trained and wall time of the pruned sweep over the
  full grid's, and whether its report keeps the full grid's answer: the two reports' claims.json
  compared by ablate/report/agree.py (no contradiction, the same dose-response verdict with
  overlapping intervals, the same possibly-best membership where both report), with what
  differs.

    python bench/compute.py [experiment] [--workers 2] [--set train.epochs=12 ...]
        [--full search.seeds=[0,1,2,3,4,5] ...]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ablate.report.agree import compare  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quick  # noqa: E402

# The default's full grid: every aux weight of 0..1 in steps of 0.1, on 6 seeds (its own design
# is every second one on 4); in --quick mode twice as many weights as the quick sweep's 5.
FULL_DEFAULT = ["search.params.aux_weight.step=0.1", "search.seeds=[0,1,2,3,4,5]"]
FULL_QUICK = ["search.params.aux_weight.step=0.125"]


def sweep(experiment: Path, folder: Path, workers: int, overrides: list[str]) -> dict:
    sets = [a for o in overrides for a in ("--set", o)]
    cmd = [sys.executable, "-m", "ablate.cli", "sweep", str(experiment), "--workers",
           str(workers), "--quiet", "--no-report", *sets]  # fmt: skip
    done = folder / "sweep.json"  # --keep: a folder swept before is not swept again
    if done.exists():
        wall, summary = json.loads(done.read_text())
    else:
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"sweep failed in {folder}:\n{p.stderr[-3000:]}")
        summary = p.stdout.splitlines()[0]
        done.write_text(json.dumps([wall, summary]))
    # The report reads the study from MLflow (its latest study run): no --set needed.
    report = [sys.executable, "-m", "ablate.cli", "report", str(experiment)]
    r = subprocess.run(report, cwd=folder, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"report failed in {folder}:\n{r.stderr[-3000:]}")
    epochs = fit_s = 0.0
    with sqlite3.connect(folder / "optuna.db") as db:
        rows = db.execute("SELECT key, state, result FROM ablate_tickets WHERE kind = 'cell'")
        for _key, state, result in rows:
            res = json.loads(result or "{}")
            if state in ("done", "trained"):
                epochs += res["epochs"]
            elif state == "pruned":
                epochs += res["at"]
            else:
                continue
            fit_s += res.get("fit_s") or 0.0
    study = next((folder / "reports").iterdir())
    configs = pd.read_csv(study / "configs.csv")
    return {"wall": wall, "epochs": epochs, "fit_s": fit_s, "configs": configs,
            "summary": summary, "report": study / "report.md",
            "claims": json.loads((study / "claims.json").read_text())}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    default = str(ROOT / "experiments/pspnet_aux_weight.yaml")
    ap.add_argument("experiment", nargs="?", default=default)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--full", action="append", default=None,
                    help="overrides that make the full grid (default: for the default "
                    "experiment, 11 weights x 6 seeds; otherwise the same grid)")  # fmt: skip
    ap.add_argument(
        "--keep",
        help="keep the two sweeps' folders here (a folder already swept "
        "there is reported again, not swept again)",
    )
    quick.add(ap)
    args = ap.parse_args()
    if args.quick:
        args.overrides = [*quick.SWEEP, *args.overrides]
    experiment = Path(args.experiment).resolve()
    full = args.full
    if full is None:
        full = (FULL_QUICK if args.quick else FULL_DEFAULT) if args.experiment == default else []
    base = Path(args.keep or tempfile.mkdtemp(prefix="ablate-compute-"))
    runs = {}
    grids = (("default", []), ("full", ["search.pruner=none", "search.race=null", *full]))
    for name, extra in grids:
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        runs[name] = r = sweep(experiment, folder, args.workers, [*args.overrides, *extra])
        print(f"{name}: {r['summary']} ({r['wall']:.0f} s; {r['epochs']:.0f} seed-epochs; "
              f"report {r['report']})", flush=True)  # fmt: skip
    for name, r in runs.items():
        eff = r["fit_s"] / (args.workers * r["wall"])
        print(f"sweep efficiency ({name}): {eff:.3f} (fit {r['fit_s']:.0f} s over "
              f"{args.workers} workers x {r['wall']:.0f} s)")  # fmt: skip
    p, f = runs["default"], runs["full"]
    agreement = compare(f["claims"], p["claims"])
    print(
        f"compute to the same claims: {p['epochs'] / f['epochs']:.3f} of the epochs "
        f"({p['epochs']:.0f} vs {f['epochs']:.0f}), wall {p['wall'] / f['wall']:.3f} "
        f"({p['wall']:.0f} s vs {f['wall']:.0f} s); keeps the full grid's answer: "
        f"{'yes' if agreement.keeps else 'NO'}"
    )
    for line in agreement.contradictions:
        print(f"  contradicts: {line}")
    for line in agreement.differences:
        print(f"  differs: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
