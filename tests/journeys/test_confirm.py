"""`ablate confirm` after a sweep, then `ablate report`: the possibly-best set and the reference
re-trained on fresh seeds, and the report's settings kept."""

from __future__ import annotations

import json

import pytest
from lab import EXPERIMENTS, SMALL

# Two learning rates, one far too small (the reference, clearly worse): the possibly-best set
# is {lr=0.005} alone, and confirmation must still re-train the reference beside it.
LR = [
    *SMALL, "--set", "search.seeds=[0,1,2,3]",
    "--set", "search.params={lr: {path: train.lr, type: categorical, choices: [0.00001, 0.005]}}",
    "--set", "objective.metric=val/pixel_acc",
    "--set", "report={reference: {lr: 0.00001}, reference_name: a frozen start, margin: 0.9}",
]  # fmt: skip


@pytest.mark.readme("ablate confirm", "ablate report")
def test_confirm_retrains_the_best_set_and_the_reference_and_the_report_keeps_its_settings(user):
    yaml = EXPERIMENTS / "pspnet_aux_weight.yaml"
    r = user.ablate("sweep", yaml, *LR, "--study", "lr")
    assert r.returncode == 0, r
    before = (user.home / "reports/lr/report.md").read_text()
    assert "a frozen start" in before and "within_margin" in before

    # Confirmed by the study's name: its own experiment, as swept.
    c = user.ablate("confirm", "lr", "--seeds", "2")
    assert c.returncode == 0, c
    assert "confirming lr=0.005, lr=1e-05 on fresh seeds 10000..10001" in c.output, c
    confirm = user.runs("lr", "confirm", "FINISHED")
    assert sorted((x.data.params["lr"], x.data.params["seed"]) for x in confirm) == [
        ("0.005", "10000"), ("0.005", "10001"), ("1e-05", "10000"), ("1e-05", "10001"),
    ]  # fmt: skip

    again = user.ablate("report", "lr")
    assert again.returncode == 0, again
    after = (user.home / "reports/lr/report.md").read_text()
    assert "**lr=0.005 is best**, confirmed on 2 fresh seeds" in after, after
    assert "lr=1e-05 is worse there" in after and "## Confirmation on fresh seeds" in after
    for kept in ("a frozen start", "within_margin"):
        assert kept in after, kept
    # The reference is now compared on the fresh seeds, in the confirmation's family (one 5%
    # for the whole headline): its margin is kept, though 2 fresh seeds cannot show
    # equivalence within it as the search's 4 did ("(TOST)" left the sentence).
    claims = json.loads((user.home / "reports/lr/claims.json").read_text())
    (ref,) = [c for c in claims if c["kind"] == "reference"]
    assert ref["statistic"]["margin"] == 0.9 and "TOST" in ref["test"]
    assert all(r in {x.info.run_id for x in confirm} for r in ref["run_ids"])

    # With the experiment file: only as swept; otherwise advice that fits confirm.
    bad = user.ablate("confirm", yaml, "--study", "lr", "--seeds", "2")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad
    assert "was swept with another version" in bad.stderr
    assert "`ablate confirm lr`" in bad.stderr and "--study NEW_NAME" not in bad.stderr
    same = user.ablate("confirm", yaml, *LR, "--study", "lr", "--seeds", "2")
    assert same.returncode == 0 and "this sweep trained 0, reused 4" in same.output, same
