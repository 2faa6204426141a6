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

    def metrics(self, values: Mapping[str, float], step: int, timestamp_ms=None) -> None:
        now = timestamp_ms or int(time.time() * 1000)
        self._buffer.extend([k, float(v), now, step] for k, v in values.items())
        self.flush()
        if self._on_epoch is not None:
            self._on_epoch(values, step)

    def series(
        self, name: str, values: Sequence[float], first_step: int, timestamp_ms=None
    ) -> None:
        now = timestamp_ms or int(time.time() * 1000)
        self._buffer.extend([name, float(v), now, first_step + i] for i, v in enumerate(values))

    def flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._emit({"op": "metrics", "run": self._key, "metrics": batch})

    def should_stop(self) -> bool:
        return bool(self._stop and self._stop())


class SystemMetrics:
    """MLflow's system-metrics collectors (CPU, memory, disk, network and, when there is one,
    GPU: ``mlflow.system_metrics``), sampled on a thread and sent as ``system/...`` metrics
    through ``emit`` like everything else a run logs (MLflow's own monitor writes to the store
    directly and polls the run's status there, which a journaled run must not do)."""

    def __init__(self, emit: Callable[[dict], None], key: str, interval_s: float = 10.0):
        import threading

        from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
        from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
        from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

        self.monitors = [CPUMonitor(), DiskMonitor(), NetworkMonitor()]
        try:
            from mlflow.system_metrics.metrics.gpu_monitor import GPUMonitor

            self.monitors.append(GPUMonitor())
        except Exception:  # noqa: BLE001  (no NVIDIA GPU or no nvidia-ml-py: no GPU metrics)
            pass
        self._emit, self._key, self._interval = emit, key, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ablate-system", daemon=True)
        self._step = 0

    def start(self) -> SystemMetrics:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            for m in self.monitors:
                m.collect_metrics()
            if self._stop.wait(self._interval):
                return
            self._publish()

    def _publish(self) -> None:
        values: dict[str, float] = {}
        for m in self.monitors:
            values.update(m.aggregate_metrics())
            m.clear_metrics()
        if values:
            now = int(time.time() * 1000)
            self._emit({"op": "metrics", "run": self._key,
                        "metrics": [[f"system/{k}", float(v), now, self._step]
                                    for k, v in values.items()]})  # fmt: skip
            self._step += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
