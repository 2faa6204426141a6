"""From raw YAML data to a validated :class:`Experiment`, with errors as
``dotted.path: what is wrong``: parsing, ``--set`` overrides, dotted paths."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel

from ablate.errors import AblateError, ConfigError
from ablate.spec.schema import Experiment


def apply_override(raw: dict, item: str) -> None:
    """Apply one ``dotted.key=value`` override (the value is parsed as YAML)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise AblateError(f"--set expects dotted.key=value, got {item!r}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AblateError(f"--set {key}: value is not valid YAML: {yaml_problem(exc)}") from None
    set_path(raw, key.strip(), value)


def yaml_problem(exc: yaml.YAMLError) -> str:
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


def parse(raw: Mapping[str, Any], source: str | None) -> Experiment:
    try:
        return Experiment.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise to_config_error(exc, source, Experiment) from None


def to_config_error(exc: pydantic.ValidationError, source, model=None, prefix="") -> ConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    path = ".".join([prefix, *loc] if prefix else loc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key" + did_you_mean(loc[-1], _known_keys(model, loc[:-1]))
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


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
