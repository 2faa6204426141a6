"""Your own training loop under ablate's study, tracking, checkpoints and report.

For a model that does not fit ablate's loop, name a function in the experiment::

    train:
      function: my_lab.loops:train      # module:callable, imported like a plug-in

It is called once per (configuration, seed) as ``train(experiment, seed, reporter)``:

- ``experiment`` is the resolved :class:`~ablate.spec.Experiment` (the trial's values written
  in); ``ablate.train.build(experiment, seed, device)`` builds its data, model, losses and
  combiner if you want them;
- ``reporter.metrics({"val/acc": ..., ...}, epoch)`` logs an epoch's values (to MLflow, through
  the sweep's journal); the experiment's ``objective.metric`` must be among them;
- ``reporter.save(epoch, state)`` checkpoints any picklable state at the end of an epoch, and
  ``reporter.resume()`` returns ``(epoch, state)`` of the latest checkpoint (or None) when the
  run is continued after an interruption;
- ``reporter.should_stop()`` is True when the driver asks the run to end (Ctrl-C).

It returns nothing, or a dict of final values. Runs that raise end FAILED with the error; a
non-finite objective fails the run as diverged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ablate.checkpoint import Checkpoints
from ablate.errors import AblateError
from ablate.plugins import function
from ablate.reporting import Reporter
from ablate.train.result import FitResult, TrainingError, objective_value


class LoopReporter(Reporter):
    """What a custom loop is given: the run's reporter, plus checkpoints."""

    def __init__(self, inner: Reporter, checkpoints: Path | None):
        self._inner = inner
        self._store = Checkpoints(checkpoints) if checkpoints is not None else None
        self.history: dict[int, dict[str, float]] = {}
        self.resumed_from: int | None = None

    def metrics(self, values: Mapping[str, float], step: int, timestamp_ms=None) -> None:
        self.history.setdefault(step, {}).update(values)
        self._inner.metrics(values, step, timestamp_ms)

    def series(self, name, values, first_step, timestamp_ms=None) -> None:
        self._inner.series(name, values, first_step, timestamp_ms)

    def should_stop(self) -> bool:
        return self._inner.should_stop()

    def save(self, epoch: int, state: Any) -> None:
        """Checkpoint ``state`` at the end of ``epoch`` (with what was logged so far)."""
        if self._store is not None:
            self._store.save(epoch, {"epoch": epoch, "state": state, "history": self.history,
                                     "time_ms": int(time.time() * 1000)})  # fmt: skip

    def resume(self) -> tuple[int, Any] | None:
        """``(epoch, state)`` of the latest checkpoint, or None for a fresh run."""
        saved = self._store.latest() if self._store is not None else None
        if saved is None:
            return None
        self.history = saved["history"]
        self.resumed_from = saved["epoch"]
        last = self.history.get(saved["epoch"])
        if last:  # sent again with its first time: a tracker keeps one copy
            self._inner.metrics(last, saved["epoch"], saved["time_ms"])
        return saved["epoch"], saved["state"]


def run(spec, seed: int, reporter: Reporter, progress: bool = False, checkpoints=None):
    """Call the experiment's ``train.function`` and turn what it logged into a FitResult."""
    fn = function(spec.train.function)
    loop = LoopReporter(reporter, checkpoints)
    start = time.perf_counter()
    final = fn(spec, seed, loop) or {}
    history = [loop.history[e] for e in sorted(loop.history)]
    if final:
        history = history or [dict(final)]
        history[-1] = {**history[-1], **final}
    if not history:
        raise AblateError("train.function logged nothing and returned nothing")
    objective = objective_value(
        history, spec.objective.metric, spec.objective.direction, spec.objective.reduce
    )
    if not math.isfinite(objective):
        raise TrainingError(f"non-finite objective {spec.objective.metric} = {objective}")
    wall = time.perf_counter() - start
    reporter.metrics({"time/fit_s": wall}, len(history) - 1)
    return FitResult(
        objective=objective, metrics={**history[-1], "time/fit_s": wall}, history=history,
        wall_time_s=wall, resumed_from=loop.resumed_from,
    )  # fmt: skip
