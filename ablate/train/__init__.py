"""Training: one run of one configuration on one seed.

- :mod:`.fit`: ablate's loop (``fit``), phase by phase
- :mod:`.build`: what a run trains, built from the spec; :mod:`.state`: what a checkpoint holds
- :mod:`.evaluate`: validation; :mod:`.result`: ``FitResult`` and ``TrainingError``
- :mod:`.custom`: a training loop of the user's own (``train.function``)
"""

from __future__ import annotations

from pathlib import Path

from ablate.reporting import Reporter
from ablate.spec import Experiment
from ablate.train.build import Parts, build, resolve_device, seed_everything
from ablate.train.evaluate import evaluate, sliding
from ablate.train.fit import fit
from ablate.train.result import FitResult, TrainingError, objective_value

__all__ = [
    "FitResult", "Parts", "TrainingError", "build", "evaluate", "fit", "objective_value",
    "resolve_device", "run", "seed_everything", "sliding",
]  # fmt: skip


def run(
    spec: Experiment,
    seed: int = 0,
    reporter: Reporter | None = None,
    progress: bool = True,
    *,
    checkpoints: Path | None = None,
    pause: list[int] | None = None,
) -> FitResult:
    """One training run: ablate's loop (:func:`fit`), or the experiment's own
    ``train.function`` (see :mod:`ablate.train.custom`)."""
    if spec.train.function is not None:
        from ablate.train.custom import run as run_custom

        return run_custom(spec, seed, reporter or Reporter(), progress, checkpoints)
    return fit(spec, seed, reporter, progress, checkpoints=checkpoints, pause=pause)
