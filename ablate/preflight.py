"""Before anything trains: build each distinct configuration once and run one tiny step.

The schema (:mod:`ablate.spec`) checks names, keys, types and ranges; what only shows when the
parts meet is checked here, on the CPU, with two training and two validation samples: a term
whose target the dataset lacks, a loss that cannot take its output (``ce`` on multi-hot labels),
a model whose main output the dataset's task cannot score, an objective metric the run will not
measure (``val/mIoU`` for ``val/miou``), a device the machine does not have. Each is one line
naming the experiment's field; no run is created.
"""

from __future__ import annotations

import difflib
import json

from ablate import spec as S
from ablate.errors import AblateError, ConfigError

MAX_STRUCTURES = 8  # distinct (data, model, terms, method) combinations checked per sweep


def preflight(spec: S.Experiment, placed_on_gpu: bool = False) -> None:
    """Check the base configuration and each structurally different one the search can make:
    every file of the data first, then one step of each (the first through the real loader)."""
    check_device(spec.train.device, placed_on_gpu)
    candidates = structures(spec)
    verify_data(candidates)
    if spec.train.function is not None:
        return  # a loop of the user's own: what it builds is its business
    for i, s in enumerate(candidates):
        check(s, real_loader=i == 0)


def verify_data(specs: list[S.Experiment]) -> None:
    """Every file each distinct dataset will read, read once (the dataset's ``verify``): a
    truncated image is one line and exit 2 here, not a failure in every run."""
    import sys
    import time

    from ablate.registry import DATASETS

    seen = set()
    for s in specs:
        key = json.dumps([s.data.name, s.data.params], sort_keys=True, default=str)
        verify = getattr(DATASETS.get(s.data.name), "verify", None)
        if verify is None or key in seen:
            continue
        seen.add(key)
        start = time.perf_counter()
        try:
            what = verify(**s.data.params)
        except ValueError as exc:
            raise ConfigError("data.params.root", str(exc)) from None
        print(f"ablate: checked {what} of {s.data.params.get('root', s.data.name)} in "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr)  # fmt: skip


def structures(spec: S.Experiment) -> list[S.Experiment]:
    """The base spec and one spec per distinct structure (data, model, terms, combiner
    method) that the search's grid, or its categorical choices, can produce."""
    candidates = [spec]
    if spec.search.sampler == "grid":
        candidates += [S.with_values(spec, v) for v in S.grid_cells(spec)]
    else:
        for alias, c in S.search_space(spec).items():
            if c.parent is None and c.param.type == "categorical":
                candidates += [S.with_values(spec, {alias: v}) for v in c.param.choices]
    seen, out = set(), []
    for s in candidates:
        d = s.model_dump(mode="json")
        key = json.dumps([d["data"], d["model"], d["terms"], d["combiner"]["method"]])
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out[:MAX_STRUCTURES]


def check_device(device: str, placed_on_gpu: bool) -> None:
    import torch

    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise ConfigError("train.device", f"{device!r} but no CUDA device is available here")
    index = int(device.split(":")[1]) if ":" in device else 0
    if placed_on_gpu and index > 0:
        raise ConfigError(
            "train.device",
            f"{device!r}: a sweep worker sees only its own GPU (as cuda:0); use 'auto' or "
            "'cuda' and choose GPUs with --gpus",
        )
    if index >= torch.cuda.device_count():
        raise ConfigError(
            "train.device",
            f"{device!r} but this machine has {torch.cuda.device_count()} CUDA device(s)",
        )


def check(spec: S.Experiment, real_loader: bool = False) -> None:
    """Build the configuration on the CPU and run one training and one validation step;
    ``real_loader``: their samples read as training reads them (a streamed split's loader,
    with its worker processes, which receive the dataset pickled)."""
    import torch

    from ablate.tasks import TASKS
    from ablate.train import build

    device = torch.device("cpu")
    if real_loader and _takes_workers(spec) and spec.data.params.get("workers") is None:
        # The count is chosen per process at training time (none on a CPU-bound machine): read
        # with one loader process here all the same, to prove the dataset reaches one.
        spec = spec.model_copy(deep=True)
        spec.data.params["workers"] = 1
    with torch.random.fork_rng(devices=[]):
        try:
            parts = build(spec, 0, device)
        except AblateError:
            raise
        except (ValueError, TypeError, RuntimeError) as exc:
            raise AblateError(
                f"cannot build the experiment: {type(exc).__name__}: {_first_line(exc)}"
            ) from None
        data, model = parts.data, parts.model
        try:
            x, y = _first(data.train, spec.train.batch_size, real_loader, train=True)
            xv, yv = _first(data.val, spec.train.eval_batch_size, real_loader, train=False)
        except Exception as exc:  # noqa: BLE001  (the loader, its workers, a user's dataset)
            raise ConfigError(
                "data", f"{spec.data.name!r} cannot be read: {type(exc).__name__}: "
                f"{_first_line(exc)}",
            ) from None  # fmt: skip
        model.train()
        try:
            outputs = model(x)
        except Exception as exc:  # noqa: BLE001  (reported with what was given)
            raise ConfigError(
                "model", f"{spec.model.name!r} fails on the data's inputs {list(x.shape)}: {exc}"
            ) from None
        losses = {}
        for i, t in enumerate(spec.terms):
            if t.output not in outputs:
                raise ConfigError(
                    f"terms.{i}.output",
                    f"the model gave no {t.output!r} in training; it gave: {', '.join(outputs)}",
                )
            out, target = outputs[t.output], y[parts.targets[t.name]]
            try:
                losses[t.name] = parts.losses[t.name](out, target)
            except Exception as exc:  # noqa: BLE001
                raise ConfigError(
                    f"terms.{i}.loss",
                    f"{t.loss!r} cannot take output {t.output!r} {_shape(out)} with target "
                    f"{parts.targets[t.name]!r} {_shape(target)}: {_first_line(exc)}",
                ) from None
        model.eval()
        with torch.no_grad():
            out = model(xv)["out"]
        metrics = TASKS[data.task](data.num_classes, data.ignore_index)
        try:
            metrics.update(out, yv[data.default_target])
            measured = metrics.compute()
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(
                "model.name",
                f"{spec.model.name!r} gives 'out' {_shape(out)}, which the dataset's task "
                f"{data.task!r} cannot score against {data.default_target!r} "
                f"{_shape(yv[data.default_target])}: {_first_line(exc)}",
            ) from None
    check_objective(spec, [f"val/{k}" for k in measured])


def _takes_workers(spec: S.Experiment) -> bool:
    import inspect

    from ablate.registry import DATASETS

    return "workers" in inspect.signature(DATASETS.get(spec.data.name)).parameters


def _first(split, batch_size: int, real_loader: bool, train: bool):
    """Two samples of the split: the start of its first real batch (read as training reads
    it, loader workers included), else read directly."""
    if not real_loader:
        return split.first_batch(2)
    batches = split.batches(batch_size, shuffle=train, seed=0, epoch=0)
    try:
        x, y = next(batches)
    finally:
        batches.close()
        getattr(split, "close", lambda: None)()  # stop the loader's workers
    return x[:2], {k: v[:2] for k, v in y.items()}


def check_objective(spec: S.Experiment, val_metrics: list[str]) -> None:
    terms = [t.name for t in spec.terms]
    measured = [
        *val_metrics, "val/loss", "train/loss", *(f"train/{t}" for t in terms),
        *(f"weight/{t}" for t in terms), "lr",
    ]  # fmt: skip
    metric = spec.objective.metric
    if metric not in measured:
        close = difflib.get_close_matches(metric, measured, n=1, cutoff=0.5)
        close = close or [m for m in measured if m.lower() == metric.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            "objective.metric",
            f"{metric!r} is not measured by this experiment{hint}; measured: "
            + ", ".join(measured),
        )


def _shape(t) -> str:
    return f"{list(t.shape)} {str(t.dtype).replace('torch.', '')}"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
