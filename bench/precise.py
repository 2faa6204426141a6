"""The calibration's borderline rows at more sweeps (docs/statistics.md, issue 19).

A rate of 5.5% from 1000 sweeps has a 95% interval of [4.2, 7.1]: it cannot say whether a rule
holds 5%. This draws further sweeps of the rows near their bound, in batches whose random
streams are disjoint from bench/calibrate.py's (seeds 10000 + 100 * row + batch), and prints each
batch and their total with 95% Clopper-Pearson intervals.

    python bench/precise.py --sweeps 1000 --batches 4 [--row step]
"""

from __future__ import annotations

import argparse
import sys
import time

from calibration import Rates, simulate, simulate_race

# name: (what it runs, the events to print)
ROWS = {
    "step": (lambda n, seed: simulate("equal", 11, 3, n, 0.0, seed, noise="step"),
             ["best_or_worse", "trend_detected", "any_claim"]),
    "slopes": (lambda n, seed: simulate("equal", 11, 3, n, 0.0, seed, seed_sd=2.0, slope_sd=1.0),
               ["best_or_worse", "trend_detected", "any_claim"]),
    "trend": (lambda n, seed: simulate("trend", 11, 3, n, 2.0, seed),
              ["trend_detected", "helps_claimed"]),
    "race-step": (lambda n, seed: simulate_race("equal", 11, 6, n, 3, effect=0.0,
                                                rng_seed=seed, noise="step"),
                  ["raced_out_any", "final_worse", "any_false"]),
}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sweeps", type=int, default=1000, help="sweeps per batch")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--row", action="append", choices=sorted(ROWS), help="only these rows")
    args = ap.parse_args()
    print("| row | batch | sweeps | event | rate | 95% interval |")
    print("| --- | --- | --- | --- | --- | --- |")
    start = time.monotonic()
    for i, (name, (run, events)) in enumerate(ROWS.items()):
        if args.row and name not in args.row:
            continue
        batches = [run(args.sweeps, 10_000 + 100 * i + b) for b in range(args.batches)]
        first = batches[0]
        total = Rates(
            name, first.configs, first.seeds, sum(r.sweeps for r in batches), first.effect
        )
        for r in batches:
            for k, v in r.counts.items():
                total.counts[k] = total.counts.get(k, 0) + v
        for label, rates in [*((str(b), r) for b, r in enumerate(batches)), ("all", total)]:
            for e in events:
                print(f"| {name} | {label} | {rates.sweeps} | {e} | {rates.rate(e):.4f} | "
                      f"[{rates.lower(e, 0.975):.4f}, {rates.upper(e, 0.975):.4f}] |",
                      flush=True)  # fmt: skip
    print(f"\n{time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
