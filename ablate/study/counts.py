"""How many cells a sweep expects and how many are finished, study-wide (not only this
driver's): what its summary and its exit status say."""

from __future__ import annotations

from ablate import spec as S
from ablate.study import adapter as A
from ablate.study.result import Options, SweepResult


def expected(spec: S.Experiment, opts: Options, grid: dict, racing) -> int:
    """The cells the progress bar counts at the start."""
    if opts.confirm is not None:
        return len(opts.confirm[0]) * len(opts.confirm[1])
    if racing is not None:
        return sum(n for n, _ in racing.granted().values())
    s = spec.search
    n = len(grid) if s.sampler == "grid" else s.n_trials
    return n * len(s.seeds)


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
