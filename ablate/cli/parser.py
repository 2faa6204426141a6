"""The ``ablate`` command line: one function per command's arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """examples:
  ablate sweep experiments/pspnet_aux_weight.yaml --workers 2
  ablate sweep experiments/pspnet_aux_weight.yaml --set train.epochs=2 --study quick
  ablate report experiments/pspnet_aux_weight.yaml
  ablate confirm experiments/pspnet_aux_weight.yaml --seeds 5
  ablate ui
  ablate dashboard

Errors in the experiment (unknown keys, wrong types, out-of-range values) are reported with
their dotted path before anything trains; the exit status is then 2.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ablate",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ablation studies for auxiliary losses and loss-combination methods: "
        "Optuna sweeps over seeds, MLflow tracking, reports with confidence intervals.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_sweep, _confirm, _run, _report, _list, _dashboard, _ui):
        add(sub)
    return p


def _common(sp, spec=True):
    if spec:
        sp.add_argument("experiment", help="experiment YAML file (see experiments/)")
        sp.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a spec field by dotted path, value parsed as YAML "
            "(repeatable), e.g. --set train.epochs=2",
        )
    sp.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)",
    )


def _sweep(sub) -> None:
    sp = sub.add_parser(
        "sweep",
        help="run the experiment's search: every configuration x seed",
        description="Run an Optuna study over the experiment's search space; each "
        "configuration is trained once per seed and logged to MLflow. Re-running "
        "the same command resumes: finished (configuration, seed) cells are reused. "
        "With search.pruner, configurations are judged on the mean over their seeds at "
        "rungs (epoch counts) and the weak ones stop early; with search.race, only the "
        "configurations that may still be best get more seeds.",
    )
    _common(sp)
    sp.add_argument(
        "--workers",
        type=int,
        help="worker processes (default: one per GPU in use, else 1); CPU threads are shared "
        "out between them",
    )
    sp.add_argument(
        "--gpus",
        help="GPUs to train on: all (default: every visible one), none, or ids such as 0,1,3; "
        "each worker sees one GPU through CUDA_VISIBLE_DEVICES",
    )
    sp.add_argument(
        "--workers-per-gpu", type=int, metavar="K", help="workers sharing each GPU (default 1)"
    )
    sp.add_argument(
        "--storage",
        help="Optuna storage URL (default sqlite:///optuna.db; postgresql://user@host/db for "
        "many drivers on many machines, with pip install 'ablate[postgres]')",
    )
    sp.add_argument("--study", help="study name (default: the experiment's name)")
    sp.add_argument("--out", type=Path, help="report folder (default reports/<study>/)")
    sp.add_argument("--no-report", action="store_true", help="skip the report at the end")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument(
        "--retries",
        type=int,
        default=1,
        help="retry a run that failed for a fault of the machinery (its worker died, a CUDA "
        "error) this many times; a diverged run is never retried (default 1)",
    )
    sp.add_argument(
        "--reuse-stale",
        action="store_true",
        help="reuse finished runs made with another version of the code (ablate's, or the "
        "plug-ins' sources), which a sweep otherwise trains again; it says so",
    )
    sp.add_argument(
        "--max-failures",
        type=int,
        metavar="N",
        help="stop the sweep once N runs have failed (default: never stop early)",
    )


def _confirm(sub) -> None:
    sp = sub.add_parser(
        "confirm",
        help="re-train the possibly-best set and the reference on fresh seeds",
        description="Re-train the study's possibly-best configurations and its reference on "
        "seeds the search never used (10000, 10001, ...); only confirmed runs may say "
        "'X is best' in the report. Running it again resumes.",
    )
    sp.add_argument("target", help="experiment YAML file, or a study name (its own experiment)")
    sp.add_argument("--study", help="study name (default: the experiment's name)")
    sp.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="with an experiment file: the overrides the sweep was given (repeatable)",
    )  # fmt: skip
    sp.add_argument("--seeds", type=int, default=5, help="fresh seeds (default 5)")
    sp.add_argument("--workers", type=int, help="worker processes (as for sweep)")
    sp.add_argument("--gpus", help="GPUs to train on (as for sweep)")
    sp.add_argument("--storage", help="Optuna storage URL (default sqlite:///optuna.db)")
    sp.add_argument("--out", type=Path, help="report folder (default reports/<study>/)")
    sp.add_argument("--no-report", action="store_true", help="skip the report at the end")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(sp, spec=False)


def _run(sub) -> None:
    sp = sub.add_parser(
        "run",
        help="train one configuration once (no search)",
        description="Train the experiment's base configuration with one seed and "
        "print its final metrics; logged to MLflow unless --no-track.",
    )
    _common(sp)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-track", action="store_true", help="do not log to MLflow")


def _report(sub) -> None:
    sp = sub.add_parser(
        "report",
        help="write the ablation report of a study",
        description="Read a study's runs from MLflow and write report.md, "
        "report.html, runs.csv and figures; also logged to the study run.",
    )
    sp.add_argument("target", help="experiment YAML file, or a study name")
    sp.add_argument("--study", help="study name (default: the experiment's name)")
    sp.add_argument("--out", type=Path, help="output folder (default reports/<study>/)")
    _common(sp, spec=False)


def _list(sub) -> None:
    sub.add_parser("list", help="print the registered datasets, models, losses and combiners")


def _dashboard(sub) -> None:
    sp = sub.add_parser(
        "dashboard",
        help="start optuna-dashboard on 127.0.0.1 over the Optuna storage",
        description="optuna-dashboard over the studies' storage: each trial's parameters and "
        "value, the search history, parameter importances.",
    )
    sp.add_argument("--storage", help="Optuna storage URL (default sqlite:///optuna.db)")
    sp.add_argument("--port", type=int, default=8080)


def _ui(sub) -> None:
    sp = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 over the tracking store")
    sp.add_argument("--port", type=int, default=5000)
    _common(sp, spec=False)
