"""A saved, shareable runs-table view in the MLflow UI: the configuration runs of a study, with
the objective's mean, interval and n as columns, best first.

MLflow's UI (3.15+) restores a runs-table state (filter, sort, columns) from the experiment tag
``mlflow.sharedViewState.<key>`` when the page is opened with ``?viewStateShareKey=<key>``; that
is what its "Share" button writes. ablate writes one per study, so the link it prints opens on the
comparison without hand-picking columns.
"""

from __future__ import annotations

import json
import re

TAG_PREFIX = "mlflow.sharedViewState."


def view_key(study: str) -> str:
    return "ablate-" + re.sub(r"[^A-Za-z0-9_-]", "-", study)


def configuration_view(study: str, metric: str, aliases: list[str], direction: str) -> dict:
    """The runs-table state: the study's configuration runs, sorted by the objective's mean."""
    m = lambda key: f"metrics.`{key}`"  # noqa: E731
    columns = [f"params.`{a}`" for a in aliases] + [
        m(f"{metric}_mean"), m(f"{metric}_ci95_low"), m(f"{metric}_ci95_high"),
        m(f"{metric}_n"), m("time/fit_s_mean"),
    ]  # fmt: skip
    return {
        "searchFilter": f"tags.`ablate.role` = 'config' AND tags.`ablate.study` = '{study}'",
        "orderByKey": m(f"{metric}_mean"),
        "orderByAsc": direction == "minimize",
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "columnOrder": columns,
        "runsExpanded": {},
        "runsPinned": [],
        "runsHidden": [],
        "runsHiddenMode": "SHOW_ALL",
        "viewMaximized": False,
        "runListHidden": False,
        "groupBy": None,
    }


def publish(c, experiment_id: str, study: str, state: dict) -> str:
    """Store the view on the experiment; return its key."""
    key = view_key(study)
    c.set_experiment_tag(experiment_id, TAG_PREFIX + key, json.dumps(state))
    return key


def url(base: str, experiment_id: str, key: str) -> str:
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={key}"
