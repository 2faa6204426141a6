"""The dataset contract: two splits that yield batches, and what models and metrics need to know.

A split is read through one method, :meth:`BaseSplit.batches`, so the trainer does not know (or
branch on) where the data lives:

- :class:`Split`: small data held as tensors (on the training device): the bundled digits and
  digit scenes. Batches are index lookups; this is why `make sweep` is fast.
- :class:`StreamSplit`: a folder on disk read through a torch ``DataLoader`` (worker processes,
  pinned memory, persistent workers), each sample decoded and augmented when it is needed, so
  memory is bounded by the batch and the workers, not by the data set.

Shuffling and augmentation are functions of (seed, epoch, sample): an epoch's batches are the
same however the run got there, which is what lets a run resumed from a checkpoint produce the
metrics of an uninterrupted one.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    """A seed for (training seed, epoch): the same every time, different for each."""
    return (seed * 1_000_003 + epoch * 7919 + salt) % (2**63 - 1)


class BaseSplit(abc.ABC):
    """One split of a dataset."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        device: torch.device | str | None = None,
    ) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        """(inputs, {target name: tensor}) on ``device``, ``batch_size`` samples at a time."""

    def steps(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)

    def first_batch(self, n: int, device=None) -> tuple[Tensor, dict[str, Tensor]]:
        """The first ``n`` samples, unshuffled and unaugmented by any epoch (for a probe)."""
        return next(iter(self.batches(n, device=device)))

    @property
    @abc.abstractmethod
    def target_names(self) -> list[str]: ...

    def labels(self, name: str) -> Tensor | None:
        """A per-sample target of the whole split (class indices, multi-hot rows), when it is
        small enough to hold: for baselines and for losses that read their targets (DeepMAR's
        label ratios). None for dense targets of a streamed split."""
        return None

    def class_counts(self, name: str, num_classes: int, ignore_index: int | None) -> Tensor:
        """How often each class value occurs in a (dense) target over the split."""
        raise NotImplementedError


@dataclass
class Split(BaseSplit):
    """A split held as tensors: inputs ``x`` [N, ...] and targets [N, ...]."""

    x: Tensor
    targets: dict[str, Tensor]

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def target_names(self) -> list[str]:
        return list(self.targets)

    def batch(self, idx: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.x[idx], {k: v[idx] for k, v in self.targets.items()}

    def batches(self, batch_size, *, shuffle=False, seed=0, epoch=0, device=None):
        n = len(self)
        if shuffle:
            gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        order = order.to(self.x.device)
        for start in range(0, n, batch_size):
            x, y = self.batch(order[start : start + batch_size])
            if device is not None and x.device != torch.device(device):
                x, y = x.to(device), {k: v.to(device) for k, v in y.items()}
            yield x, y

    def labels(self, name: str) -> Tensor | None:
        return self.targets.get(name)

    def class_counts(self, name, num_classes, ignore_index):
        t = self.targets[name].reshape(-1)
        if ignore_index is not None:
            t = t[t != ignore_index]
        return torch.bincount(t.cpu(), minlength=num_classes)[:num_classes]


class StreamSplit(BaseSplit):
    """A split read from disk by a ``torch.utils.data.DataLoader``.

    Args:
        samples: a map-style dataset whose ``__getitem__((index, seed))`` returns
            ``(input, {target: tensor})`` for that sample, augmented with a generator seeded
            by ``seed`` (so that augmentation does not depend on which worker reads it).
        targets: the target names.
        labels: per-sample targets of the whole split, if cheap (read from an index file).
        counts: ``counts(name, num_classes, ignore_index)`` for dense targets (baselines).
        workers: loader processes (0: read in the training process).
        fixed_size: whether every sample has the same shape (else batches hold one sample).
    """

    def __init__(
        self,
        samples: torch.utils.data.Dataset,
        targets: list[str],
        labels: dict[str, Tensor] | None = None,
        counts: Callable[[str, int, int | None], Tensor] | None = None,
        workers: int = 2,
        fixed_size: bool = True,
    ):
        self.samples, self._targets = samples, list(targets)
        self._labels, self._counts = labels or {}, counts
        self.workers, self.fixed_size = workers, fixed_size
        self._loaders: dict[tuple, tuple[torch.utils.data.DataLoader, _EpochSampler]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def target_names(self) -> list[str]:
        return self._targets

    def labels(self, name):
        return self._labels.get(name)

    def class_counts(self, name, num_classes, ignore_index):
        if self._counts is None:
            raise NotImplementedError(f"this split cannot count the classes of {name!r}")
        return self._counts(name, num_classes, ignore_index)

    def batches(self, batch_size, *, shuffle=False, seed=0, epoch=0, device=None):
        size = batch_size if self.fixed_size else 1
        pin = device is not None and torch.device(device).type == "cuda"
        key = (size, shuffle, pin)
        if key not in self._loaders:  # one loader per use: its workers persist across epochs
            sampler = _EpochSampler(len(self.samples), shuffle)
            # The loader's own generator: otherwise each epoch's iterator draws its workers'
            # base seed from the global stream (persistent workers: from the second epoch
            # on), and the model's dropout would depend on how many loader workers there are.
            loader = torch.utils.data.DataLoader(
                self.samples, batch_size=size, sampler=sampler, num_workers=self.workers,
                pin_memory=pin, persistent_workers=self.workers > 0, collate_fn=_collate,
                prefetch_factor=2 if self.workers > 0 else None, generator=torch.Generator(),
                multiprocessing_context=_loader_context() if self.workers > 0 else None,
            )  # fmt: skip
            self._loaders[key] = (loader, sampler)
        loader, sampler = self._loaders[key]
        sampler.set(seed, epoch)
        for x, y in loader:
            if device is not None:
                x = x.to(device, non_blocking=pin)
                y = {k: v.to(device, non_blocking=pin) for k, v in y.items()}
            yield x, y

    def first_batch(self, n, device=None):
        # Read here, without starting loader processes for one batch.
        items = [self.samples[(i, epoch_seed(0, 0, i))] for i in range(min(n, len(self)))]
        if not self.fixed_size:
            items = items[:1]
        x, y = _collate(items)
        if device is not None:
            x, y = x.to(device), {k: v.to(device) for k, v in y.items()}
        return x, y

    def close(self) -> None:
        """Stop the loader processes."""
        self._loaders.clear()


class _EpochSampler(torch.utils.data.Sampler):
    """Yields (index, sample seed) pairs: the order and each sample's augmentation are
    functions of (training seed, epoch), set before each epoch."""

    def __init__(self, n: int, shuffle: bool):
        self.n, self.shuffle, self.seed, self.epoch = n, shuffle, 0, 0

    def set(self, seed: int, epoch: int) -> None:
        self.seed, self.epoch = seed, epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        base = epoch_seed(self.seed, self.epoch)
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(base))
        else:
            order = torch.arange(self.n)
        for i in order.tolist():
            yield (i, epoch_seed(base, i, salt=1))


def loader_workers(requested: int | None, device: str) -> int:
    """How many loader processes a streamed split reads with: ``requested``, else chosen for
    the training device and the CPUs this process has (its torch threads: a sweep shares the
    machine's CPUs out between its workers). Training on a GPU leaves the CPUs to the loader:
    one process per CPU, up to 8. Training on the CPU, the compute already uses them: decoding
    in the training process was faster on 2 cores (109 s against 133 s an epoch with 1 or 2
    loader workers, docs/benchmarks.md), so none up to 4 CPUs, then a quarter of them."""
    if requested is not None:
        return requested
    cpus = torch.get_num_threads()
    if str(device).startswith("cuda"):
        return max(1, min(8, cpus))
    return 0 if cpus <= 4 else min(8, cpus // 4)


def _loader_context():
    """Loader workers start from a fork server that has imported torch once (where the OS has
    one): a sweep's worker is itself a spawned process, whose loaders would otherwise spawn
    too, each worker importing torch again (23 s against 5 s for two runs of two epochs on 2
    cores, docs/benchmarks.md); a plain fork of a process with threads and a CUDA context is
    what the fork server avoids. The dataset still reaches its workers pickled."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return None
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "torchvision", "ablate.data._folders"])
    return ctx


def _collate(items):
    xs, ys = zip(*items, strict=True)
    return torch.stack(xs), {k: torch.stack([y[k] for y in ys]) for k in ys[0]}


@dataclass
class Dataset:
    """A train and a validation split plus what models and metrics need to know.

    ``task`` picks the metrics of the main output: ``segmentation`` (mIoU, pixel accuracy),
    ``classification`` (accuracy), ``multilabel`` (mAP, F1).
    """

    train: BaseSplit
    val: BaseSplit
    num_classes: int
    in_channels: int
    task: str
    default_target: str
    ignore_index: int | None = None
    class_names: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Dataset:
        """Tensor splits move to ``device``; streamed ones are moved batch by batch."""

        def move(s: BaseSplit) -> BaseSplit:
            if isinstance(s, Split):
                return Split(s.x.to(device), {k: v.to(device) for k, v in s.targets.items()})
            return s

        self.train, self.val = move(self.train), move(self.val)
        return self
