"""What a training run gives back, and how it fails: the trainer's result types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError


class TrainingError(AblateError):
    """The run cannot go on (e.g. the loss became NaN)."""


@dataclass
@dataclass
class FitResult:
    objective: float
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    device: str = "cpu"
    device_name: str = "cpu"
    wall_time_s: float = 0.0
    stopped_early: bool = False
    paused: bool = False  # stopped at a rung (checkpointed) for a pruner's decision
    resumed_from: int | None = None  # the epoch of the checkpoint it resumed from
    model: Any = None  # with the kept weights (train.keep), on the CPU
    kept_epoch: int | None = None


def objective_value(
    history: list[dict[str, float]], metric: str, direction: str, reduce: str
) -> float:
    if metric not in history[-1]:
        raise AblateError(
            f"objective.metric {metric!r} was not measured; measured: "
            f"{', '.join(sorted(history[-1]))}"
        )
    values = [row[metric] for row in history]
    if reduce == "last":
        return values[-1]
    return max(values) if direction == "maximize" else min(values)
