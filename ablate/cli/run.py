"""``ablate run``: one seed of the base configuration, as a sweep's worker trains it."""

from __future__ import annotations


def run_command(args) -> int:
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
