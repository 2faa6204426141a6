"""``fit(spec, seed, reporter)``: one training run, top to bottom.

Four phases: **build** (data, model, one loss per term, the combiner), **optimiser** (with the
poly schedule), the **epoch loop** (train, evaluate, checkpoint, report), **result**. The trainer
knows nothing of Optuna or MLflow: it reports what it measures to a :class:`Reporter`, and saves
its whole state to a checkpoint folder at the end of each epoch if given one, from which a run
killed midway resumes with the metrics an uninterrupted run would have had.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ablate.checkpoint import Checkpoints, rng_state, set_rng_state
from ablate.combiners import Context
from ablate.combiners._base import LazyKPIs
from ablate.errors import AblateError
from ablate.registry import COMBINERS, DATASETS, LOSSES, MODELS, injected
from ablate.registry import build as build_component
from ablate.reporting import Reporter
from ablate.spec import Experiment
from ablate.tasks import TASKS, batch_kpi


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
    paused: bool = False  # stopped at a rung (checkpointed) for a pruner's decision
    resumed_from: int | None = None  # the epoch of the checkpoint it resumed from
    model: torch.nn.Module | None = None  # with the kept weights (train.keep), on the CPU
    kept_epoch: int | None = None


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


def run(
    spec: Experiment,
    seed: int = 0,
    reporter: Reporter | None = None,
    progress: bool = True,
    *,
    checkpoints: Path | None = None,
    pause: list[int] | None = None,
) -> FitResult:
    """One training run: ablate's loop (:func:`fit`), or the experiment's own
    ``train.function`` (see ablate/custom.py)."""
    if spec.train.function is not None:
        from ablate.custom import run as run_custom

        return run_custom(spec, seed, reporter or Reporter(), progress, checkpoints)
    return fit(spec, seed, reporter, progress, checkpoints=checkpoints, pause=pause)


def fit(
    spec: Experiment,
    seed: int = 0,
    reporter: Reporter | None = None,
    progress: bool = True,
    *,
    checkpoints: Path | None = None,
    pause: list[int] | None = None,
) -> FitResult:
    """Train one seed. ``pause``: epoch counts (rungs) at which to stop with the state
    checkpointed, the first one not yet reached; a run resumed exactly at one stops at once."""
    reporter = reporter or Reporter()
    cfg = spec.train
    t_start = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and cuda)
    channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and cuda)

    # --- build ---------------------------------------------------------------------------
    parts = build(spec, seed, device)
    data, model, losses, combiner = parts.data, parts.model, parts.losses, parts.combiner
    targets, main = parts.targets, parts.main
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    # --- optimiser -----------------------------------------------------------------------
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
    steps_per_epoch = data.train.steps(cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    # Poly schedule per iteration, as in PSPNet: lr = base * (1 - it / max_it) ** power.
    poly = (
        (lambda it: max(0.0, 1 - it / total_steps) ** cfg.poly_power)
        if cfg.lr_schedule == "poly"
        else (lambda it: 1.0)
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, poly)

    history: list[dict[str, float]] = []
    term_history: dict[str, list[float]] = {t.name: [] for t in spec.terms}
    ctx = Context(
        epochs=cfg.epochs,
        steps_per_epoch=steps_per_epoch,
        history=term_history,
        shared_params=[p for p in model.parameters() if p.requires_grad],
    )
    state = _State(model, opt, sched, combiner, losses)
    kept = _Keeper(cfg.keep, spec.objective.metric, spec.objective.direction)

    # --- resume --------------------------------------------------------------------------
    # A checkpoint restores everything, the random streams included; batches and augmentation
    # are functions of (seed, epoch), so the remaining epochs are the ones an uninterrupted
    # run would have had. The last epoch's logged values are sent again with their original
    # timestamps: MLflow keeps one copy of an identical point.
    store = Checkpoints(checkpoints) if checkpoints is not None else None
    start, step, resumed = 0, 0, None
    saved = store.latest(device) if store is not None else None
    if saved is not None:
        state.load(saved)
        history[:] = saved["history"]
        for name, values in saved["term_history"].items():
            term_history[name][:] = values
        start, step, resumed = saved["epoch"] + 1, saved["step"], saved["epoch"]
        # time/fit_s counts every segment of a run (paused at rungs, or killed and resumed):
        # the time to the checkpoint, then this one's.
        t_start -= saved.get("fit_s", 0.0)
        kept.load(saved.get("kept"))
        set_rng_state(saved["rng"])
        reporter.series("train/loss_step", *saved["series"], timestamp_ms=saved["time_ms"])
        reporter.metrics(history[-1], saved["epoch"], timestamp_ms=saved["time_ms"])
    else:
        baseline = TASKS[data.task].baseline(data, data.default_target)
        reporter.metrics({f"baseline/{k}": v for k, v in baseline.items()}, 0)

    # --- epoch loop ----------------------------------------------------------------------
    stopped = False
    until = min((r for r in pause or () if start <= r < cfg.epochs), default=cfg.epochs)
    if until < cfg.epochs and store is None:
        raise AblateError("pausing at a rung needs a checkpoint folder")
    bar = _progress(cfg.epochs, progress, f"{spec.name} seed={seed}", start)
    for epoch in range(start, until):
        t_epoch = time.perf_counter()
        model.train()
        combiner.train()
        # Sums stay on the device: one host sync per epoch, not per step.
        sums = {name: torch.zeros((), device=device) for name in losses}
        kpi_sums: dict[str, Tensor] = {}
        step_totals: list[Tensor] = []
        batches = data.train.batches(
            cfg.batch_size, shuffle=True, seed=seed, epoch=epoch, device=device
        )
        for x, y in batches:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                outputs = model(x)
            # Per-term KPIs for methods such as dynamic task prioritization: computed only if
            # the combiner reads them, and kept on the device.
            ctx.kpis = LazyKPIs(
                partial(_term_kpis, spec.terms, outputs, y, targets, data.ignore_index)
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

        train_losses = {n: float(s) / len(step_totals) for n, s in sums.items()}
        totals = torch.stack(step_totals).float().cpu().tolist()
        if not all(map(math.isfinite, [*train_losses.values(), *totals])):
            raise TrainingError(f"non-finite loss in epoch {epoch}: {train_losses}")
        for name, value in train_losses.items():
            term_history[name].append(value)

        val = evaluate(model, data, losses[main.name], cfg, amp, channels_last, device)
        row = {
            "train/loss": sum(totals) / len(totals),
            **{f"train/{n}": v for n, v in train_losses.items()},
            **{f"val/{k}": v for k, v in val.items()},
            **{f"weight/{n}": w for n, w in combiner.weights().items()},
            **{f"kpi/{n}": float(v) / len(step_totals) for n, v in kpi_sums.items()},
            "lr": sched.get_last_lr()[0],
            "time/epoch_s": time.perf_counter() - t_epoch,
        }
        history.append(row)
        kept.offer(epoch, row, model)
        now = int(time.time() * 1000)
        series = (totals, step - len(totals))
        # Checkpoint, then report: a run killed in between sends this epoch again on resume,
        # with the same timestamps, so no point is lost or doubled.
        if store is not None:
            t_ckpt = time.perf_counter()
            saved_state = state.dump(epoch, step, history, term_history, kept, series, now)
            saved_state["fit_s"] = time.perf_counter() - t_start
            store.save(epoch, saved_state)
            row["time/checkpoint_s"] = time.perf_counter() - t_ckpt
        reporter.series("train/loss_step", *series, timestamp_ms=now)
        reporter.metrics(row, epoch, timestamp_ms=now)
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

    # --- result --------------------------------------------------------------------------
    for split in (data.train, data.val):
        getattr(split, "close", lambda: None)()  # streamed splits: stop their loader workers
    wall = time.perf_counter() - t_start
    paused = len(history) < cfg.epochs and not stopped
    final = dict(history[-1])
    final["time/fit_s"] = wall
    if not paused:
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
        paused=paused,
        resumed_from=resumed,
        model=None if paused else kept.model(model),
        kept_epoch=kept.epoch,
    )


class _State:
    """Everything an epoch boundary needs to be restored: weights, optimiser, schedule,
    combiner, loss parameters, random streams."""

    def __init__(self, model, opt, sched, combiner, losses):
        self.model, self.opt, self.sched = model, opt, sched
        self.combiner, self.losses = combiner, losses

    def dump(self, epoch, step, history, term_history, kept, series, now) -> dict:
        return {
            "epoch": epoch, "step": step, "history": history, "term_history": term_history,
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(), "combiner": self.combiner.state_dict(),
            "losses": {k: v.state_dict() for k, v in self.losses.items()},
            "rng": rng_state(), "kept": kept.dump(), "series": series, "time_ms": now,
        }  # fmt: skip

    def load(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["optimizer"])
        self.sched.load_state_dict(saved["scheduler"])
        self.combiner.load_state_dict(saved["combiner"])
        for k, v in saved["losses"].items():
            self.losses[k].load_state_dict(v)


class _Keeper:
    """Which weights ``train.keep`` asks for: the last epoch's, the best epoch's (by the
    objective's metric), or none."""

    def __init__(self, keep: str, metric: str, direction: str):
        self.keep, self.metric, self.sign = keep, metric, 1.0 if direction == "maximize" else -1.0
        self.epoch: int | None = None
        self.best: float | None = None
        self.weights: dict | None = None

    def offer(self, epoch: int, row: dict, model) -> None:
        if self.keep == "last":
            self.epoch = epoch
        elif self.keep == "best" and self.metric in row:
            value = self.sign * row[self.metric]
            if self.best is None or value > self.best:
                self.epoch, self.best = epoch, value
                self.weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def model(self, model) -> torch.nn.Module | None:
        if self.keep == "none":
            return None
        model = copy.deepcopy(model).cpu().eval()
        if self.keep == "best" and self.weights is not None:
            model.load_state_dict(self.weights)
        return model.to(memory_format=torch.contiguous_format)

    def dump(self) -> dict:
        return {"epoch": self.epoch, "best": self.best, "weights": self.weights}

    def load(self, saved: dict | None) -> None:
        if saved:
            self.epoch, self.best, self.weights = saved["epoch"], saved["best"], saved["weights"]


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


def _term_kpis(terms, outputs, y, targets, ignore_index) -> dict[str, Tensor]:
    kpis = {}
    for t in terms:
        kpi = batch_kpi(outputs[t.output], y[targets[t.name]], ignore_index)
        if kpi is not None:
            kpis[t.name] = kpi
    return kpis


@torch.no_grad()
def evaluate(model, data, main_loss, cfg, amp: bool, channels_last: bool, device):
    """Main-output metrics of the dataset's task on the validation split (aux heads are off):
    each image whole, or (``train.eval_crop``) by sliding windows averaged, as PSPNet tests."""
    model.eval()
    metrics = TASKS[data.task](data.num_classes, data.ignore_index)
    loss_sum, n = torch.zeros((), device=device), 0
    for x, y in data.val.batches(cfg.eval_batch_size, device=device):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = sliding(model, x, cfg.eval_crop) if cfg.eval_crop else model(x)["out"]
        target = y[data.default_target]
        loss_sum += main_loss(out.float(), target).detach() * len(x)
        n += len(x)
        metrics.update(out, target)
    return {"loss": float(loss_sum) / n, **metrics.compute()}


def sliding(model, x: Tensor, crop: int, overlap: float = 1 / 3) -> Tensor:
    """Dense logits from ``crop`` x ``crop`` windows with ``overlap`` between neighbours (the
    image padded up to a window where smaller), averaged where windows meet."""
    import torch.nn.functional as F

    b, _, h, w = x.shape
    ph, pw = max(crop - h, 0), max(crop - w, 0)
    xp = F.pad(x, (0, pw, 0, ph))
    hh, ww = xp.shape[2:]
    stride = max(1, int(crop * (1 - overlap)))
    ys = list(range(0, max(hh - crop, 0) + 1, stride))
    xs = list(range(0, max(ww - crop, 0) + 1, stride))
    if ys[-1] + crop < hh:
        ys.append(hh - crop)
    if xs[-1] + crop < ww:
        xs.append(ww - crop)
    total = count = None
    for top in ys:
        for left in xs:
            out = model(xp[:, :, top : top + crop, left : left + crop])["out"].float()
            if total is None:
                total = out.new_zeros(b, out.shape[1], hh, ww)
                count = out.new_zeros(1, 1, hh, ww)
            total[:, :, top : top + crop, left : left + crop] += out
            count[:, :, top : top + crop, left : left + crop] += 1
    return (total / count)[:, :, :h, :w]


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


def _progress(total: int, enabled: bool, desc: str, initial: int = 0):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="epoch", disable=not enabled, leave=False
    )
