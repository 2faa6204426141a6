"""The Optuna study driver, as a package.

- :mod:`.driver`: the loop (``sweep``) and what it does with what workers report
- :mod:`.configs`: configurations (trials) and their cells; where new ones come from
- :mod:`.claims`: tickets, the atomic claims that make every cell train exactly once
- :mod:`.records`: the study's MLflow runs (study -> configuration -> seed)
- :mod:`.adapter`: every use of Optuna (storage, sampler, trials, heartbeats)
- :mod:`.pool`, :mod:`.worker`: worker processes; :mod:`.resources`: GPUs and threads
"""

from ablate.study.driver import Interrupted, Options, SweepResult, sweep

__all__ = ["Interrupted", "Options", "SweepResult", "sweep"]
