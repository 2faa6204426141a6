"""The search space: each configuration's spec (the search values written in), its name, the
grid, and the conditional parameters of swept methods; and the check that every value the
search can take validates."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ablate.errors import AblateError, ConfigError
from ablate.spec.components import check_components
from ablate.spec.parse import did_you_mean, get_path, parse, set_path
from ablate.spec.schema import Experiment, SearchParam


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
    new = parse(raw, None)
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


def check_search(spec: Experiment, source: str | None) -> None:
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
                "not a search parameter" + did_you_mean(alias, spec.search.params)
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
