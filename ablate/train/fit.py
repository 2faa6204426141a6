"""``fit(spec, seed, reporter)``: one training run of ablate's loop, top to bottom.

Four phases: **build** (data, model, one loss per term, the combiner), **optimiser** (with the
poly schedule), the **epoch loop** (train, evaluate, checkpoint, report), **result**. The trainer
knows nothing of Optuna or MLflow: it reports what it measures to a :class:`Reporter`, and saves
its whole state to a checkpoint folder at the end of each epoch if given one, from which a run
killed midway resumes with the metrics an uninterrupted run would have had. One piece: the loop
reads top to bottom in its phases, as nanoGPT's ``train.py`` does.
"""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from ablate.checkpoint import Checkpoints, set_rng_state
from ablate.combiners import Context
from ablate.combiners._base import LazyKPIs
from ablate.errors import AblateError
from ablate.reporting import Reporter
from ablate.spec import Experiment
from ablate.tasks import TASKS
from ablate.train.build import build, resolve_device
from ablate.train.evaluate import evaluate, term_kpis
from ablate.train.result import FitResult, TrainingError, objective_value
from ablate.train.state import Keeper, State


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
    state = State(model, opt, sched, combiner, losses)
    kept = Keeper(cfg.keep, spec.objective.metric, spec.objective.direction)

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


def _progress(total: int, enabled: bool, desc: str, initial: int = 0):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="epoch", disable=not enabled, leave=False
    )
