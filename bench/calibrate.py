"""The report's error rates on simulated sweeps (the large version of tests/test_calibration.py).

Prints a Markdown table of event rates with 99% Clopper-Pearson intervals, for
docs/statistics.md.

    python bench/calibrate.py [--sweeps 1000]
"""

from __future__ import annotations

import argparse
import sys
import time

from calibration import simulate, simulate_confirm, simulate_race

SCENARIOS = [
    # scenario, configurations, seeds, effect (noise sd), trend test
    ("equal", 11, 3, 0.0, True),
    ("equal", 11, 3, 0.0, False),
    ("equal", 16, 3, 0.0, False),
    ("equal", 24, 3, 0.0, False),
    ("equal", 11, 10, 0.0, False),
    ("equal", 16, 10, 0.0, False),
    ("equal", 24, 10, 0.0, False),
    ("one_better", 11, 3, 3.0, True),
    ("one_better", 11, 3, 3.0, False),
    ("one_better", 11, 5, 3.0, False),
    ("one_better", 11, 10, 3.0, False),
    ("trend", 11, 3, 1.0, True),
    ("trend", 11, 3, 2.0, True),
    ("trend", 11, 3, 4.0, True),
    ("peak", 11, 3, 2.0, True),
    ("peak", 11, 3, 4.0, True),
    # the default's design (experiments/pspnet_aux_weight.yaml): 6 levels x 4 seeds
    ("equal", 6, 4, 0.0, True),
    ("trend", 6, 4, 2.0, True),
    ("peak", 6, 4, 2.0, True),
    # fixed seeds against racing at the same maximum (RACES below)
    ("one_better", 11, 6, 2.0, False),
    ("one_better", 11, 6, 3.0, False),
    ("one_better", 11, 3, 2.0, False),
    # a fall of 2 sd: "hurts", and its loss interval (last: the rows above keep their draws)
    ("trend", 11, 3, -2.0, True),
]
# Noise that breaks the textbook model (issue 19): label, scenario, configurations, seeds,
# effect, simulate()'s keywords. Printed with 95% Clopper-Pearson intervals.
ROBUST = [
    ("seeds' own slopes (sd 1 over the range), 2-sd seed offsets", "equal", 11, 3, 0.0,
     {"seed_sd": 2.0, "slope_sd": 1.0}),
    ("the reference's run on one seed failed, 2-sd seed effects", "equal", 11, 3, 0.0,
     {"seed_sd": 2.0, "reference_lost_seed": True}),
    ("a trend of 2 sd, seeds' own slopes (sd 1)", "trend", 11, 3, 2.0, {"slope_sd": 1.0}),
    ("the default's design, seeds' own slopes (sd 1), 2-sd seed offsets", "equal", 6, 4, 0.0,
     {"seed_sd": 2.0, "slope_sd": 1.0}),
    # the recorded default curves' seed x linear-trend spread (bench/curves, 11 x 6): sd 1.6
    ("seeds' own slopes (sd 1.6, as recorded), 2-sd seed offsets", "equal", 11, 3, 0.0,
     {"seed_sd": 2.0, "slope_sd": 1.6}),
    ("the upper half's noise 3x the lower half's", "equal", 11, 3, 0.0, {"noise": "step"}),
    ("noise rising 1x -> 3x over the range", "equal", 11, 3, 0.0, {"noise": "ramp"}),
    ("the default's design, the upper half's noise 3x", "equal", 6, 4, 0.0, {"noise": "step"}),
    ("heavy tails (t, 3 df)", "equal", 11, 3, 0.0, {"tails": 3}),
    ("one setting's noise 3x the others' (at 0.7)", "equal", 11, 3, 0.0, {"noise": "one"}),
    ("the default's design, one setting's noise 3x", "equal", 6, 4, 0.0, {"noise": "one"}),
]  # fmt: skip
RACES = [
    # scenario, configurations, max seeds, initial, effect (noise sd)
    ("equal", 11, 6, 3, 0.0),
    ("equal", 11, 10, 3, 0.0),
    ("one_better", 11, 6, 3, 2.0),
    ("one_better", 11, 6, 3, 3.0),
    ("one_better", 11, 10, 3, 2.0),
    ("equal", 11, 6, 3, 0.0, "step"),  # the upper half's noise 3x the lower half's
    ("equal", 11, 6, 3, 0.0, "one"),  # one setting's noise 3x the others'
    ("equal", 11, 6, 3, 0.0, "ramp"),  # noise rising 1x -> 3x over the range
]
RACE_EVENTS = ["raced_out_any", "final_worse", "any_false", "best_raced_out", "true_best_in_set",
               "true_best_claimed_best"]  # fmt: skip
EVENTS = [
    "best_or_worse", "differs_from_reference", "trend_detected", "true_best_in_set",
    "true_best_claimed_best", "helps_claimed", "reference_intervals_cover", "gain_covered",
    "optimum_covered", "hurts_claimed", "any_claim",
]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sweeps", type=int, default=1000)
    ap.add_argument("--only", help="only this scenario (equal, one_better, trend, peak, race, "
                    "robust, confirm)")  # fmt: skip
    args = ap.parse_args()
    print("| scenario | configs x seeds | effect (sd) | factor | event | rate | 99% interval |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    start = time.monotonic()
    for i, (scenario, c, s, effect, trend) in enumerate(SCENARIOS):
        if args.only and scenario != args.only or args.only in ("race", "robust", "confirm"):
            continue
        r = simulate(scenario, c, s, args.sweeps, effect=effect, rng_seed=1000 + i,
                     trend_test=trend)  # fmt: skip
        covered = ("gain_covered", "optimum_covered") if scenario in ("trend", "peak") else ()
        given = "helps"
        if effect < 0:
            covered, given = ("loss_covered",), "hurts"
        for event in covered:
            rate, lo, hi, n = r.given(f"{given}_{event}", f"{given}_claimed")
            print(f"| {scenario} | {c} x {s} | {effect:g} | numeric (+ trend test) | {event} when "
                  f"\"{given}\" is printed ({n} sweeps) | {rate:.3f} | [{lo:.3f}, {hi:.3f}] "
                  "(95%) |", flush=True)  # fmt: skip
        for event in EVENTS:
            if event in r.counts:
                kind = "numeric (+ trend test)" if trend else "categorical"
                print(
                    f"| {scenario} | {c} x {s} | {effect:g} | {kind} | {event} | "
                    f"{r.rate(event):.3f} | [{r.lower(event):.3f}, {r.upper(event):.3f}] |",
                    flush=True,
                )
    if not args.only or args.only in ("robust", "confirm"):
        print("\nNoise that breaks the textbook model (numeric factor, trend test; 95% "
              "intervals)\n")  # fmt: skip
        print("| scenario | configs x seeds | effect (sd) | event | rate | 95% interval |")
        print("| --- | --- | --- | --- | --- | --- |")
        for i, (label, scenario, c, s, effect, kw) in enumerate(
            ROBUST if args.only != "confirm" else []
        ):
            r = simulate(scenario, c, s, args.sweeps, effect=effect, rng_seed=3000 + i, **kw)
            for event in EVENTS:
                if event in r.counts:
                    print(f"| {label} | {c} x {s} | {effect:g} | {event} | {r.rate(event):.3f} "
                          f"| [{r.lower(event, 0.975):.3f}, {r.upper(event, 0.975):.3f}] |",
                          flush=True)  # fmt: skip
        r = simulate_confirm(11, 3, 3, args.sweeps, rng_seed=4000)
        label = "every setting equal, the headline after `ablate confirm` (3 fresh seeds)"
        for event in ("any_false", "old_rule_false", "nominated_all"):
            print(f"| {label} | 11 x 3 | 0 | {event} | {r.rate(event):.3f} "
                  f"| [{r.lower(event, 0.975):.3f}, {r.upper(event, 0.975):.3f}] |",
                  flush=True)  # fmt: skip
    if not args.only or args.only == "race":
        print("\nRacing (search.race, step 1, alpha 2.5% over the stages; report at 2.5%)\n")
        print("| scenario | configs x max seeds (initial) | effect (sd) | event | rate | "
              "99% interval | seed runs / all seeds |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for i, (scenario, c, s, initial, effect, *noise) in enumerate(RACES):
            r = simulate_race(scenario, c, s, args.sweeps, initial=initial, effect=effect,
                              rng_seed=2000 + i, noise=noise[0] if noise else None)  # fmt: skip
            scenario += f", noise {noise[0]} 3x" if noise else ""
            used = r.counts["seed_runs"] / (args.sweeps * c * s)
            for event in RACE_EVENTS:
                if event in r.counts:
                    print(
                        f"| {scenario} | {c} x {s} ({initial}) | {effect:g} | {event} | "
                        f"{r.rate(event):.3f} | [{r.lower(event):.3f}, {r.upper(event):.3f}] | "
                        f"{used:.2f} |", flush=True,
                    )  # fmt: skip
    print(f"\n{args.sweeps} sweeps per scenario, {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
