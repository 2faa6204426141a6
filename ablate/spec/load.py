"""Loading an experiment: read the YAML, apply ``--set`` overrides, validate -- the only way a
spec enters ablate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ablate.errors import AblateError, ConfigError
from ablate.plugins import load_plugins
from ablate.spec.components import check_components
from ablate.spec.parse import apply_override, parse, yaml_problem
from ablate.spec.schema import Experiment
from ablate.spec.space import check_search as check_values


def load(
    path: str | Path,
    overrides: Iterable[str] = (),
    *,
    check_search: bool = True,
    components: bool = True,
) -> Experiment:
    """Read, override, validate. ``components=False``: the schema only (no plug-in, no
    registered component is loaded; what ``ablate report`` needs, without torch)."""
    path = Path(path)
    if not path.is_file():
        raise AblateError(f"experiment file not found: {path}")
    try:
        with path.open() as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise AblateError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AblateError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError("", "the file must hold a mapping at its top level", str(path))
    for item in overrides:
        apply_override(raw, item)
    if not components:
        return parse(raw, str(path))
    return validate(raw, source=str(path), check_search=check_search)


def validate(
    raw: Mapping[str, Any], source: str | None = None, *, check_search=True
) -> Experiment:
    """Load the experiment's plug-ins, parse, check the components and the search."""
    plugins = raw.get("plugins") or []
    if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
        load_plugins(plugins)
    spec = parse(raw, source)
    check_components(spec, source)
    if check_search:
        check_values(spec, source)
    return spec
