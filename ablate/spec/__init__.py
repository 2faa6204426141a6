"""The experiment spec: a strict schema for the YAML files in ``experiments/``.

Every problem is reported before anything trains, as ``dotted.path: what is wrong``.

- :mod:`.schema`: the pydantic models (``Experiment`` and its parts)
- :mod:`.identity`: what identifies a configuration (its hash) and a study (its fingerprint);
  the runtime settings that do not
- :mod:`.parse`: raw data -> ``Experiment``, ``--set`` overrides, dotted paths, error text
- :mod:`.components`: checks against the registered components (names, parameters, terms)
- :mod:`.space`: the search space, the grid, each configuration's spec
- :mod:`.load`: the YAML file through all of the above (plug-ins loaded first)
"""

from ablate.spec.components import check_components, check_kwargs
from ablate.spec.identity import (
    RUNTIME,
    changes,
    fingerprint,
    fingerprint_id,
    flatten,
    without_runtime,
)
from ablate.spec.load import load, validate
from ablate.spec.parse import apply_override, get_path, parse, set_path
from ablate.spec.schema import (
    PRUNER_PARAMS,
    Combiner,
    Component,
    Confirm,
    Experiment,
    Objective,
    Pruner,
    Race,
    ReportSpec,
    Search,
    SearchParam,
    Term,
    Train,
)
from ablate.spec.space import (
    SpaceParam,
    check_search,
    grid_cells,
    grid_configs,
    label,
    search_space,
    with_values,
)

__all__ = [
    "PRUNER_PARAMS", "RUNTIME", "Combiner", "Component", "Confirm", "Experiment", "Objective",
    "Pruner", "Race", "ReportSpec", "Search", "SearchParam", "SpaceParam", "Term", "Train",
    "apply_override", "changes", "check_components", "check_kwargs", "check_search",
    "fingerprint", "fingerprint_id", "flatten", "get_path", "grid_cells", "grid_configs",
    "label", "load", "parse", "search_space", "set_path", "validate", "with_values",
    "without_runtime",
]  # fmt: skip
