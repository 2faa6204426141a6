"""A user's folder of images swept end to end by `ablate sweep`, with the loader's default
workers against ``data.params.workers=0``, side by side in one run.

Generates a VOC-style folder of N training images (500 x 375 JPEGs with palette-PNG masks, the
size of Pascal VOC's; ``tests/folders.py``), then runs the default experiment on it as a user
would (the `ablate` command, 2 sweep workers), sizes shrunk: two aux weights x one seed, one
epoch, ``crop`` x ``crop`` training crops, the validation images whole. For each loader setting
it prints the sweep's wall time and the training images/s of each sweep worker (from its seed
run's epoch time, training and validation together).

    python bench/sweep_folder.py [--images 2000] [--crop 128] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from folders import voc_ellipses  # noqa: E402


def sweep(home: Path, root: Path, crop: int, loader_workers: int | None, study: str):
    data = f"{{name: voc_folder, params: {{root: {root}, crop: {crop}"
    data += "}}" if loader_workers is None else f", workers: {loader_workers}}}}}"
    exe = Path(sys.executable).with_name("ablate")
    cmd = [str(exe), "sweep", str(REPO / "experiments/pspnet_aux_weight.yaml"), "--workers", "2",
           "--study", study, "--no-report", "--quiet", "--set", f"data={data}",
           "--set", "train.epochs=1", "--set", "search.params.aux_weight.step=1.0",
           "--set", "search.seeds=[0]", "--set", "search.pruner=none",
           "--set", "search.race=null"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"sweep failed ({p.returncode}):\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    checked = next((x for x in p.stderr.splitlines() if x.startswith("ablate: checked")), "")
    return wall, checked


def rates(home: Path, study: str, images: int) -> list[float]:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    exps = [e.experiment_id for e in c.search_experiments()]
    runs = c.search_runs(exps, f"tags.`ablate.study` = '{study}' and tags.`ablate.role` = 'seed'")
    return [images / r.data.metrics["time/epoch_s"] for r in runs]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=1, help="alternate the two settings N times")
    ap.add_argument("--root", type=Path, default=REPO / "bench" / "out" / "sweep_folder")
    args = ap.parse_args()
    root = args.root / f"voc{args.images}"
    t = time.perf_counter()
    voc_ellipses(root, args.images)
    print(f"folder: {args.images} training and {args.images // 10} validation images "
          f"(ready in {time.perf_counter() - t:.0f} s)", flush=True)  # fmt: skip
    results: dict[str, list] = {"default (2 loader workers)": [], "workers=0": []}
    for i in range(args.repeats):
        for label, workers in (("default (2 loader workers)", None), ("workers=0", 0)):
            home = Path(tempfile.mkdtemp(prefix="ablate-sweep-folder-"))
            study = f"folder{i}"
            wall, checked = sweep(home, root, args.crop, workers, study)
            per_worker = rates(home, study, args.images)
            results[label].append((wall, per_worker))
            print(f"{label}: sweep wall {wall:.0f} s; per sweep worker "
                  f"{', '.join(f'{r:.1f}' for r in per_worker)} images/s; {checked}",
                  flush=True)  # fmt: skip
            shutil.rmtree(home, ignore_errors=True)
    (w2, _), (w0, _) = results["default (2 loader workers)"][-1], results["workers=0"][-1]
    print(f"ratio: workers=0 wall / default wall = {w0 / w2:.2f} (above 1: the loader's "
          "workers help)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
