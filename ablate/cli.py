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
  ablate confirm experiments/pspnet_aux_weight.yaml --seeds 5
  ablate ui
  ablate dashboard

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
        "the same command resumes: finished (configuration, seed) cells are reused. "
        "With search.pruner, configurations are judged on the mean over their seeds at "
        "rungs (epoch counts) and the weak ones stop early; with search.race, only the "
        "configurations that may still be best get more seeds.",
    )
    common(sp)
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
    common(sp, spec=False)

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

    sp = sub.add_parser(
        "dashboard",
        help="start optuna-dashboard on 127.0.0.1 over the Optuna storage",
        description="optuna-dashboard over the studies' storage: each trial's parameters and "
        "value, the search history, parameter importances.",
    )
    sp.add_argument("--storage", help="Optuna storage URL (default sqlite:///optuna.db)")
    sp.add_argument("--port", type=int, default=8080)

    sp = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 over the tracking store")
    sp.add_argument("--port", type=int, default=5000)
    common(sp, spec=False)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        commands = {"sweep": _sweep, "confirm": _confirm, "run": _run, "report": _report,
                    "list": _list, "ui": _ui, "dashboard": _dashboard}  # fmt: skip
        return commands[args.command](args)
    except AblateError as exc:
        print(f"ablate: error: {_masked(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        why = getattr(exc, "name", "SIGINT")
        print(f"ablate: interrupted ({why}); run the same command again to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    except Exception:  # noqa: BLE001  (a bug: show it, but never a password in it)
        import traceback

        print(_masked(traceback.format_exc()), file=sys.stderr, end="")
        return 1


def _masked(text) -> str:
    from ablate.tracking.store import mask_url

    return mask_url(str(text))


def _sweep(args) -> int:
    from ablate import spec as S
    from ablate import tracking as T
    from ablate.study import Options, sweep
    from ablate.study.names import check_study_name
    from ablate.study.resources import parse_gpus

    spec = S.load(args.experiment, args.overrides)
    uri = T.tracking_uri(args.tracking_uri)
    study = args.study or spec.name
    check_study_name(study)
    out = None if args.no_report else _report_folder(args.out, study)
    if args.retries < 0:
        raise AblateError("--retries must be 0 or more")
    if args.max_failures is not None and args.max_failures < 1:
        raise AblateError("--max-failures must be at least 1")
    res = sweep(
        spec,
        Options(
            workers=args.workers, gpus=parse_gpus(args.gpus),
            workers_per_gpu=args.workers_per_gpu, storage=args.storage, tracking_uri=uri,
            study_name=study, progress=not args.quiet, overrides=args.overrides,
            retries=args.retries, max_failures=args.max_failures, reuse_stale=args.reuse_stale,
        ),
    )  # fmt: skip
    print(res.summary())
    print(
        f"MLflow: {T.mask_url(uri)} — `{_ui_command(args)}`, then open "
        f"http://127.0.0.1:5000/#/experiments/{res.experiment_id}/runs"
    )
    if spec.search.confirm is not None and res.complete:
        confirmed = _run_confirm(spec, study, spec.search.confirm.seeds, args, uri)
        if not confirmed.complete:
            return 1
    if out is not None and res.finished_cells and not res.undelivered:
        fp, settings = S.fingerprint_id(spec), spec.report.model_dump()
        print(f"report: {_write_report(uri, spec.name, res.study_name, out, fp, settings)}")
    elif out is not None and res.undelivered:
        print("report: not written (MLflow does not hold every run yet); run "
              f"`ablate report {res.study_name}` later")  # fmt: skip
    return 0 if res.complete else 1


def _ui_command(args) -> str:
    uri = getattr(args, "tracking_uri", None)
    return "ablate ui" + (f" --tracking-uri {_masked(uri)}" if uri else "")


def _confirm(args) -> int:
    from ablate import spec as S
    from ablate import tracking as T
    from ablate.study.adapter import DEFAULT_STORAGE, differs
    from ablate.study.confirm import spec_of_study
    from ablate.study.names import check_study_name

    uri = T.tracking_uri(args.tracking_uri)
    T.check_tracking_uri(uri)
    storage = args.storage or DEFAULT_STORAGE
    if args.target.endswith((".yaml", ".yml")) or Path(args.target).is_file():
        spec = S.load(args.target, args.overrides, check_search=False)
        study = args.study or spec.name
        check_study_name(study)
        changed = differs(storage, study, spec)
        if changed:
            raise AblateError(
                f"study {study!r} was swept with another version of {args.target} ({changed}): "
                f"confirm it as it was swept with `ablate confirm {study}`, or give this "
                "command the sweep's --set overrides"
            )
    else:
        if args.overrides:
            raise AblateError("--set goes with an experiment file; a study confirms its own")
        study = args.study or args.target
        check_study_name(study)
        spec = spec_of_study(storage, study)
    if args.seeds < 2:
        raise AblateError("--seeds must be at least 2")
    out = None if args.no_report else _report_folder(args.out, study)
    res = _run_confirm(spec, study, args.seeds, args, uri)
    if out is not None and res.finished_cells and not res.undelivered:
        fp, settings = S.fingerprint_id(spec), spec.report.model_dump()
        print(f"report: {_write_report(uri, spec.name, study, out, fp, settings)}")
    return 0 if res.complete else 1


def _run_confirm(spec, study: str, seeds: int, args, uri: str):
    from ablate.study import Options, sweep
    from ablate.study.confirm import plan
    from ablate.study.resources import parse_gpus

    p = plan(spec, uri, study, seeds)
    print(f"confirming {', '.join(p.labels)} on fresh seeds {p.seeds[0]}..{p.seeds[-1]}")
    res = sweep(
        spec,
        Options(
            workers=args.workers, gpus=parse_gpus(args.gpus), storage=args.storage,
            tracking_uri=uri, study_name=study, progress=not args.quiet,
            confirm=(p.values, p.seeds),
        ),
    )  # fmt: skip
    print(res.summary().replace("(configuration, seed) runs", "confirmation runs"))
    return res


def _report_folder(out: Path | None, study: str, make: bool = False) -> Path:
    """The report folder, checked writable before anything trains (in the folder, or in its
    nearest existing parent, so that a sweep whose runs all fail leaves no empty folder);
    ``make``: created."""
    import tempfile

    out = out or Path("reports") / study
    try:
        if make:
            out.mkdir(parents=True, exist_ok=True)
        where = next(p for p in (out, *out.absolute().parents) if p.exists())
        if not where.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        with tempfile.NamedTemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise AblateError(f"--out {out}: cannot write there ({exc.strerror})") from None
    return out


def _write_report(
    uri: str,
    experiment: str,
    study: str,
    out: Path | None,
    fingerprint: str | None = None,
    settings: dict | None = None,
) -> Path:
    from ablate.report.render import build_report, write_dashboard_index

    out = _report_folder(out, study, make=True)
    path = build_report(uri, experiment, study, out, fingerprint=fingerprint, settings=settings)
    write_dashboard_index(Path("reports"), Path("dashboards"))
    return path


def _report(args) -> int:
    from ablate import spec as S
    from ablate import tracking as T

    uri = T.tracking_uri(args.tracking_uri)
    T.check_tracking_uri(uri)
    fp = settings = None
    if args.target.endswith((".yaml", ".yml")) or Path(args.target).is_file():
        spec = S.load(args.target, components=False)  # no plug-in, no torch: the name is enough
        experiment, study = spec.name, args.study or spec.name
        fp, settings = S.fingerprint_id(spec), spec.report.model_dump()
    else:
        study = args.study or args.target
        experiment = _experiment_of_study(uri, study)
    from ablate.study.names import check_study_name

    check_study_name(study)
    print(f"report: {_write_report(uri, experiment, study, args.out, fp, settings)}")
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
    """One seed of the base configuration, through the code path a sweep's worker uses."""
    from ablate import provenance as P
    from ablate import spec as S
    from ablate import tracking as T
    from ablate.reporting import Reporter
    from ablate.study.records import write_experiment_file
    from ablate.study.worker import train_seed
    from ablate.tracking.journal import Journal, new_key
    from ablate.train import run as train

    spec = S.load(args.experiment, args.overrides, check_search=False)
    if args.no_track:
        result = train(spec, args.seed, Reporter())
    else:
        uri = T.tracking_uri(args.tracking_uri)
        T.check_tracking_uri(uri)
        with T.first_use(uri):
            exp = T.get_or_create_experiment(T.client(uri), spec.name)
        journal, key = Journal(uri), new_key()
        tags = {**P.source_tags(), **P.versions(spec.plugins),
                "ablate.code_version": P.code_version(spec.plugins),
                T.ROLE: "run", T.HASH: spec.config_hash(), T.SEED: str(args.seed)}  # fmt: skip
        name = f"run seed={args.seed}"
        journal.create_run(key, exp, name, tags)
        journal.log_params(key, {"seed": args.seed, **spec.flatten()})
        write_experiment_file(journal, key, spec, name, args.seed)
        try:
            result = train_seed(spec, args.seed, key, journal.append, journal.files(key))
        except BaseException as exc:
            kind = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
            status = "KILLED" if kind == "interrupted" else "FAILED"
            journal.set_status(key, status, f"{type(exc).__name__}: {exc}"[:4000], kind)
            journal.close(timeout=60)
            raise
        journal.set_status(key, "FINISHED")
        journal.close()
        print(f"MLflow run {journal.run_id(key)} in experiment {spec.name!r} at {T.mask_url(uri)}")
    for k, v in sorted(result.metrics.items()):
        print(f"{k:24s} {v:.4f}")
    return 0


def _saved_views(uri: str, base: str) -> list[str]:
    """Links to each study's saved comparison view (written by its report)."""
    from ablate import tracking as T
    from ablate.report import views

    try:
        c = T.client(uri)
        exps = c.search_experiments()
    except Exception:  # noqa: BLE001  (an empty or new store: no views yet)
        return []
    lines = []
    for e in exps:
        for tag in sorted(e.tags):
            if tag.startswith(views.TAG_PREFIX + "ablate-"):
                key = tag[len(views.TAG_PREFIX) :]
                lines.append(f"  {e.name} / {key[7:]}: {views.url(base, e.experiment_id, key)}")
    if lines:
        lines.insert(0, "Each study's configurations, compared (open a link once the UI is up):")
    return lines


def _list(args) -> int:
    from ablate.plugins import load_plugins
    from ablate.registry import ALL

    load_plugins()
    for kind, reg in ALL.items():
        print(f"{kind}: {', '.join(reg.names())}")
    return 0


def _dashboard(args) -> int:
    import shutil

    from ablate import tracking as T
    from ablate.study.adapter import DEFAULT_STORAGE, db_url

    storage = db_url(args.storage or DEFAULT_STORAGE)
    exe = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    if exe is None:
        raise AblateError("optuna-dashboard is not installed: pip install 'ablate[dashboard]'")
    print(f"optuna-dashboard on http://127.0.0.1:{args.port} over {T.mask_url(storage)} "
          "(Ctrl-C stops it)", flush=True)  # fmt: skip
    os.execv(exe, [exe, storage, "--host", "127.0.0.1", "--port", str(args.port)])
    return 0  # not reached


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
    print(f"MLflow UI on http://127.0.0.1:{args.port} over {T.mask_url(uri)} (Ctrl-C stops it)")
    for line in _saved_views(uri, f"http://127.0.0.1:{args.port}"):
        print(line)
    os.execv(sys.executable, cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
