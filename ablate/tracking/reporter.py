"""The trainer's :class:`~ablate.reporting.Reporter` as journal operations.

The training loop only builds small dicts; where they go is ``emit``: a :class:`Journal`'s
``append`` in the same process (``ablate run``), or the pipe from a sweep's worker process to its
driver, whose journal delivers them to MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from ablate.reporting import Reporter


class JournalReporter(Reporter):
    """Per-epoch values go out at once (with the epoch's per-step series); ``stop`` answers
    :meth:`should_stop` (a pruner's decision, an interrupt)."""

    def __init__(
        self,
        emit: Callable[[dict], None],
        key: str,
        stop: Callable[[], bool] | None = None,
        on_epoch: Callable[[Mapping[str, float], int], None] | None = None,
    ):
        self._emit, self._key, self._stop, self._on_epoch = emit, key, stop, on_epoch
        self._buffer: list[list] = []

    def metrics(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self._buffer.extend([k, float(v), now, step] for k, v in values.items())
        self.flush()
        if self._on_epoch is not None:
            self._on_epoch(values, step)

    def series(self, name: str, values: Sequence[float], first_step: int) -> None:
        now = int(time.time() * 1000)
        self._buffer.extend([name, float(v), now, first_step + i] for i, v in enumerate(values))

    def flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._emit({"op": "metrics", "run": self._key, "metrics": batch})

    def should_stop(self) -> bool:
        return bool(self._stop and self._stop())
