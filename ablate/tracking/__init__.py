"""MLflow tracking: stores and URIs (:mod:`.store`), the journal that delivers a sweep's writes
whatever the store's state (:mod:`.journal`), and the trainer's reporter (:mod:`.reporter`).

Pure of torch and of the trainer: ``ablate report`` and ``ablate ui`` import it and start fast.
"""

from ablate.tracking.store import (
    EXPERIMENT_KIND,
    FAILURE,
    FAILURE_KIND,
    FINGERPRINT,
    HASH,
    PARENT,
    ROLE,
    RUN_KEY,
    SEED,
    STUDY,
    STUDY_KEY,
    TRIAL,
    absolute_sqlite,
    check_tracking_uri,
    client,
    end_run,
    find_runs,
    first_use,
    get_or_create_experiment,
    log_metrics,
    log_params,
    mark_interrupted,
    mask_url,
    private_sqlite,
    retried,
    search,
    start_run,
    tracking_uri,
)

__all__ = [
    "EXPERIMENT_KIND", "FAILURE", "FAILURE_KIND", "FINGERPRINT", "HASH", "PARENT", "ROLE",
    "RUN_KEY", "SEED", "STUDY", "STUDY_KEY", "TRIAL", "absolute_sqlite", "check_tracking_uri",
    "client", "end_run", "find_runs", "first_use", "get_or_create_experiment", "log_metrics",
    "log_params", "mark_interrupted", "mask_url", "private_sqlite", "retried", "search",
    "start_run", "tracking_uri",
]  # fmt: skip
