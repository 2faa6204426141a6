"""What a run trains, built from its spec: the data, the model, one loss per term, the
combiner; the device; the seeds."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import numpy as np
import torch

from ablate.errors import AblateError
from ablate.registry import COMBINERS, DATASETS, LOSSES, MODELS, injected
from ablate.registry import build as build_component
from ablate.spec import Experiment


@dataclass
@dataclass
class Parts:
    """What a run trains: the data, the model, one loss per term, the combiner."""

    data: object  # ablate.data.Dataset
    model: torch.nn.Module
    losses: dict[str, torch.nn.Module]
    combiner: torch.nn.Module
    targets: dict[str, str]  # term -> the dataset target it reads
    main: object  # the term on the main output ("out")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AblateError(f"train.device is {name!r} but no CUDA device is available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build(spec: Experiment, seed: int, device: torch.device) -> Parts:
    """Build everything a run needs from the spec; ``seed`` decides the model's initial
    weights (and lazily shaped loss parameters), never the data."""
    # Data first, from its own seed: every training seed sees the same scenes.
    data = build_component(
        DATASETS.get(spec.data.name), spec.data.params, **injected("dataset", device=str(device))
    )
    seed_everything(seed)
    model = build_component(
        MODELS.get(spec.model.name), spec.model.params,
        **injected("model", num_classes=data.num_classes, in_channels=data.in_channels),
    ).to(device)  # fmt: skip
    targets = {t.name: t.target or data.default_target for t in spec.terms}
    for i, t in enumerate(spec.terms):
        if targets[t.name] not in data.train.target_names:
            raise AblateError(
                f"terms.{i}.target: dataset {spec.data.name!r} has no target "
                f"{targets[t.name]!r}; its targets: {', '.join(data.train.target_names)}"
            )
    # Losses may read the training targets they will see (DeepMAR's label ratios).
    losses = {
        t.name: build_component(
            LOSSES.get(t.loss), t.params,
            **injected("loss", num_classes=data.num_classes, dataset=data,
                       train_target=data.train.labels(targets[t.name])),
        ).to(device)
        for t in spec.terms
    }  # fmt: skip
    _materialize_lazy(model, losses, spec.terms, targets, data, spec.train.batch_size, device)
    combiner = build_component(
        COMBINERS.get(spec.combiner.method), spec.combiner.params,
        **injected("combiner", terms=[t.name for t in spec.terms]),
    ).to(device)  # fmt: skip
    main = next((t for t in spec.terms if t.output == "out"), spec.terms[0])
    return Parts(data, model, losses, combiner, targets, main)


def _materialize_lazy(model, losses, terms, targets, data, batch_size, device) -> None:
    """Give lazily shaped loss parameters (center loss's centers, sized by the features they
    meet) their shapes before the optimizer sees them, by one forward pass on a throw-away copy
    of the model in training mode, with the random state restored afterwards."""
    from torch.nn.modules.lazy import LazyModuleMixin

    lazy = [t for t in terms if isinstance(losses[t.name], LazyModuleMixin)]
    lazy = [t for t in lazy if losses[t.name].has_uninitialized_params()]
    if not lazy:
        return
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        probe = copy.deepcopy(model).train()
        x, y = data.train.first_batch(min(batch_size, len(data.train)), device)
        with torch.no_grad():
            outputs = probe(x)
            for t in lazy:
                losses[t.name](outputs[t.output], y[targets[t.name]])
    del probe
