"""Checks of an experiment against the registered components: names exist, parameters fit
each builder's typed signature (a plug-in's ``__init__`` *is* its schema), terms fit the model
and the combiner, a dataset's own ``check`` of the user's files."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

import pydantic
from pydantic import ConfigDict

from ablate.errors import AblateError, ConfigError
from ablate.registry import INJECTED
from ablate.spec.parse import did_you_mean, to_config_error
from ablate.spec.schema import Experiment


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
                + did_you_mean(key, fields)
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
        raise to_config_error(exc, source, prefix=path) from None


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
        from ablate.plugins import function

        try:
            function(spec.train.function)
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
