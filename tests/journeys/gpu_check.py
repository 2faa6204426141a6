"""`make gpu-check`: the GPU journey, for a machine with CUDA.

Runs, as a user would, in a fresh folder:

1. the quick experiment (``experiments/pspnet_aux_weight_quick.yaml``, as shipped) with
   ``ablate sweep --gpus all --workers-per-gpu 2``;
2. the default experiment's model on a generated VOC folder of digit scenes (``voc_folder``
   with its default loader workers, pinned memory on CUDA), two weights x two seeds;

then checks, from MLflow: every finished seed run trained on ``cuda`` (tags ``ablate.device``,
``ablate.gpu``), two worker processes shared one device (the same ``CUDA_VISIBLE_DEVICES``,
runs overlapping in time), and prints images/s per worker and for the whole sweep.

Without CUDA it says so and exits 0 (``--cpu`` runs the same journey on CPU workers, to try
this script where there is no GPU). Exit status 1 when a check fails.

    python tests/journeys/gpu_check.py [--cpu] [--keep DIR] [--voc-images 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))


def ablate_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("ablate")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ablate"]


def sweep(home: Path, experiment: str, study: str, args: list[str]) -> tuple[int, float, str]:
    cmd = [*ablate_cmd(), "sweep", experiment, "--study", study, "--no-report", "--quiet", *args]
    print("$", " ".join(cmd[len(ablate_cmd()) - 1 :]), flush=True)
    path = [str(REPO), str(home), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-6:])
    print(tail, flush=True)
    return p.returncode, wall, tail


def seed_runs(home: Path, study: str) -> list:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    exps = [e.experiment_id for e in c.search_experiments()]
    return c.search_runs(
        exps, f"tags.`ablate.study` = '{study}' and tags.`ablate.role` = 'seed'",
        max_results=5000,
    ), c  # fmt: skip


def check(home: Path, study: str, images_per_epoch: int, wall: float, cpu: bool) -> list[str]:
    """The problems found (empty: all good); prints the figures."""
    runs, c = seed_runs(home, study)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    problems = []
    if not finished:
        return [f"{study}: no finished seed run"]
    want = "cpu" if cpu else "cuda"
    wrong = [r for r in finished if not r.data.tags.get("ablate.device", "").startswith(want)]
    if wrong:
        found = sorted({r.data.tags.get("ablate.device") for r in wrong})
        problems.append(f"{study}: {len(wrong)} finished runs not on {want}: {found}")
    gpus = sorted({r.data.tags.get("ablate.gpu", "-") for r in finished})
    by_worker: dict[str, list] = defaultdict(list)
    for r in runs:
        pid = r.data.tags.get("ablate.worker_pid")
        if pid:
            by_worker[pid].append(r)
    devices: dict[str, set] = defaultdict(set)
    for pid, rs in by_worker.items():
        for r in rs:
            devices[r.data.tags.get("ablate.cuda_visible_devices", "?")].add(pid)
    shared = {d: pids for d, pids in devices.items() if len(pids) >= 2}
    if not shared:
        problems.append(f"{study}: no device was shared by two workers: {dict(devices)}")
    overlap = _overlapping(by_worker)
    if not overlap:
        problems.append(f"{study}: no two workers trained at the same time")
    total_images, total_s = 0, 0.0
    print(f"{study}: {len(finished)} finished of {len(runs)} seed runs on {', '.join(gpus)}; "
          f"devices -> workers: { {d: len(p) for d, p in devices.items()} }; sweep wall "
          f"{wall:.1f} s")  # fmt: skip
    for pid, rs in sorted(by_worker.items()):
        images, seconds = 0, 0.0
        for r in rs:
            epochs = c.get_metric_history(r.info.run_id, "time/epoch_s")
            images += images_per_epoch * len(epochs)
            seconds += sum(m.value for m in epochs)
        total_images, total_s = total_images + images, total_s + seconds
        rate = images / seconds if seconds else float("nan")
        print(f"  worker {pid}: {len(rs)} runs, {images} training images in {seconds:.1f} s "
              f"of epochs: {rate:.0f} images/s (training and validation)")  # fmt: skip
    if wall > 0:
        print(
            f"  all workers: {total_images} training images, {total_images / wall:.0f} "
            "images/s over the sweep's wall time (start-up, preflight and tracking included)"
        )
    mem = [
        max((m.value for m in c.get_metric_history(r.info.run_id, key)), default=0)
        for r in finished[:4]
        for key in r.data.metrics
        if key.startswith("system/gpu_0_memory_usage_megabytes")
    ]
    if mem:
        print(f"  GPU memory used (system metrics, first runs): up to {max(mem):.0f} MB")
    return problems


def _overlapping(by_worker: dict[str, list]) -> bool:
    spans = [
        (r.info.start_time, r.info.end_time or r.info.start_time, pid)
        for pid, rs in by_worker.items()
        for r in rs
    ]
    return any(
        a[2] != b[2] and a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans)
        for b in spans[i + 1 :]
    )  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--cpu", action="store_true", help="no GPU: the same journey on 2 CPU workers")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    ap.add_argument("--voc-images", type=int, default=256, help="training images of the folder")
    args = ap.parse_args()
    import torch

    if not args.cpu and not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device here (torch {torch.__version__}, "
              f"torch.cuda.is_available() is False): nothing to check")  # fmt: skip
        return 0
    home = args.keep or Path(tempfile.mkdtemp(prefix="ablate-gpu-check-"))
    home.mkdir(parents=True, exist_ok=True)
    place = ["--workers", "2", "--gpus", "none"] if args.cpu else [
        "--gpus", "all", "--workers-per-gpu", "2"]  # fmt: skip
    if not args.cpu:
        print(
            f"gpu-check: {torch.cuda.device_count()} CUDA device(s): "
            f"{torch.cuda.get_device_name(0)}; torch {torch.__version__}",
            flush=True,
        )
    problems: list[str] = []

    # 1. The quick experiment, as shipped.
    rc, wall, tail = sweep(home, str(REPO / "experiments/pspnet_aux_weight_quick.yaml"),
                           "gpu_quick", place)  # fmt: skip
    if rc != 0:
        problems.append(f"quick sweep exited {rc}: {tail}")
    problems += check(home, "gpu_quick", 256, wall, args.cpu)

    # 2. A folder of images through the loader's workers (pinned memory on CUDA).
    from folders import voc_digits

    root = voc_digits(home / "voc", n_train=args.voc_images, n_val=64, size=96)
    voc = [
        "--set", f"data={{name: voc_folder, params: {{root: {root}, crop: 64, num_classes: 11}}}}",
        "--set", "train.epochs=3", "--set", "search.seeds=[0,1]",
        "--set", "search.params.aux_weight.step=1.0", "--set", "search.pruner=none",
        "--set", "search.race=null",
    ]  # fmt: skip
    rc, wall, tail = sweep(home, str(REPO / "experiments/pspnet_aux_weight.yaml"), "gpu_voc",
                           [*place, *voc])  # fmt: skip
    if rc != 0:
        problems.append(f"folder sweep exited {rc}: {tail}")
    problems += check(home, "gpu_voc", args.voc_images, wall, args.cpu)

    if args.keep is None:
        shutil.rmtree(home, ignore_errors=True)
    for p in problems:
        print(f"gpu-check: FAILED: {p}")
    print("gpu-check: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
