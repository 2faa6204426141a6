"""The sizes of every benchmark's ``--quick`` mode: what the test suite runs, so that a change of
default that breaks a benchmark fails ``make test`` (the numbers of a quick run mean nothing)."""

from __future__ import annotations

# One seed run: one epoch on a few scenes.
RUN = ["train.epochs=1", "data.params.train_scenes=32", "data.params.val_scenes=16"]
# A sweep: 5 aux weights, 4 epochs (rungs at 2 for the pruned default), a few scenes.
SWEEP = ["train.epochs=4", "data.params.train_scenes=32", "data.params.val_scenes=16",
         "search.params.aux_weight.step=0.25"]  # fmt: skip


def add(ap) -> None:
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, one repeat: the suite's check that it runs")  # fmt: skip
