"""``ablate report``: a study's report from its runs in MLflow (neither torch nor optuna)."""

from __future__ import annotations

from pathlib import Path

from ablate.errors import AblateError


def report_command(args) -> int:
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
        experiment = experiment_of_study(uri, study)
    from ablate.study.names import check_study_name

    check_study_name(study)
    print(f"report: {write_report(uri, experiment, study, args.out, fp, settings)}")
    return 0


def experiment_of_study(uri: str, study: str) -> str:
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


def write_report(
    uri: str,
    experiment: str,
    study: str,
    out: Path | None,
    fingerprint: str | None = None,
    settings: dict | None = None,
) -> Path:
    from ablate.report.html import write_dashboard_index
    from ablate.report.render import build_report

    out = report_folder(out, study, make=True)
    path = build_report(uri, experiment, study, out, fingerprint=fingerprint, settings=settings)
    write_dashboard_index(Path("reports"), Path("dashboards"))
    return path


def report_folder(out: Path | None, study: str, make: bool = False) -> Path:
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
