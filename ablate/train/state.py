"""What an epoch boundary must restore (weights, optimiser, schedule, combiner, loss
parameters, random streams) and which weights ``train.keep`` keeps."""

from __future__ import annotations

import copy

import torch

from ablate.checkpoint import rng_state


class State:
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


class Keeper:
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
