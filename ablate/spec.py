"""The experiment spec: a strict schema for the YAML files in ``experiments/``.

Every problem is reported before anything trains, as ``dotted.path: what is wrong``. Component
parameters (``model.params``, ``terms[i].params``, ``combiner.params``, ``data.params``) are
checked against the registered builder's typed signature, so a plug-in's ``__init__`` *is* its
schema.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ablate.errors import AblateError, ConfigError
from ablate.registry import INJECTED

# How a run is carried out, not what is compared: these may differ between the sweeps of one
# study (more loader workers on a bigger machine, the weights kept this time) without changing
# a configuration's hash or the study's fingerprint, so finished runs are reused. Each run still
# logs them with the rest of its flattened experiment. (Mixed precision, channels-last and
# everything else that changes the numbers stay part of the configuration.)
RUNTIME = (
    "data.params.workers",  # loader processes: the batches are the same (tested)
    "train.threads",
    "train.device",  # "auto" already runs one study on CPUs and GPUs alike
    "train.eval_batch_size",  # evaluation is in eval mode: batching changes nothing
    "train.checkpoint",
    "train.keep",
)


def without_runtime(dumped: dict[str, Any]) -> dict[str, Any]:
    """A copy of a dumped spec without the :data:`RUNTIME` settings."""
    import copy

    out = copy.deepcopy(dumped)
    for path in RUNTIME:
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


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
    # Your own training loop instead of ablate's, as module:callable (see ablate/custom.py),
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
    outside the possibly-best set (Tukey's range test on the seed-paired runs, at
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
    # margin the report never says two settings are equal.
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


# --------------------------------------------------------------------------------------------
# Loading


def load(
    path: str | Path, overrides: Iterable[str] = (), *, check_search: bool = True
) -> Experiment:
    """Read, override, validate: the only way a spec enters ablate."""
    path = Path(path)
    if not path.is_file():
        raise AblateError(f"experiment file not found: {path}")
    try:
        with path.open() as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise AblateError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AblateError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError("", "the file must hold a mapping at its top level", str(path))
    for item in overrides:
        apply_override(raw, item)
    return validate(raw, source=str(path), check_search=check_search)


def validate(
    raw: Mapping[str, Any], source: str | None = None, *, check_search=True
) -> Experiment:
    from ablate.registry import load_plugins

    plugins = raw.get("plugins") or []
    if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
        load_plugins(plugins)
    spec = _parse(raw, source)
    check_components(spec, source)
    if check_search:
        _check_search(spec, source)
    return spec


def with_values(spec: Experiment, values: Mapping[str, Any]) -> Experiment:
    """A copy of ``spec`` with each search alias's value written at its dotted path.

    Sweeping ``combiner.method``: a trial whose method differs from the spec's own drops the
    spec's ``combiner.params`` (they belong to the other method), so the chosen method runs with
    its own defaults, the paper's; values swept on ``combiner.params.*`` still apply.
    """
    raw = spec.model_dump(mode="json")
    params = search_space(spec)
    paths = {params[alias].param.path: value for alias, value in values.items()}
    for path, value in paths.items():
        if not path.startswith("combiner.params."):
            set_path(raw, path, value)
    if raw["combiner"]["method"] != spec.combiner.method:
        raw["combiner"]["params"] = {}
    for path, value in paths.items():
        if path.startswith("combiner.params."):
            set_path(raw, path, value)
    new = _parse(raw, None)
    check_components(new, None)
    return new


def label(values: Mapping[str, Any]) -> str:
    """A configuration's name from its search values: ``aux_weight=0.6 method=dwa`` (floats to
    6 significant digits, still written as floats: 1.0, not 1)."""

    def short(v: Any) -> str:
        if not isinstance(v, float):
            return str(v)
        text = f"{v:.6g}"
        return text if any(c in text for c in ".enai") else f"{text}.0"

    return " ".join(f"{k}={short(v)}" for k, v in values.items()) or "default"


def apply_override(raw: dict, item: str) -> None:
    """Apply one ``dotted.key=value`` override (the value is parsed as YAML)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise AblateError(f"--set expects dotted.key=value, got {item!r}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AblateError(f"--set {key}: value is not valid YAML: {_yaml_problem(exc)}") from None
    set_path(raw, key.strip(), value)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line: what is wrong, and where (line and column)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None:
        return " ".join(str(exc).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = getattr(exc, "context", None)
    return f"{problem}{where}" + (f" ({context})" if context else "")


def set_path(raw: dict, dotted: str, value: Any) -> None:
    node: Any = raw
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(where, f"no list item {part!r} (the list has {len(node)})")
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(where, "cannot set a key inside a non-mapping value")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and (part not in node or node[part] is None):
                node[part] = {}
            node = node[part]


def get_path(raw: Mapping, dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(tree, Mapping):
        if not tree and prefix:
            out[prefix] = "{}"
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(tree, list) and any(isinstance(v, (Mapping, list)) for v in tree):
        for i, v in enumerate(tree):
            out.update(flatten(v, f"{prefix}.{i}"))
    else:
        out[prefix] = json.dumps(tree) if isinstance(tree, list) else str(tree)
    return out


# --------------------------------------------------------------------------------------------
# Validation helpers


def _parse(raw: Mapping[str, Any], source: str | None) -> Experiment:
    try:
        return Experiment.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise _to_config_error(exc, source, Experiment) from None


def _to_config_error(exc: pydantic.ValidationError, source, model=None, prefix="") -> ConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    path = ".".join([prefix, *loc] if prefix else loc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key" + _did_you_mean(loc[-1], _known_keys(model, loc[:-1]))
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    more = len(exc.errors()) - 1
    return ConfigError(path, msg + (f" (and {more} more problem(s))" if more else ""), source)


def _known_keys(model, loc: list[str]) -> list[str]:
    """The keys a (nested) pydantic model accepts at ``loc``, for 'did you mean'."""
    node = model
    try:
        for part in loc:
            if part.isdigit():
                continue
            ann = node.model_fields[part].annotation
            args = getattr(ann, "__args__", ())
            node = next(
                a for a in (*args, ann) if isinstance(a, type) and issubclass(a, BaseModel)
            )
        return list(node.model_fields)
    except (AttributeError, KeyError, StopIteration, TypeError):
        return []


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_kwargs(fn: Callable, params: Mapping[str, Any], path: str, kind: str, source=None):
    """Validate ``params`` against ``fn``'s typed signature; returns the coerced params."""
    try:
        sig = inspect.signature(fn)
        hints = _type_hints(fn)
    except (TypeError, ValueError):
        return dict(params)
    fields: dict[str, Any] = {}
    open_kwargs = False
    for name, p in sig.parameters.items():
        if name == "self" or p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            open_kwargs = True
            continue
        if name in INJECTED.get(kind, ()):
            continue
        default = ... if p.default is p.empty else p.default
        fields[name] = (hints.get(name, Any), default)
    for key in params:
        if key in INJECTED.get(kind, ()):
            raise ConfigError(f"{path}.{key}", "is set by ablate, not by the spec", source)
        if key not in fields and not open_kwargs:
            raise ConfigError(
                f"{path}.{key}",
                "unknown parameter"
                + _did_you_mean(key, fields)
                + f"; accepted: {', '.join(fields) or 'none'}",
                source,
            )
    extra = "allow" if open_kwargs else "forbid"
    model = pydantic.create_model(  # type: ignore[call-overload]
        f"{kind}_params",
        __config__=ConfigDict(extra=extra, arbitrary_types_allowed=True),
        **fields,
    )
    try:
        return model.model_validate(dict(params)).model_dump()
    except pydantic.ValidationError as exc:
        raise _to_config_error(exc, source, prefix=path) from None


def _type_hints(fn: Callable) -> dict[str, Any]:
    import typing

    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        return {}


def check_components(spec: Experiment, source: str | None) -> None:
    """Names exist in their registries; params fit the builders; terms fit model and combiner."""
    from ablate.registry import COMBINERS, DATASETS, LOSSES, MODELS

    def lookup(registry, name, path):
        try:
            return registry.get(name)
        except AblateError as exc:
            raise ConfigError(path, str(exc), source) from None

    data_builder = lookup(DATASETS, spec.data.name, "data.name")
    data_params = check_kwargs(data_builder, spec.data.params, "data.params", "dataset", source)
    _check_data(data_builder, spec.data.name, data_params, source)
    if spec.train.function is not None:
        from ablate.custom import resolve

        try:
            resolve(spec.train.function)
        except AblateError as exc:
            raise ConfigError("train.function", str(exc), source) from None
    if spec.model is None:  # a loop of the user's own (train.function) builds what it needs
        return
    model_cls = lookup(MODELS, spec.model.name, "model.name")
    check_kwargs(model_cls, spec.model.params, "model.params", "model", source)
    outputs = getattr(model_cls, "outputs", None)
    for i, term in enumerate(spec.terms):
        loss = lookup(LOSSES, term.loss, f"terms.{i}.loss")
        check_kwargs(loss, term.params, f"terms.{i}.params", "loss", source)
        if outputs is not None and term.output not in outputs:
            raise ConfigError(
                f"terms.{i}.output",
                f"model {spec.model.name!r} has no output "
                f"{term.output!r}; its outputs: {', '.join(outputs)}",
                source,
            )
    comb = lookup(COMBINERS, spec.combiner.method, "combiner.method")
    params = check_kwargs(comb, spec.combiner.params, "combiner.params", "combiner", source)
    try:
        comb(terms=[t.name for t in spec.terms], **params)
    except (ValueError, TypeError) as exc:
        raise ConfigError("combiner.params", str(exc), source) from None


_data_checked: set[str] = set()


def _check_data(builder: Callable, name: str, params: dict, source: str | None) -> None:
    """Run a dataset's own ``check`` (that a user's folder has the expected layout) once per
    distinct configuration, so a broken root fails at load time, not in every worker. Checks
    are about the files a dataset reads, so their errors point at ``data.params.root``."""
    check = getattr(builder, "check", None)
    if check is None:
        return
    key = json.dumps([name, params], sort_keys=True, default=str)
    if key in _data_checked:
        return
    try:
        check(**params)
    except ValueError as exc:
        raise ConfigError("data.params.root", str(exc), source) from None
    _data_checked.add(key)


def _check_search(spec: Experiment, source: str | None) -> None:
    """Every swept path exists, and every value the search can take validates."""
    raw = spec.model_dump(mode="json")
    for alias, p in spec.search.params.items():
        where = f"search.params.{alias}"
        try:
            get_path(raw, p.path)
        except (KeyError, IndexError, ValueError, TypeError):
            # Absent optional keys (e.g. a combiner weight left at its default) are fine to add.
            parent, _, _ = p.path.rpartition(".")
            try:
                get_path(raw, parent)
            except (KeyError, IndexError, ValueError, TypeError):
                raise ConfigError(
                    f"{where}.path", f"{p.path!r} is not a path in this experiment", source
                ) from None
        try:
            values = _values_to_check(p, spec.search.sampler)
        except ValueError as exc:
            raise ConfigError(where, str(exc), source) from None
        for value in values:
            try:
                with_values(spec, {alias: value})
            except ConfigError as exc:
                raise ConfigError(
                    where, f"value {value!r} is invalid at {exc.path}: {exc.message}", source
                ) from None
    for alias, value in (spec.report.reference or {}).items():
        where = f"report.reference.{alias}"
        if alias not in spec.search.params:
            raise ConfigError(
                where,
                "not a search parameter" + _did_you_mean(alias, spec.search.params)
                + f"; search parameters: {', '.join(spec.search.params) or 'none'}",
                source,
            )  # fmt: skip
        p = spec.search.params[alias]
        if spec.search.sampler == "grid" or p.type == "categorical":
            grid = p.grid() if spec.search.sampler == "grid" else list(p.choices or [])
            if not any(value == g or str(value) == str(g) for g in grid):
                raise ConfigError(
                    where, f"{value!r} is not a value the search tries ({grid})", source
                )
    for c in search_space(spec).values():
        if c.parent is None:
            continue
        where = f"search.params.{c.parent} ({c.when}'s own space: {c.alias})"
        try:
            for value in _values_to_check(c.param, spec.search.sampler):
                with_values(spec, {c.parent: c.when, c.alias: value})
        except ValueError as exc:
            raise ConfigError(where, str(exc), source) from None
        except ConfigError as exc:
            raise ConfigError(
                where, f"value {value!r} is invalid at {exc.path}: {exc.message}", source
            ) from None


def _values_to_check(p: SearchParam, sampler: str) -> list[Any]:
    """Every value a grid takes; the choices or both ends of the range for the samplers."""
    if sampler == "grid":
        return p.grid()
    return list(p.choices or []) if p.type == "categorical" else [p.low, p.high]


def grid_configs(spec: Experiment) -> dict[str, dict[str, Any]]:
    """Every configuration of a grid search by its configuration hash, in the grid's order."""
    return {with_values(spec, v).config_hash(): v for v in grid_cells(spec)}


def grid_cells(spec: Experiment) -> list[dict[str, Any]]:
    """Every configuration of a grid search, in a stable order."""
    import itertools

    aliases = list(spec.search.params)
    axes = [spec.search.params[a].grid() for a in aliases]
    conditional = [c for c in search_space(spec).values() if c.parent]
    cells = []
    for combo in itertools.product(*axes):
        cell = dict(zip(aliases, combo, strict=True))
        # The chosen method's own parameters, crossed with each other, for this cell only.
        own = [c for c in conditional if cell[c.parent] == c.when]
        for extra in itertools.product(*(c.param.grid() for c in own)):
            cells.append(cell | {c.alias: v for c, v in zip(own, extra, strict=True)})
    return cells


@dataclass(frozen=True)
class SpaceParam:
    """One parameter of the search space: a spec's own, or a chosen method's (``parent`` is
    then the method's alias and ``when`` the method it belongs to)."""

    alias: str
    param: SearchParam
    parent: str | None = None
    when: Any = None


def search_space(spec: Experiment) -> dict[str, SpaceParam]:
    """The spec's search parameters followed by the conditional ones of every swept method."""
    from ablate.registry import COMBINERS

    out = {a: SpaceParam(a, p) for a, p in spec.search.params.items()}
    swept = {p.path for p in spec.search.params.values()}
    for alias, p in spec.search.params.items():
        if p.path != "combiner.method" or p.type != "categorical" or not p.spaces:
            continue
        for method in p.choices or []:
            try:
                space = getattr(COMBINERS.get(method), "space", {})
            except AblateError:
                continue  # reported by the choice's own validation
            for key, definition in space.items():
                path = f"combiner.params.{key}"
                if path in swept:
                    continue  # the experiment sweeps it itself
                sub = SearchParam(path=path, **definition)
                name = f"{method}_{key}"
                out[name] = SpaceParam(name, sub, alias, method)
    return out
