"""The one interface every loss-combination method implements."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor, nn


@dataclass
class Context:
    """Everything a combiner may need at run time, passed explicitly by the trainer.

    Attributes:
        epoch: current epoch, 0-based.
        step: global optimisation step, 0-based.
        epochs: total number of epochs.
        steps_per_epoch: optimisation steps in one epoch.
        history: per-epoch mean of each term's loss so far (``history[term][epoch]``).
        kpis: each term's KPI in [0, 1] on the current batch (mIoU of a dense class map,
            accuracy of per-sample classes), as 0-d tensors on the training device; terms
            without class scores have none.
        shared_params: the model parameters shared by all terms (for gradient-based methods).
    """

    epoch: int = 0
    step: int = 0
    epochs: int = 1
    steps_per_epoch: int = 1
    history: Mapping[str, Sequence[float]] = field(default_factory=dict)
    kpis: Mapping[str, Tensor | float] = field(default_factory=dict)
    shared_params: Sequence[nn.Parameter] = ()


class LazyKPIs(Mapping):
    """``ctx.kpis``: computed on first access in a step, so methods that never read KPIs do not
    pay for them (an argmax and a confusion matrix per head, about 10% of a small model's step)."""

    def __init__(self, compute: Callable[[], Mapping[str, Tensor]]):
        self._compute, self._values = compute, None

    @property
    def computed(self) -> bool:
        return self._values is not None

    def _get(self) -> Mapping[str, Tensor]:
        if self._values is None:
            self._values = self._compute()
        return self._values

    def __getitem__(self, key: str) -> Tensor:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class BaseCombiner(nn.Module, abc.ABC):
    """Turns the named term losses into one scalar to minimise.

    Subclasses implement :meth:`forward`; learnable weights are their own parameters (the trainer
    optimises every parameter of the combiner alongside the model's).

    ``space`` is the method's own search space: ``{init parameter: search definition}`` with the
    keys of an experiment's ``search.params`` entries (type, low, high, step, log, choices) but no
    path. When an experiment sweeps ``combiner.method``, each method's space joins the sweep for
    the trials that choose it (aliases ``<method>_<parameter>``); grids use each ``step``.
    """

    space: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, terms: Sequence[str]):
        super().__init__()
        self.terms = list(terms)

    @abc.abstractmethod
    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        """Combine ``losses`` (one scalar per term name) into the training loss."""

    def weights(self) -> dict[str, float]:
        """The effective weight of each term, for logging as ``weight/<term>``."""
        return {t: 1.0 for t in self.terms}
