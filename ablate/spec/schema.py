"""The experiment's schema: pydantic models only, strict (``extra="forbid"``), with the
validators that need nothing but the spec itself. One piece: the models nest into one
``Experiment`` (about 300 lines)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ablate.spec.identity import flatten, without_runtime


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, validate_assignment=False)


class Component(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class Term(_Strict):
    """A loss applied to one named model output: ``loss(outputs[output], targets[target])``."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    output: str
    loss: str
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class Combiner(_Strict):
    method: str = "fixed"
    params: dict[str, Any] = Field(default_factory=dict)


class Train(_Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(128, ge=1)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    lr_schedule: Literal["poly", "constant"] = "poly"
    poly_power: float = Field(0.9, gt=0)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    amp: Literal["auto", "bf16", "off"] = "auto"
    channels_last: Literal["auto", "on", "off"] = "auto"
    threads: int | None = Field(None, ge=1)
    # Validation by sliding windows of this side (PSPNet's test), else each image whole.
    eval_crop: int | None = Field(None, ge=8)
    # The weights logged as an MLflow model at the end: the last epoch's, the best epoch's (by
    # the objective's metric), or none.
    keep: Literal["none", "last", "best"] = "none"
    # Save the whole training state at the end of each epoch (a killed run resumes from it).
    checkpoint: bool = True
    # Your own training loop instead of ablate's, as module:callable (see ablate/train/custom.py),
    # and its own parameters (free-form, swept like any path: train.params.<name>).
    function: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)


class Objective(_Strict):
    metric: str = "val/miou"
    direction: Literal["maximize", "minimize"] = "maximize"
    reduce: Literal["last", "best"] = "last"


class SearchParam(_Strict):
    """One swept value: ``path`` is any dotted path in the spec; the key is its display alias."""

    path: str
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = Field(None, gt=0)
    log: bool = False
    choices: list[Any] | None = None
    # For ``combiner.method``: each chosen method's own search space (its class's ``space``)
    # joins the sweep for the trials that choose it; false runs every method at its defaults.
    spaces: bool = True

    @model_validator(mode="after")
    def _shape(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.step is not None:
                raise ValueError("a categorical parameter takes 'choices', not low/high/step")
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
            if self.low > self.high:
                raise ValueError(f"low ({self.low}) is greater than high ({self.high})")
            if self.choices is not None:
                raise ValueError(f"a {self.type} parameter takes low/high, not 'choices'")
            if self.log and self.low <= 0:
                raise ValueError("a log-scaled parameter needs low > 0")
        return self

    def grid(self) -> list[Any]:
        """Every value of this parameter on a grid (needs ``step`` for numbers)."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.step is None:
            raise ValueError("the grid sampler needs a 'step' for every numeric parameter")
        n = int(round((self.high - self.low) / self.step))
        values = [self.low + i * self.step for i in range(n + 1)]
        if self.type == "int":
            return [int(round(v)) for v in values]
        return [round(v, 10) for v in values]


class Confirm(_Strict):
    """Re-train the possibly-best set and the reference on fresh seeds after the search."""

    seeds: int = Field(5, ge=2)


PRUNER_PARAMS = {
    "none": {},
    "median": {"n_startup_trials": 5, "n_warmup_steps": 1, "interval_steps": 1},
    "successive_halving": {"min_resource": 1, "reduction_factor": 3, "min_early_stopping_rate": 0},
    "hyperband": {"min_resource": 1, "reduction_factor": 3},
}


class Pruner(_Strict):
    """Early stopping of whole configurations, judged on the mean over their seeds at *rungs*
    (epoch counts): every seed trains to a rung, pauses (checkpointed), and the configuration
    goes on only if the pruner keeps it. ``successive_halving`` on a grid is synchronous (at
    each rung the best ``1 / reduction_factor`` of the grid's configurations go on); the other
    pruners, and every pruner under tpe/random, are Optuna's own, asked as each configuration
    reaches a rung. ``keep_reference``: the report's reference configuration is never pruned
    (the effect of the searched loss is measured against it)."""

    name: Literal["none", "median", "successive_halving", "hyperband"] = "none"
    params: dict[str, int] = Field(default_factory=dict)
    keep_reference: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _known(self) -> Pruner:
        known = PRUNER_PARAMS[self.name]
        bad = sorted(set(self.params) - set(known))
        if bad:
            raise ValueError(
                f"pruner {self.name!r} has no parameter {', '.join(bad)}; it takes: "
                f"{', '.join(known) or 'none'}"
            )
        merged = {**known, **self.params}
        if any(v < (2 if k == "reduction_factor" else 0) for k, v in merged.items()) or (
            merged.get("min_resource", 1) < 1
        ):
            raise ValueError(f"pruner {self.name!r}: out-of-range parameters {self.params}")
        return self

    def get(self, key: str) -> int:
        return {**PRUNER_PARAMS[self.name], **self.params}[key]

    def rungs(self, epochs: int) -> list[int]:
        """The epoch counts at which configurations are judged (always fewer than ``epochs``)."""
        if self.name == "median":
            first, step = max(1, self.get("n_warmup_steps")), max(1, self.get("interval_steps"))
            return list(range(first, epochs, step))
        if self.name in ("successive_halving", "hyperband"):
            m, eta = self.get("min_resource"), self.get("reduction_factor")
            r = m * eta ** (self.get("min_early_stopping_rate") if self.name != "hyperband" else 0)
            out = []
            while r < epochs:
                out.append(r)
                r *= eta
            return out
        return []


class Race(_Strict):
    """Seeds where they matter (racing, after F-Race): every configuration starts on the first
    ``initial`` of ``search.seeds``; at each stage, once all have finished their seeds, those
    outside the possibly-best set (the report's pairwise test on the seed-paired runs, at
    ``alpha / stages``) stop, and the others get ``step`` more seeds, up to all of them. The
    chance that the truly best configuration is raced out is at most ``alpha``, which is taken
    from the report's 5% (its comparisons then share the rest). The report's reference
    (``keep_reference``) always gets every seed."""

    initial: int = Field(3, ge=2)
    step: int = Field(1, ge=1)
    alpha: float = Field(0.025, gt=0, le=0.04)
    keep_reference: bool = True

    def counts(self, total: int) -> list[int]:
        """The seed counts of the stages: initial, initial + step, ..., total."""
        out = [min(self.initial, total)]
        while out[-1] < total:
            out.append(min(out[-1] + self.step, total))
        return out

    def level(self, total: int) -> float:
        """Each elimination stage's share of ``alpha``."""
        return self.alpha / max(1, len(self.counts(total)) - 1)


class Search(_Strict):
    sampler: Literal["grid", "tpe", "random"] = "grid"
    n_trials: int | None = Field(None, ge=1)
    sampler_seed: int = 0
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    params: dict[str, SearchParam] = Field(default_factory=dict)
    confirm: Confirm | None = None
    pruner: Pruner = Field(default_factory=Pruner)
    race: Race | None = None

    @model_validator(mode="after")
    def _shape(self) -> Search:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if self.sampler != "grid" and self.n_trials is None:
            raise ValueError(f"the {self.sampler} sampler needs 'n_trials'")
        if self.race is not None:
            if self.sampler != "grid":
                raise ValueError("search.race needs the grid sampler (it races a fixed set)")
            if self.race.initial >= len(self.seeds):
                raise ValueError(
                    f"search.race.initial={self.race.initial} leaves no seed to add: "
                    f"search.seeds has {len(self.seeds)}"
                )
        for alias in self.params:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", alias):
                raise ValueError(f"parameter alias {alias!r} must be an identifier")
        return self


class ReportSpec(_Strict):
    """What the report compares against (not part of the study: change it any time)."""

    # The configuration effects are measured against, by search alias, e.g. {aux_weight: 0.0};
    # default: the first level of each swept parameter.
    reference: dict[str, Any] | None = None
    reference_name: str | None = None  # what the reference is, in words ("no aux loss")
    # "Within +-margin of the reference" statements (TOST), in the objective's units; without a
    # margin the report never says two settings are equal. Only a margin wider than the
    # intervals can be shown: at 11 settings x 3 seeds that is about 3 seed-to-seed SDs (the
    # pairwise family's 90%-level half-width at alpha 2.5%), at 11 x 6 about 2.
    margin: float | None = Field(None, gt=0)


class Experiment(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    plugins: list[str] = Field(default_factory=list)
    data: Component
    model: Component | None = None  # required unless train.function trains its own way
    terms: list[Term] = Field(default_factory=list)
    combiner: Combiner = Field(default_factory=Combiner)
    train: Train = Field(default_factory=Train)
    objective: Objective = Field(default_factory=Objective)
    search: Search = Field(default_factory=Search)
    report: ReportSpec = Field(default_factory=ReportSpec)

    @model_validator(mode="after")
    def _unique_terms(self) -> Experiment:
        if self.train.function is None and (self.model is None or not self.terms):
            raise ValueError(
                "an experiment needs a model and at least one term (unless train.function "
                "names a training loop of your own)"
            )
        pruner = self.search.pruner
        if pruner.name != "none":
            if self.train.function is not None:
                raise ValueError(
                    "search.pruner needs ablate's trainer (it pauses runs at rungs); a "
                    "train.function loop cannot be pruned"
                )
            if not self.train.checkpoint:
                raise ValueError(
                    "search.pruner needs train.checkpoint: true (runs pause at rungs)"
                )
        names = [t.name for t in self.terms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"term names must be unique, repeated: {dup}")
        return self

    # -- views ------------------------------------------------------------------------------
    def training_config(self) -> dict[str, Any]:
        """What decides a training run apart from the seed (the configuration): the spec
        without its :data:`RUNTIME` settings."""
        d = without_runtime(self.model_dump(mode="json"))
        return {k: d[k] for k in ("data", "model", "terms", "combiner", "train")}

    def config_hash(self) -> str:
        """A stable 12-hex-digit id of the configuration (independent of key order) and of the
        code that trains it (ablate's version and the plug-ins' sources: see provenance)."""
        from ablate.provenance import code_version

        config = {**self.training_config(), "code": code_version(self.plugins)}
        blob = json.dumps(config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def flatten(self) -> dict[str, str]:
        """The whole spec as ``dotted.key -> str`` (MLflow params)."""
        return flatten(self.model_dump(mode="json"))
