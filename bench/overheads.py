"""What tracking, checkpoints and system metrics cost a seed run, side by side.

The same seed run of an experiment, run alternately without and with each addition in one
process (so that machine noise hits both alike), and the ratio of the medians:

- tracking: a sweep's seed run as the driver tracks it (the journal: run creation, flattened
  params, per-epoch and per-step metrics delivered by a background thread, the end of the run
  once everything is stored, SQLite store) against ``fit`` with the do-nothing reporter;
- checkpoint: ``fit`` saving its whole state at the end of every epoch against not saving;
- system metrics: MLflow's collectors sampled every second on a thread during the run.

    python bench/overheads.py [--repeats 3] [--set train.epochs=2 ...]
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
from ablate.tracking.reporter import JournalReporter, SystemMetrics
from ablate.train import fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quick  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("experiment", nargs="?", default="experiments/pspnet_aux_weight.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a sweep worker's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    quick.add(ap)
    args = ap.parse_args()
    if args.quick:
        args.overrides = [*quick.RUN, *args.overrides]
        args.repeats = 1
    torch.set_num_threads(args.threads)
    spec = S.load(args.experiment, args.overrides, check_search=False)
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        exp = T.get_or_create_experiment(T.client(uri), spec.name)
        journal = Journal(uri, Path(tmp) / "journal")

        def plain():
            return fit(spec, 0, Reporter(), progress=False).metrics["time/fit_s"]

        def tracked():
            key = new_key()
            journal.create_run(key, exp, "bench", {T.ROLE: "seed", T.STUDY: "bench"})
            journal.log_params(key, {"seed": 0, **spec.flatten()})
            fit(spec, 0, JournalReporter(journal.append, key), progress=False)
            journal.set_status(key, "FINISHED")
            assert journal.drain(600)

        def checkpointed():
            fit(spec, 0, Reporter(), progress=False, checkpoints=Path(tmp) / new_key())

        def monitored():
            ops: list = []
            monitor = SystemMetrics(ops.append, "k", 1.0).start()
            fit(spec, 0, Reporter(), progress=False)
            monitor.stop()

        plain()  # warm-up: imports, allocator, data
        tracked()  # warm-up: MLflow's schema
        for name, fn in (("tracking", tracked), ("checkpoint", checkpointed),
                         ("system metrics", monitored)):  # fmt: skip
            off, on = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                plain()
                off.append(time.perf_counter() - t)
                t = time.perf_counter()
                fn()
                on.append(time.perf_counter() - t)
            ratio = statistics.median(on) / statistics.median(off)
            med_on, med_off = statistics.median(on), statistics.median(off)
            print(
                f"{name} on / off, seed run wall time: {ratio:.3f} (medians {med_on:.2f} s / "
                f"{med_off:.2f} s, {args.repeats} pairs)",
                flush=True,
            )
        journal.close(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
