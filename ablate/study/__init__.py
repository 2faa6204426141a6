"""The Optuna study driver, as a package.

- :mod:`.driver`: the loop (``sweep``) and what it does with what workers report
- :mod:`.configs`: configurations (trials) and their cells; where new ones come from
- :mod:`.claims`: tickets, the atomic claims that make every cell train exactly once
- :mod:`.records`: the study's MLflow runs (study -> configuration -> seed)
- :mod:`.adapter`: every use of Optuna (storage, sampler, trials, heartbeats)
- :mod:`.pool`, :mod:`.worker`: worker processes; :mod:`.resources`: GPUs and threads

``sweep`` and its types are imported on first use: ``ablate.study.names`` and the like load
neither torch nor optuna.
"""

from __future__ import annotations

__all__ = ["Interrupted", "Options", "SweepResult", "sweep"]


def __getattr__(name: str):
    if name in __all__:
        from ablate.study import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'ablate.study' has no attribute {name!r}")
