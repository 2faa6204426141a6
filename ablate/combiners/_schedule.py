"""Weight schedules over training progress (shared by the weighted-sum combiners)."""

from __future__ import annotations

from typing import Literal

from ablate.combiners._base import Context

Schedule = Literal["constant", "linear", "poly"]


def progress(ctx: Context) -> float:
    """Fraction of training done at this step, in [0, 1)."""
    return ctx.step / max(1, ctx.epochs * ctx.steps_per_epoch)


def factor(schedule: Schedule, ctx: Context, power: float = 0.9) -> float:
    """Multiplier of a scheduled weight: 1 throughout (constant), or decaying towards 0."""
    p = progress(ctx)
    if schedule == "linear":
        return 1.0 - p
    if schedule == "poly":
        return (1.0 - p) ** power
    return 1.0
