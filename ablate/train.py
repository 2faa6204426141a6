"""``fit(spec, seed, reporter)``: one training run, top to bottom.

The trainer knows nothing of Optuna or MLflow. It reports what it measures to a
:class:`Reporter`, which the study driver connects to MLflow logging.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import Tensor

from ablate import metrics as M
from ablate.combiners import Context
from ablate.combiners._base import LazyKPIs
from ablate.errors import AblateError
from ablate.registry import COMBINERS, DATASETS, LOSSES, MODELS
from ablate.registry import build as build_component
from ablate.reporting import Reporter
from ablate.spec import Experiment
from ablate.tasks import TASKS


class TrainingError(AblateError):
    """The run cannot go on (e.g. the loss became NaN)."""


@dataclass
class FitResult:
    objective: float
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    device: str = "cpu"
    device_name: str = "cpu"
    wall_time_s: float = 0.0
    stopped_early: bool = False


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


@dataclass
class Parts:
    """What a run trains: the data, the model, one loss per term, the combiner."""

    data: object  # ablate.data.Dataset
    model: torch.nn.Module
    losses: dict[str, torch.nn.Module]
    combiner: torch.nn.Module
    targets: dict[str, str]  # term -> the dataset target it reads
    main: object  # the term on the main output ("out")


def build(spec: Experiment, seed: int, device: torch.device) -> Parts:
    """Build everything a run needs from the spec; ``seed`` decides the model's initial
    weights (and lazily shaped loss parameters), never the data."""
    # Data first, from its own seed: every training seed sees the same scenes.
    data = build_component(DATASETS.get(spec.data.name), spec.data.params, device=str(device))
    seed_everything(seed)
    model = build_component(
        MODELS.get(spec.model.name),
        spec.model.params,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
    ).to(device)
    targets = {t.name: t.target or data.default_target for t in spec.terms}
    for i, t in enumerate(spec.terms):
        if targets[t.name] not in data.train.targets:
            raise AblateError(
                f"terms.{i}.target: dataset {spec.data.name!r} has no target "
                f"{targets[t.name]!r}; its targets: {', '.join(data.train.targets)}"
            )
    # Losses may read the training targets they will see (DeepMAR's label ratios).
    losses = {
        t.name: build_component(
            LOSSES.get(t.loss),
            t.params,
            num_classes=data.num_classes,
            dataset=data,
            train_target=data.train.targets[targets[t.name]],
        ).to(device)
        for t in spec.terms
    }
    _materialize_lazy(model, losses, spec.terms, targets, data, spec.train.batch_size)
    combiner = build_component(
        COMBINERS.get(spec.combiner.method),
        spec.combiner.params,
        terms=[t.name for t in spec.terms],
    ).to(device)
    main = next((t for t in spec.terms if t.output == "out"), spec.terms[0])
    return Parts(data, model, losses, combiner, targets, main)


def fit(
    spec: Experiment, seed: int = 0, reporter: Reporter | None = None, progress: bool = True
) -> FitResult:
    reporter = reporter or Reporter()
    cfg = spec.train
    t_start = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and cuda)
    channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and cuda)

    parts = build(spec, seed, device)
    data, model, losses, combiner = parts.data, parts.model, parts.losses, parts.combiner
    targets, main = parts.targets, parts.main
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    # Learned task weights and loss parameters (center loss's centers) are optimised with the
    # model, without weight decay.
    loss_params = [p for loss in losses.values() for p in loss.parameters()]
    groups = [
        {"params": list(model.parameters()), "weight_decay": cfg.weight_decay},
        {"params": list(combiner.parameters()) + loss_params, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    else:
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
    steps_per_epoch = math.ceil(len(data.train) / cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    # Poly schedule per iteration, as in PSPNet: lr = base * (1 - it / max_it) ** power.
    poly = (
        (lambda it: (1 - it / total_steps) ** cfg.poly_power)
        if cfg.lr_schedule == "poly"
        else (lambda it: 1.0)
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, poly)
    shuffle = torch.Generator().manual_seed(seed)

    reporter.metrics({f"baseline/{k}": v for k, v in _majority_baseline(data).items()}, 0)
    history: list[dict[str, float]] = []
    term_history: dict[str, list[float]] = {t.name: [] for t in spec.terms}
    ctx = Context(
        epochs=cfg.epochs,
        steps_per_epoch=steps_per_epoch,
        history=term_history,
        shared_params=[p for p in model.parameters() if p.requires_grad],
    )
    step = 0
    stopped = False
    bar = _progress(cfg.epochs, progress, f"{spec.name} seed={seed}")
    for epoch in range(cfg.epochs):
        t_epoch = time.perf_counter()
        model.train()
        combiner.train()
        order = torch.randperm(len(data.train), generator=shuffle).to(device)
        # Sums stay on the device: one host sync per epoch, not per step.
        sums = {name: torch.zeros((), device=device) for name in losses}
        kpi_sums: dict[str, Tensor] = {}
        step_totals: list[Tensor] = []
        for b in range(steps_per_epoch):
            x, y = data.train.batch(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                outputs = model(x)
            # Per-term KPIs for methods such as dynamic task prioritization: computed only if
            # the combiner reads them, and kept on the device.
            ctx.kpis = LazyKPIs(
                partial(term_kpis, spec.terms, outputs, y, targets, data.ignore_index)
            )
            ctx.epoch, ctx.step = epoch, step
            term_losses = {
                t.name: losses[t.name](outputs[t.output], y[targets[t.name]]) for t in spec.terms
            }
            total = combiner(term_losses, ctx)
            if ctx.kpis.computed:
                for name, value in ctx.kpis.items():
                    kpi_sums[name] = kpi_sums.get(name, 0) + value
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            for name, value in term_losses.items():
                sums[name] += value.detach()
            step_totals.append(total.detach())
            step += 1

        train_losses = {n: float(s) / steps_per_epoch for n, s in sums.items()}
        totals = torch.stack(step_totals).float().cpu().tolist()
        if not all(map(math.isfinite, [*train_losses.values(), *totals])):
            raise TrainingError(f"non-finite loss in epoch {epoch}: {train_losses}")
        for name, value in train_losses.items():
            term_history[name].append(value)
        val = evaluate(model, data, losses[main.name], cfg.eval_batch_size, amp, channels_last)
        row = {
            "train/loss": sum(totals) / len(totals),
            **{f"train/{n}": v for n, v in train_losses.items()},
            **{f"val/{k}": v for k, v in val.items()},
            **{f"weight/{n}": w for n, w in combiner.weights().items()},
            **{f"kpi/{n}": float(v) / steps_per_epoch for n, v in kpi_sums.items()},
            "lr": sched.get_last_lr()[0],
            "time/epoch_s": time.perf_counter() - t_epoch,
        }
        history.append(row)
        reporter.series("train/loss_step", totals, step - len(totals))
        reporter.metrics(row, epoch)
        # Logged first, so the run shows the epoch that diverged; then it fails, never FINISHED
        # with a NaN for a result.
        bad = [
            k for k, v in row.items() if k.startswith(("train/", "val/")) and not math.isfinite(v)
        ]
        if bad:
            raise TrainingError(f"non-finite {', '.join(bad)} in epoch {epoch}")
        bar.update(1)
        bar.set_postfix(
            {k: f"{row[k]:.3f}" for k in ("train/loss", spec.objective.metric) if k in row}
        )
        if reporter.should_stop():
            stopped = True
            break
    bar.close()

    wall = time.perf_counter() - t_start
    final = dict(history[-1])
    final["time/fit_s"] = wall
    reporter.metrics({"time/fit_s": wall}, len(history) - 1)
    objective = objective_value(
        history, spec.objective.metric, spec.objective.direction, spec.objective.reduce
    )
    if not math.isfinite(objective):
        raise TrainingError(f"non-finite objective {spec.objective.metric} = {objective}")
    return FitResult(
        objective=objective,
        metrics=final,
        history=history,
        device=str(device),
        device_name=torch.cuda.get_device_name(device) if cuda else "cpu",
        wall_time_s=wall,
        stopped_early=stopped,
    )


def _materialize_lazy(model, losses, terms, targets, data, batch_size) -> None:
    """Give lazily shaped loss parameters (center loss's centers, sized by the features they
    meet) their shapes before the optimizer sees them, by one forward pass on a throw-away copy
    of the model in training mode, with the random state restored afterwards."""
    from torch.nn.modules.lazy import LazyModuleMixin

    lazy = [t for t in terms if isinstance(losses[t.name], LazyModuleMixin)]
    lazy = [t for t in lazy if losses[t.name].has_uninitialized_params()]
    if not lazy:
        return
    import copy

    device = data.train.x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        probe = copy.deepcopy(model).train()
        x, y = data.train.batch(torch.arange(min(batch_size, len(data.train)), device=device))
        with torch.no_grad():
            outputs = probe(x)
            for t in lazy:
                losses[t.name](outputs[t.output], y[targets[t.name]])
    del probe


@torch.no_grad()
def term_kpis(terms, outputs, y, targets, ignore_index) -> dict[str, Tensor]:
    """Each class-scoring term's KPI in [0, 1] on the batch: mIoU for dense (per-pixel) targets,
    accuracy for one label per sample, micro F1 for multi-hot targets. Pixel accuracy would be a
    poor KPI for segmentation: with mostly background it starts near 1 and hides how badly the
    digits are segmented; label-wise accuracy would hide it the same way for multi-label heads."""
    kpis = {}
    for t in terms:
        out, target = outputs[t.output], y[targets[t.name]]
        if target.is_floating_point() and out.shape == target.shape and out.dim() == 2:
            tp, fp, fn = M.f1_counts(out > 0, target).sum(0).float()  # multi-label: micro F1
            kpis[t.name] = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
            continue
        if target.dtype != torch.long or out.dim() < 2 or out.shape[2:] != target.shape[1:]:
            continue  # not a class-index target (features, regression, ...): no KPI
        pred = out.argmax(1)
        if target.dim() > 1:
            iou = M.iou_per_class(M.confusion_matrix(pred, target, out.shape[1], ignore_index))
            kpis[t.name] = torch.nanmean(iou).float()
        else:
            kpis[t.name] = (pred == target).float().mean()
    return kpis


@torch.no_grad()
def evaluate(model, data, main_loss, batch_size: int, amp: bool, channels_last: bool):
    """Main-output metrics of the dataset's task on the validation split (aux heads are off)."""
    model.eval()
    device = data.val.x.device
    metrics = TASKS[data.task](data.num_classes, data.ignore_index)
    loss_sum = torch.zeros((), device=device)
    n = len(data.val)
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n), device=device)
        x, y = data.val.batch(idx)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)["out"]
        target = y[data.default_target]
        loss_sum += main_loss(out, target).detach() * len(idx)
        metrics.update(out, target)
    return {"loss": float(loss_sum) / n, **metrics.compute()}


def _majority_baseline(data) -> dict[str, float]:
    """Validation metrics of the best constant prediction learned from the training targets."""
    return TASKS[data.task].baseline(
        data.train.targets[data.default_target],
        data.val.targets[data.default_target],
        data.num_classes,
        data.ignore_index,
    )


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


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, leave=False)
