"""Sweeps other than the default grid, as the README describes them: a sampler with a pruner,
seeds added to a finished study, a training loop of one's own, the halving variant's pruning and
racing together."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest
from lab import EXPERIMENTS, SMALL

DEFAULT = EXPERIMENTS / "pspnet_aux_weight.yaml"


@pytest.mark.readme("ablate sweep")
def test_tpe_with_the_median_pruner_starts_from_the_reference_and_reports_against_it(user):
    r = user.ablate(
        "sweep", EXPERIMENTS / "gat_supplement.yaml", "--set", "train.epochs=3",
        "--set", "data.params.train_scenes=64", "--set", "data.params.val_scenes=32",
        "--set", "search.sampler=tpe", "--set", "search.n_trials=5", "--set", "search.seeds=[0,1]",
        "--set", "search.params.supplement_weight={path: combiner.params.weights.supplement, "
        "type: float, low: 0.0, high: 1.0, step: 0.1}",
        "--set", "search.pruner={name: median, params: {n_startup_trials: 2, n_warmup_steps: 1}}",
    )  # fmt: skip
    assert r.returncode == 0, r
    trials = sorted(user.trials("gat_supplement"), key=lambda t: t.number)
    # The reference first, as a grid does: a sampler alone might never propose it.
    assert trials[0].params == {"supplement_weight": 0.0, "gat_residual": True}
    assert len(trials) == 5 and {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    names = [c.info.run_name for c in user.runs("gat_supplement", "config")]
    assert all(re.fullmatch(r"supplement_weight=\d\.\d gat_residual=(True|False)", n)
               for n in names), names  # fmt: skip
    claims = (user.home / "reports/gat_supplement/claims.json").read_text()
    assert '"kind": "reference"' in claims and "no supplement head" in claims, claims


@pytest.mark.readme("ablate sweep")
def test_seeds_added_to_a_finished_study_train_only_the_new_cells(user):
    grid = [*SMALL, "--set", "search.params.aux_weight.step=0.5", "--set", "search.race=null"]
    first = user.ablate("sweep", DEFAULT, *grid, "--set", "search.seeds=[0,1]")
    assert first.returncode == 0 and "this sweep trained 6, reused 0" in first.output, first
    more = user.ablate("sweep", DEFAULT, *grid, "--set", "search.seeds=[0,1,2]")
    assert more.returncode == 0, more
    assert "9 of 9 (configuration, seed) runs finished; this sweep trained 3, reused 6" in (
        more.output
    ), more
    seeds = user.runs("pspnet_aux_weight", "seed", "FINISHED")
    assert Counter(s.data.tags["ablate.seed"] for s in seeds) == {"0": 3, "1": 3, "2": 3}
    configs = user.runs("pspnet_aux_weight", "config", "FINISHED")
    assert len(configs) == 3 and all(c.data.metrics["val/miou_n"] == 3 for c in configs)
    import pandas as pd

    table = pd.read_csv(user.home / "reports/pspnet_aux_weight/configs.csv")
    assert table["n"].tolist() == [3, 3, 3] and set(table["status"]) == {"tested"}


@pytest.mark.readme("ablate sweep")
def test_a_training_loop_of_ones_own_is_swept_tracked_and_reported(user):
    (user.home / "experiments").mkdir()
    for name in ("custom_loop.py", "custom_loop.yaml"):
        shutil.copy(EXPERIMENTS / name, user.home / "experiments" / name)
    r = user.ablate("sweep", "experiments/custom_loop.yaml", "--set", "train.epochs=2",
                    "--set", "search.params.recon_weight.choices=[0.0,0.3]")  # fmt: skip
    assert r.returncode == 0, r
    seeds = user.runs("custom_loop", "seed", "FINISHED")
    assert len(seeds) == 6 and all("val/accuracy" in s.data.metrics for s in seeds)
    report = (user.home / "reports/custom_loop/report.md").read_text()
    assert "no reconstruction term" in report


@pytest.mark.readme("ablate sweep")
def test_the_halving_variants_pruning_and_racing_run_together(user):
    """experiments/pspnet_aux_weight_halving.yaml (sizes shrunk, three weights): successive
    halving judges every configuration on the mean over its seeds at a rung, racing gives the
    finalists more seeds; a pruned configuration ends KILLED with its rung, its trial PRUNED,
    and the report lists it."""
    r = user.ablate("sweep", EXPERIMENTS / "pspnet_aux_weight_halving.yaml",
                    "--set", "data.params.train_scenes=96", "--set", "data.params.val_scenes=64",
                    "--set", "train.epochs=3", "--set", "search.params.aux_weight.step=0.5",
                    "--set", "search.seeds=[0,1,2,3]", timeout=1200)  # fmt: skip
    assert r.returncode == 0, r
    assert "runs of 1 configurations pruned at a rung" in r.output, r
    trials = user.trials("pspnet_aux_weight_halving")
    assert Counter(t.state.name for t in trials) == {"COMPLETE": 2, "PRUNED": 1}
    configs = user.runs("pspnet_aux_weight_halving", "config")
    pruned = [c for c in configs if c.info.status == "KILLED"]
    assert len(pruned) == 1 and pruned[0].data.tags["ablate.pruned_at"] == "2"
    report = (user.home / "reports/pspnet_aux_weight_halving/report.md").read_text()
    assert "## Pruned configurations" in report
