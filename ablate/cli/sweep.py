"""``ablate sweep`` and ``ablate confirm``: a study's search; its confirmation on fresh seeds."""

from __future__ import annotations

from pathlib import Path

from ablate.cli.report import report_folder, write_report
from ablate.errors import AblateError
from ablate.tracking.store import mask_url


def sweep_command(args) -> int:
    from ablate import spec as S
    from ablate import tracking as T
    from ablate.study import Options, sweep
    from ablate.study.names import check_study_name
    from ablate.study.resources import parse_gpus

    spec = S.load(args.experiment, args.overrides)
    uri = T.tracking_uri(args.tracking_uri)
    study = args.study or spec.name
    check_study_name(study)
    out = None if args.no_report else report_folder(args.out, study)
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
        f"MLflow: {T.mask_url(uri)} — `{ui_hint(args)}`, then open "
        f"http://127.0.0.1:5000/#/experiments/{res.experiment_id}/runs"
    )
    if spec.search.confirm is not None and res.complete:
        confirmed = run_confirm(spec, study, spec.search.confirm.seeds, args, uri)
        if not confirmed.complete:
            return 1
    if out is not None and res.finished_cells and not res.undelivered:
        fp, settings = S.fingerprint_id(spec), spec.report.model_dump()
        print(f"report: {write_report(uri, spec.name, res.study_name, out, fp, settings)}")
    elif out is not None and res.undelivered:
        print("report: not written (MLflow does not hold every run yet); run "
              f"`ablate report {res.study_name}` later")  # fmt: skip
    return 0 if res.complete else 1


def ui_hint(args) -> str:
    uri = getattr(args, "tracking_uri", None)
    return "ablate ui" + (f" --tracking-uri {mask_url(str(uri))}" if uri else "")


def confirm_command(args) -> int:
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
    out = None if args.no_report else report_folder(args.out, study)
    res = run_confirm(spec, study, args.seeds, args, uri)
    if out is not None and res.finished_cells and not res.undelivered:
        fp, settings = S.fingerprint_id(spec), spec.report.model_dump()
        print(f"report: {write_report(uri, spec.name, study, out, fp, settings)}")
    return 0 if res.complete else 1


def run_confirm(spec, study: str, seeds: int, args, uri: str):
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
