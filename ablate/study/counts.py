"""How many cells a sweep expects and how many are finished, study-wide (not only this
driver's): what its summary and its exit status say."""

from __future__ import annotations

from ablate import spec as S
from ablate.study import adapter as A
from ablate.study.result import Options, SweepResult
from ablate.study.rungs import is_reference, reference_values


def seed_epochs(spec: S.Experiment, opts: Options, grid: dict) -> tuple[int, int]:
    """What the progress bar counts, in seed-epochs: the most the study can spend (every
    configuration, every seed it may get, every epoch), and what it is expected to spend (less
    when synchronous successive halving prunes: its rungs keep a known number of
    configurations; racing counted as if it kept every finalist)."""
    epochs = spec.train.epochs
    if opts.confirm is not None:
        most = len(opts.confirm[0]) * len(opts.confirm[1]) * epochs
        return most, most
    s = spec.search
    configs = len(grid) if s.sampler == "grid" else s.n_trials
    most = configs * len(s.seeds) * epochs
    if not A.synchronous(spec) or not configs:
        return most, most
    start = s.race.counts(len(s.seeds))[0] if s.race else len(s.seeds)
    ref = reference_values(spec, grid) if s.pruner.keep_reference else None
    protected = sum(is_reference(ref, v) for v in grid.values())
    ranked, spent = configs - protected, 0
    for rung in s.pruner.rungs(epochs):
        kept = max(1, ranked // s.pruner.get("reduction_factor")) if ranked else 0
        spent += (ranked - kept) * start * rung
        ranked = kept
    spent += (ranked + protected) * len(s.seeds) * epochs
    return most, spent


def finish_counts(spec: S.Experiment, opts: Options, grid: dict, racing, tickets, study,
                  result: SweepResult) -> None:  # fmt: skip
    """Cells finished and expected, study-wide: a sampler that proposes one configuration
    twice expects its cells once; a raced configuration, the seeds it was raced to."""
    seeds = set(spec.search.seeds)
    granted = racing.granted() if racing is not None else {}
    missing, prefix = 0, ""
    if opts.confirm is not None:
        values, confirm_seeds = opts.confirm
        hashes = {S.with_values(spec, v).config_hash() for v in values}
        seeds, prefix = set(confirm_seeds), "confirm/"
    elif spec.search.sampler == "grid":
        hashes = set(grid)
    else:
        all_trials = A.trials(study)
        superseded = {t.user_attrs.get(A.REOPENS) for t in all_trials} - {None}
        counted = [
            t for t in all_trials
            if not t.user_attrs.get(A.INTERRUPTED) and t.number not in superseded
        ]  # fmt: skip
        hashes = {t.user_attrs.get("config_hash") for t in counted} - {None}
        missing = max(0, spec.search.n_trials - len(counted))
        result.trials = len(counted)
    finished, pruned = 0, set()
    result.pruned_cells = 0
    for key, t in tickets.all("cell").items():
        if not key.startswith(prefix) or (not prefix and key.startswith("confirm/")):
            continue
        h, _, seed = key[len(prefix) :].rpartition("/")
        if h in granted and int(seed) not in spec.search.seeds[: granted[h][0]]:
            continue  # a seed this configuration was not raced to
        if h in hashes and int(seed) in seeds and t.state in ("done", "trained"):
            finished += 1
        elif h in hashes and int(seed) in seeds and t.state == "pruned":
            pruned.add(h)
            result.pruned_cells += 1
    result.configs = len(hashes)
    result.pruned_configs = len(pruned)
    result.finished_cells = finished
    result.expected_cells = (len(hashes) + missing) * len(seeds)
    if granted:
        result.expected_cells = sum(n for h, (n, _) in granted.items() if h in hashes)
        result.raced_out = sum(out for h, (_, out) in granted.items() if h in hashes)
