"""``ablate sweep | run | report | list | ui``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ablate.errors import AblateError

EPILOG = """examples:
  ablate sweep experiments/pspnet_aux_weight.yaml --workers 2
  ablate sweep experiments/pspnet_aux_weight.yaml --set train.epochs=2 --study quick
  ablate report experiments/pspnet_aux_weight.yaml
  ablate ui

Errors in the experiment (unknown keys, wrong types, out-of-range values) are reported with
their dotted path before anything trains; the exit status is then 2.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ablate",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Ablation studies for auxiliary losses and loss-combination methods: "
        "Optuna sweeps over seeds, MLflow tracking, reports with confidence intervals.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, spec=True):
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

    sp = sub.add_parser(
        "sweep",
        help="run the experiment's search: every configuration x seed",
        description="Run an Optuna study over the experiment's search space; each "
        "configuration is trained once per seed and logged to MLflow. Re-running "
        "the same command resumes: finished (configuration, seed) cells are reused.",
    )
    common(sp)
    sp.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the CPU cores or GPU (default 1)",
    )
    sp.add_argument(
        "--storage",
        help="Optuna storage URL (default sqlite:///optuna.db; "
        "postgresql://... for many machines)",
    )
    sp.add_argument("--study", help="study name (default: the experiment's name)")
    sp.add_argument("--out", type=Path, help="report folder (default reports/<study>/)")
    sp.add_argument("--no-report", action="store_true", help="skip the report at the end")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")

    sp = sub.add_parser(
        "run",
        help="train one configuration once (no search)",
        description="Train the experiment's base configuration with one seed and "
        "print its final metrics; logged to MLflow unless --no-track.",
    )
    common(sp)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--no-track", action="store_true", help="do not log to MLflow")

    sp = sub.add_parser(
        "report",
        help="write the ablation report of a study",
        description="Read a study's runs from MLflow and write report.md, "
        "report.html, runs.csv and figures; also logged to the study run.",
    )
    sp.add_argument("target", help="experiment YAML file, or a study name")
    sp.add_argument("--study", help="study name (default: the experiment's name)")
    sp.add_argument("--out", type=Path, help="output folder (default reports/<study>/)")
    common(sp, spec=False)

    sub.add_parser("list", help="print the registered datasets, models, losses and combiners")

    sp = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 over the tracking store")
    sp.add_argument("--port", type=int, default=5000)
    common(sp, spec=False)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"sweep": _sweep, "run": _run, "report": _report, "list": _list, "ui": _ui}[
            args.command
        ](args)
    except AblateError as exc:
        print(f"ablate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ablate: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _sweep(args) -> int:
    from ablate import spec as S
    from ablate import tracking as T
    from ablate.study import sweep

    spec = S.load(args.experiment, args.overrides)
    uri = T.tracking_uri(args.tracking_uri)
    res = sweep(
        spec,
        workers=args.workers,
        storage=args.storage,
        tracking_uri=uri,
        study_name=args.study,
        progress=not args.quiet,
        overrides=args.overrides,
    )
    print(
        f"study {res.study_name}: {res.finished_cells} of {res.expected_cells} (configuration, "
        f"seed) runs finished; this run trained {res.trained}, reused {res.reused}, "
        f"failed {res.failed}"
    )
    print(
        f"MLflow: {uri} — `make ui`, then open "
        f"http://127.0.0.1:5000/#/experiments/{res.experiment_id}/runs"
    )
    if not args.no_report:
        out = _write_report(uri, spec.name, res.study_name, args.out)
        print(f"report: {out}")
    return 0 if res.failed == 0 else 1


def _write_report(uri: str, experiment: str, study: str, out: Path | None) -> Path:
    from ablate.report.render import build_report, write_dashboard_index

    out = out or Path("reports") / study
    path = build_report(uri, experiment, study, out)
    write_dashboard_index(Path("reports"), Path("dashboards"))
    return path


def _report(args) -> int:
    from ablate import spec as S
    from ablate import tracking as T

    uri = T.tracking_uri(args.tracking_uri)
    T.check_tracking_uri(uri)
    if args.target.endswith((".yaml", ".yml")) or Path(args.target).is_file():
        spec = S.load(args.target, check_search=False)
        experiment, study = spec.name, args.study or spec.name
    else:
        study = args.study or args.target
        experiment = _experiment_of_study(uri, study)
    print(f"report: {_write_report(uri, experiment, study, args.out)}")
    return 0


def _experiment_of_study(uri: str, study: str) -> str:
    from ablate import tracking as T

    c = T.client(uri)
    runs = c.search_runs(
        [e.experiment_id for e in c.search_experiments()],
        filter_string=f"tags.`ablate.role` = 'study' and tags.`ablate.study` = '{study}'",
        max_results=1,
    )
    if not runs:
        raise AblateError(f"no study named {study!r} in {uri}")
    return c.get_experiment(runs[0].info.experiment_id).name


def _run(args) -> int:
    from ablate import spec as S
    from ablate import tracking as T
    from ablate.train import Reporter, fit

    spec = S.load(args.experiment, args.overrides, check_search=False)
    if args.no_track:
        result = fit(spec, args.seed, Reporter())
    else:
        uri = T.tracking_uri(args.tracking_uri)
        T.check_tracking_uri(uri)
        c = T.client(uri)
        exp = T.get_or_create_experiment(c, spec.name)
        run_id = T.start_run(
            c,
            exp,
            f"run seed={args.seed}",
            {T.ROLE: "run", T.HASH: spec.config_hash(), T.SEED: str(args.seed)},
        )
        T.log_params(c, run_id, {"seed": args.seed, **spec.flatten()})
        reporter = T.MLflowReporter(c, run_id)
        try:
            result = fit(spec, args.seed, reporter)
        except BaseException as exc:
            reporter.close()
            T.end_run(c, run_id, "FAILED", f"{type(exc).__name__}: {exc}")
            raise
        reporter.close()
        T.end_run(c, run_id)
        print(f"MLflow run {run_id} in experiment {spec.name!r} at {uri}")
    for k, v in sorted(result.metrics.items()):
        print(f"{k:24s} {v:.4f}")
    return 0


def _list(args) -> int:
    from ablate.registry import ALL, load_plugins

    load_plugins()
    for kind, reg in ALL.items():
        print(f"{kind}: {', '.join(reg.names())}")
    return 0


def _ui(args) -> int:
    from ablate import tracking as T

    uri = T.tracking_uri(args.tracking_uri)
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
    ]
    print(f"MLflow UI on http://127.0.0.1:{args.port} over {uri} (Ctrl-C stops it)")
    os.execv(sys.executable, cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
