"""A sweep's options, and what it did (its summary lines)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Options:
    workers: int | None = None
    gpus: list[str] | None = None  # None: every visible GPU; []: none
    workers_per_gpu: int | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    study_name: str | None = None
    progress: bool = True
    overrides: list[str] = field(default_factory=list)
    retries: int = 1
    max_failures: int | None = None
    journal_root: Path | None = None
    # Confirmation: these configurations (search values) on these fresh seeds, not a search.
    confirm: tuple[list[dict], list[int]] | None = None
    reuse_stale: bool = False  # reuse runs made by another version of the code


@dataclass
class SweepResult:
    study_name: str
    experiment_id: str
    study_run_id: str | None
    tracking_uri: str
    trained: int = 0
    reused: int = 0
    failed: int = 0
    retried: int = 0
    finished_cells: int = 0
    expected_cells: int = 0
    pruned_cells: int = 0  # seed runs a pruner stopped at a rung
    pruned_configs: int = 0
    raced_out: int = 0  # configurations that stopped short of every seed (search.race)
    failure_kinds: dict[str, int] = field(default_factory=dict)
    # Each distinct reason runs failed for: its first line -> [kind, count, one run's id]
    failures: dict[str, list] = field(default_factory=dict)
    stopped: str | None = None  # why the sweep ended early, if it did
    undelivered: int = 0  # journal operations MLflow has not received yet
    configs: int = 0  # distinct configurations
    trials: int | None = None  # trials counted toward n_trials (tpe, random)

    @property
    def complete(self) -> bool:
        done = self.finished_cells + self.pruned_cells
        return done == self.expected_cells and not self.stopped

    def summary(self) -> str:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.failure_kinds.items()))
        line = (
            f"study {self.study_name}: {self.finished_cells} of {self.expected_cells} "
            f"(configuration, seed) runs finished; this sweep trained {self.trained}, reused "
            f"{self.reused}, failed {self.failed}" + (f" ({kinds})" if kinds else "")
        )
        if self.pruned_cells:
            line += (
                f"; {self.pruned_cells} runs of {self.pruned_configs} configurations pruned "
                "at a rung"
            )
        if self.raced_out:
            line += f"; {self.raced_out} configurations raced out with fewer seeds"
        if self.retried:
            line += f", retried {self.retried}"
        if self.trials is not None and self.trials != self.configs:
            line += f"; {self.trials} trials proposed {self.configs} distinct configurations"
        if self.stopped:
            line += f"; stopped: {self.stopped}"
        if self.undelivered:
            line += f"; {self.undelivered} tracking writes wait in the journal for MLflow"
        return "\n".join([line, *self.failure_lines()])

    def failure_lines(self) -> list[str]:
        """Why runs failed: one line per distinct reason (its first line, how many, one run);
        a single line when every run of this sweep failed for the same reason."""

        def run(r: list) -> str:
            return f"MLflow run {r[2]}" if r[2] else "MLflow run not stored yet"

        if len(self.failures) == 1 and self.failed and not self.trained and not self.reused:
            ((reason, r),) = self.failures.items()
            return [f"every run failed with the same {r[0]}: {reason} ({r[1]} runs; e.g. "
                    f"{run(r)})"]  # fmt: skip
        return [
            f"  {r[1]} failed ({r[0]}): {reason} (e.g. {run(r)})"
            for reason, r in sorted(self.failures.items(), key=lambda kv: -kv[1][1])
        ]
