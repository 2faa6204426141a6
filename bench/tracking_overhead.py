"""Tracking overhead: the same seed run with MLflow tracking on and off, side by side.

Runs are interleaved (off, on, off, on, ...) in one process so that machine noise hits both
alike; prints each time and the ratio of medians. "On" is a sweep's seed run as the driver
tracks it (the journal: run creation, flattened params, per-epoch and per-step metrics
delivered by a background thread, end of run once everything is stored) against a SQLite
store; "off" is ``fit`` with the do-nothing reporter.

    python bench/tracking_overhead.py [--repeats 3] [--set train.epochs=2 ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from ablate import spec as S
from ablate import tracking as T
from ablate.reporting import Reporter
from ablate.tracking.journal import Journal, new_key
from ablate.tracking.reporter import JournalReporter
from ablate.train import fit


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("experiment", nargs="?", default="experiments/pspnet_aux_weight.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a sweep worker's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = S.load(args.experiment, args.overrides, check_search=False)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        exp = T.get_or_create_experiment(T.client(uri), spec.name)
        journal = Journal(uri, Path(tmp) / "journal")

        def tracked() -> float:
            """A sweep's seed run: created, its params and every epoch's and step's metrics
            journaled and delivered by the journal's thread, ended once all are stored."""
            key = new_key()
            journal.create_run(key, exp, "bench", {T.ROLE: "seed", T.STUDY: "bench"})
            journal.log_params(key, {"seed": 0, **spec.flatten()})
            result = fit(spec, 0, JournalReporter(journal.append, key), progress=False)
            journal.set_status(key, "FINISHED")
            assert journal.drain(600)
            return result.metrics["time/fit_s"]

        fit(spec, 0, Reporter(), progress=False)  # warm-up: imports, allocator, data
        tracked()  # warm-up: MLflow schema creation, imports
        off, on, cpu_off, cpu_on, outside = [], [], [], [], []
        for i in range(args.repeats):
            t, c0 = time.perf_counter(), time.process_time()
            fit(spec, 0, Reporter(), progress=False)
            off.append(time.perf_counter() - t)
            cpu_off.append(time.process_time() - c0)
            t, c0 = time.perf_counter(), time.process_time()
            fit_s = tracked()
            on.append(time.perf_counter() - t)
            cpu_on.append(time.process_time() - c0)
            # What the tracked run spent outside fit(): run creation, params, the last writes.
            outside.append(on[-1] - fit_s)
            print(
                f"repeat {i}: wall off {off[-1]:.2f} s, on {on[-1]:.2f} s "
                f"(ratio {on[-1] / off[-1]:.3f}); cpu off {cpu_off[-1]:.2f} s, on "
                f"{cpu_on[-1]:.2f} s (ratio {cpu_on[-1] / cpu_off[-1]:.3f}); "
                f"tracking outside fit {outside[-1]:.3f} s",
                flush=True,
            )
    med = statistics.median
    print(
        f"wall: median off {med(off):.2f} s, on {med(on):.2f} s, ratio {med(on) / med(off):.3f}"
        f"\ncpu:  median off {med(cpu_off):.2f} s, on {med(cpu_on):.2f} s, ratio "
        f"{med(cpu_on) / med(cpu_off):.3f}"
        f"\ntracking outside fit: median {med(outside):.3f} s = "
        f"{med(outside) / med(off):.2%} of an untracked run (target: total ratio <= 1.03)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
