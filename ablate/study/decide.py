"""One interface for whatever ends or extends configurations before every seed has finished
every epoch: pruning at rungs (:mod:`.rungs`), racing (:mod:`.race`), and what comes next.

In the shape of Optuna's ``BasePruner``: one abstract method. The driver asks every decider
whenever a worker reported or a heartbeat passed, and carries out their verdicts; a decider
keeps its decisions in tickets of the study's database, so that any driver asking again gets
the same answer.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ablate.study.cells import Config

KEEP, PRUNE, FAIL = "keep", "prune", "fail"  # at a rung (its seeds paused there)
SEEDS, OUT = "seeds", "out"  # racing: more seeds, or no more


@dataclass
class Verdict:
    config: Config
    action: str  # KEEP | PRUNE | FAIL | SEEDS | OUT
    rung: int | None = None  # KEEP, PRUNE, FAIL: the rung its seeds wait at
    why: str = ""
    seeds: list[int] = field(default_factory=list)  # SEEDS: the seeds it gets now
    racing: bool = False  # SEEDS: whether it may get more after these
    at: int | None = None  # OUT: raced out with this many seeds (None: ended otherwise)


class Decider(abc.ABC):
    @abc.abstractmethod
    def judge(self, configs: Sequence[Config], exhausted: Callable[[], bool]) -> list[Verdict]:
        """Verdicts on the driver's open ``configs`` (``exhausted()``: no configuration is left
        to open; asked only by the deciders that need it, since a sampler's answer is a query
        of the study); those that must wait (for other configurations, another driver) get
        none."""
