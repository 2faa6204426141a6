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
    """Check the base configuration and each structurally different one the search can make."""
    check_device(spec.train.device, placed_on_gpu)
    if spec.train.function is not None:
        return  # a loop of the user's own: what it builds is its business
    for s in structures(spec):
        check(s)


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


def check(spec: S.Experiment) -> None:
    """Build the configuration on the CPU and run one training and one validation step."""
    import torch

    from ablate.tasks import TASKS
    from ablate.train import build

    device = torch.device("cpu")
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
        x, y = data.train.first_batch(2)
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
        xv, yv = data.val.first_batch(2)
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
