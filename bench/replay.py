"""Compute judged by the claims it buys: policies replayed on learning curves (issue 17).

A policy (the full grid, successive halving, racing, guarded pruning, fewer levels with more
seeds, ...) replayed on a cube of per-seed, per-epoch curves costs a fraction of a second
instead of a sweep, so every policy meets thousands of resamples: the way multi-fidelity methods
are compared on tabular benchmarks (LCBench, YAHPO). Curves are recorded from real sweeps
(bench/curves/*.csv, bench/record_curves.py) or drawn from synthetic families with a known truth
(bench/curves.py). A resample of recorded curves draws new seeds by the residual bootstrap of
the two-way model (curves.resample: seed effects and residual curves drawn from the recorded
ones); its truth is the recorded means. A synthetic family draws fresh curves.

For each policy and family, over the resamples (95% intervals: Wilson for rates, t for
means):

- ``cost``: seed-epochs trained, over the full grid's;
- ``keeps``: the policy's report keeps the full grid's answer on the same resample
  (ablate/report/agree.py: no contradiction, the same dose-response verdict with overlapping
  intervals, the same possibly-best membership where both report);
- ``same dose-response``: no contradiction and the same dose-response verdict (with
  overlapping intervals), whatever the possibly-best sets say;
- ``contradicts``: it says the opposite of the full grid somewhere;
- ``false``: it says something false against the truth (for recorded curves, the recorded
  means, themselves estimates from 6 seeds: read it as the error in a world like the recorded
  one): a setting called worse than another without a truly better one in the set,
  better/worse than the reference the wrong way, "helps" where the truth at the fitted optimum
  does not beat the reference, "hurts" where it is not worse at the fitted curve's worst
  point, an effect of a factor that does nothing);
- ``helps``: "helps" is printed; ``opt. width`` and ``gain width``: the mean widths of the
  optimum's and gain's intervals when it is, each also per 100 seed-epochs (width x
  sqrt(cost / 100): intervals narrow as 1 / sqrt(the runs), so this compares policies at equal
  compute).

Also printed for recorded curves: the rank correlation (Spearman) between the configurations'
means after each rung's epochs and at the last epoch.

    python bench/replay.py [--resamples 1000] [--families interior,null,...]
        [--curves bench/curves/pspnet_aux_weight.csv ...] [--quick] [--jobs 2]
    python bench/replay.py --measure bench/curves/pspnet_aux_weight.csv
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import curves as K  # noqa: E402
import policies as P  # noqa: E402

from ablate.report.agree import compare, verdict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECORDED = sorted((ROOT / "bench" / "curves").glob("*.csv"))


def policies(cube: K.Cube) -> list[P.Policy]:
    """The policies compared (a numeric factor's level subsets only on a numeric factor)."""
    # The design the experiment ships with (recorded curves: their own experiment file; the
    # synthetic families: the default's); on an aux-weight grid also the halving variant.
    own = ROOT / "experiments" / f"{cube.name}.yaml"
    out = [
        P.Policy("full grid", about="every level, every seed, every epoch"),
        shipped(own if own.exists() else ROOT / "experiments" / "pspnet_aux_weight.yaml"),
    ]
    if cube.numeric and len(cube.levels) >= 8:
        out.append(shipped(ROOT / "experiments" / "pspnet_aux_weight_halving.yaml", "halving"))
    out += [
        P.Policy("race", race=(3, 1, 0.025), about="racing 3->6 seeds, every level to the end"),
        P.Policy("guard", rungs=(2, 6), guard=0.005, race=(3, 1, 0.015),
                 about="guarded pruning at 2, 6 (0.5% each), then racing 3->6"),
    ]  # fmt: skip
    if cube.numeric and len(cube.levels) >= 8:
        n = len(cube.levels)
        half = tuple(cube.levels[i] for i in sorted({*range(0, n, 2), n - 1}))
        four = tuple(cube.levels[i] for i in np.round(np.linspace(0, n - 1, 4)).astype(int))
        five = tuple(cube.levels[i] for i in np.round(np.linspace(0, n - 1, 5)).astype(int))
        out += [
            P.Policy("4 levels x 6 seeds", levels=four),
            P.Policy("4 levels x 5 seeds", levels=four, seeds=5),
            # the best fixed design at <= 40% in bench/power_bound.py's computed powers
            P.Policy("5 levels x 5 seeds", levels=five, seeds=5),
            P.Policy(f"{len(half)} levels, race 3->6", levels=half, race=(3, 1, 0.025)),
        ]
    return out


@functools.lru_cache
def shipped(path: Path, name: str = "shipped") -> P.Policy:
    """The policy an experiment file describes, named with what it does."""
    from ablate import spec as S

    spec = S.load(path, components=False)
    p, race = spec.search.pruner, spec.search.race
    (param,) = spec.search.params.values()
    what = f"{len(param.grid())} x {len(spec.search.seeds)} seeds"
    what += (f", {p.name}" if p.name != "none" else "") + (", race" if race else "")
    return P.from_spec(f"{name}: {what}", spec, f"{path.name}'s own design")


def false_claims(said: list[dict], cube: K.Cube) -> list[str]:
    """The claims that the truth (``cube.truth``: the means at the last epoch) contradicts."""
    mu = cube.truth * (1.0 if cube.direction == "maximize" else -1.0)
    index = {P.label(cube, c): c for c in range(len(cube.levels))}
    ref = cube.reference
    out = []
    for claim in said:
        stat = claim.get("statistic") or {}
        if claim["kind"] == "best_set" and "set" in stat:
            members = [index[x] for x in stat["set"]]
            for x in stat["means"]:
                if x not in stat["set"] and not any(mu[m] > mu[index[x]] + 1e-9 for m in members):
                    out.append(f"{x} called worse than another")
        if claim["kind"] == "reference" and "better" in stat:
            out += [f"{x} better than the reference" for x in stat["better"]
                    if mu[index[x]] <= mu[ref] + 1e-9]  # fmt: skip
            out += [f"{x} worse than the reference" for x in stat["worse"]
                    if mu[index[x]] >= mu[ref] - 1e-9]  # fmt: skip
        if claim["kind"] == "dose":
            # "helps": the curve's value at the fitted optimum beats the reference's; "hurts":
            # it is worse where the fitted curve is worst; "an effect": the factor matters.
            # Each checked against the truth at the point the claim names (interpolated
            # between levels).
            v = verdict(claim)
            x = np.asarray(cube.levels, dtype=float)
            at = {k: float(np.interp(stat[k], x, mu)) for k in ("optimum", "worst") if k in stat}
            wrong = {
                "helps": at.get("optimum", mu.max()) <= mu[ref] + 1e-9,
                "hurts": at.get("worst", mu.min()) >= mu[ref] - 1e-9,
                "effect": np.ptp(mu) < 1e-9,
            }
            if wrong.get(v, False):
                out.append(f"dose-response: {v}")
    return out


def replay(task: tuple) -> list[dict]:
    """One chunk of resamples of one cube source: a row per (resample, policy)."""
    source, resamples, seed, effect = task
    rng = np.random.default_rng(seed)
    rows = []
    base = K.recorded(source) if isinstance(source, Path) else None
    for _ in range(resamples):
        if base is not None:
            cube = K.resample(base, rng)
        else:
            cube = K.synthetic(source, 6, rng, effect)
        plans = policies(cube)
        full = P.run(plans[0], cube)
        full_claims = P.claims(full, cube)
        for plan in plans:
            out = full if plan is plans[0] else P.run(plan, cube)
            said = full_claims if plan is plans[0] else P.claims(out, cube)
            agreement = compare(full_claims, said)
            doses = [[c for c in x if c["kind"] == "dose"] for x in (full_claims, said)]
            dose = next((c for c in said if c["kind"] == "dose"), None)
            row = {"policy": plan.name, "cost": out.cost / full.cost, "cost_abs": out.cost,
                   "keeps": agreement.keeps, "contradicts": bool(agreement.contradictions),
                   "same_dose": not agreement.contradictions and compare(*doses).keeps,
                   "helps": verdict(dose) == "helps"}  # fmt: skip
            if row["helps"]:
                lo, hi = dose["statistic"]["optimum_ci"]
                row["opt_width"], row["gain_width"] = (
                    hi - lo,
                    dose["interval"][1] - dose["interval"][0],
                )
            if cube.truth is not None:
                row["false"] = bool(false_claims(said, cube))
            rows.append(row)
    return rows


def rank_correlation(
    cube: K.Cube, rungs=(1, 2, 4, 6, 8, 12), seeds: int = 3, resamples: int = 1000
) -> dict[int, tuple[float, float]]:
    """Spearman's rho between the means after ``rung`` epochs and at the last epoch: over all
    the recorded seeds, and (mean over resamples) with the rung judged on ``seeds`` seeds and
    the end on all of them, as successive halving judges."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    final = cube.y[:, :, -1].mean(1)
    out = {}
    for r in (r for r in rungs if r < cube.shape[2]):
        every = float(spearmanr(cube.y[:, :, r - 1].mean(1), final).statistic)
        few = [float(spearmanr(cube.y[:, rng.choice(cube.shape[1], seeds, replace=False),
                                       r - 1].mean(1), final).statistic)
               for _ in range(resamples)]  # fmt: skip
        out[r] = (every, float(np.mean(few)))
    return out


def summarize(rows: list[dict]) -> dict[str, dict]:
    import pandas as pd

    t = pd.DataFrame(rows)
    out = {}
    for name, g in t.groupby("policy", sort=False):
        n = len(g)
        s = {"n": n, "cost": _mean(g["cost"])}
        for k in ("keeps", "same_dose", "contradicts", "false", "helps"):
            if k in g:
                s[k] = _wilson(int(g[k].sum()), n)
        for k in ("opt_width", "gain_width"):
            if k in g and g[k].notna().any():
                w = g[k].dropna()
                s[k] = float(w.mean())
                s[k + "_100"] = float((w * np.sqrt(g.loc[w.index, "cost_abs"] / 100)).mean())
        out[name] = s
    return out


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    p = k / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _mean(x) -> tuple[float, float, float]:
    from scipy import stats as st

    x = np.asarray(x, dtype=float)
    m = float(x.mean())
    if len(x) < 2 or x.std() == 0:
        return m, m, m
    h = float(st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - h, m + h


def _pct(v) -> str:
    return f"{100 * v[0]:.1f}% [{100 * v[1]:.1f}, {100 * v[2]:.1f}]"


def table(name: str, summary: dict[str, dict], truth: bool) -> list[str]:
    head = ["policy", "cost", "keeps", "same dose-response", "contradicts"]
    head += (["false"] if truth else []) + ["helps", "opt. width (per 100)",
                                            "gain width (per 100)"]  # fmt: skip
    lines = [f"**{name}**", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]  # fmt: skip
    for policy, s in summary.items():
        cells = [policy, f"{s['cost'][0]:.3f}", _pct(s["keeps"]), _pct(s["same_dose"]),
                 _pct(s["contradicts"])]  # fmt: skip
        cells += [_pct(s["false"])] if truth else []
        cells.append(_pct(s["helps"]))
        for k in ("opt_width", "gain_width"):
            cells.append(f"{s[k]:.3g} ({s[k + '_100']:.3g})" if k in s else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--families", default=",".join(K.FAMILIES))
    ap.add_argument("--curves", type=Path, action="append", help="recorded curves (CSV)")
    ap.add_argument("--effect", type=float, default=2.0, help="synthetic effect, noise sds")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="10 resamples: the test suite's run")
    ap.add_argument("--measure", type=Path, help="print a recorded CSV's proportions, and stop")
    a = ap.parse_args()
    if a.measure:
        cube = K.recorded(a.measure)
        for k, v in K.measure(cube).items():
            print(f"{k}: {v:.3g}")
        for r, (every, few) in rank_correlation(cube).items():
            print(f"rank correlation, epoch {r} vs last: {every:.2f} (all seeds), {few:.2f} "
                  "(3 seeds at the rung)")  # fmt: skip
        return 0
    resamples = 10 if a.quick else a.resamples
    sources: list = [f for f in a.families.split(",") if f]
    sources += a.curves if a.curves is not None else ([] if a.quick else RECORDED)
    chunks = max(1, a.jobs * 2)
    start = time.perf_counter()
    results: dict[str, list[dict]] = {}
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        futures = {}
        for i, src in enumerate(sources):
            per = [
                resamples // chunks + (1 if j < resamples % chunks else 0) for j in range(chunks)
            ]
            for j, n in enumerate(per):
                if n:
                    task = (src, n, [i, j, 17], a.effect)
                    futures[pool.submit(replay, task)] = str(src)
        for f, src in futures.items():
            results.setdefault(src, []).extend(f.result())
    for src, rows in results.items():
        name = Path(src).stem if src.endswith(".csv") else f"synthetic: {src}"
        truth = True
        print("\n".join(table(f"{name} ({resamples} resamples)", summarize(rows), truth)))
        print()
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
