"""A lab's own code beside its experiments: a plug-in module in the working directory, as the
README shows, and what a user sees when their own code fails in every run."""

from __future__ import annotations

import pytest
from lab import EXPERIMENTS, SMALL

DICE = '''
import torch
from ablate.registry import LOSSES


@LOSSES.register("soft_dice")
class SoftDice(torch.nn.Module):
    """Soft Dice loss on class probabilities (Milletari et al. 2016)."""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits, target):
        probs = logits.softmax(1)
        onehot = torch.nn.functional.one_hot(target.clamp(0, probs.shape[1] - 1),
                                             probs.shape[1]).permute(0, 3, 1, 2).float()
        inter = (probs * onehot).sum((0, 2, 3))
        union = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
        return 1 - ((2 * inter + self.smooth) / (union + self.smooth)).mean()
'''

FLAKY = '''
import torch
from ablate.registry import LOSSES


@LOSSES.register("flaky")
class Flaky(torch.nn.Module):
    """Works for the preflight's single step, then fails as a user's bug would."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, logits, target):
        self.calls += 1
        if self.calls > 2:
            raise ValueError(f"my_lab: the weights disagree with the targets at call {self.calls}")
        return torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
'''


def _grid(step: str = "0.5") -> list[str]:
    return [*SMALL, "--set", f"search.params.aux_weight.step={step}", "--set",
            "search.seeds=[0,1,2,3]"]  # fmt: skip


@pytest.mark.readme("ablate sweep")
def test_a_plugin_module_in_the_working_directory_trains_and_is_recorded(user):
    user.write("my_lab.py", DICE)
    r = user.ablate("sweep", EXPERIMENTS / "pspnet_aux_weight.yaml", *_grid("1.0"),
                    "--set", "plugins=[my_lab]", "--set", "terms.1.loss=soft_dice")  # fmt: skip
    assert r.returncode == 0, r
    seeds = user.runs("pspnet_aux_weight", "seed", "FINISHED")
    assert seeds and all("ablate.version.plugin.my_lab" in s.data.tags for s in seeds)
    assert {s.data.params["terms.1.loss"] for s in seeds} == {"soft_dice"}


@pytest.mark.readme("ablate sweep")
def test_when_a_users_loss_fails_in_every_run_the_sweep_says_why_once_and_writes_no_report(user):
    user.write("my_lab.py", FLAKY)
    r = user.ablate("sweep", EXPERIMENTS / "pspnet_aux_weight.yaml", *_grid(),
                    "--set", "plugins=[my_lab]", "--set", "terms.1.loss=flaky")  # fmt: skip
    assert r.returncode == 1, r
    line = next(x for x in r.output.splitlines() if x.startswith("every run failed"))
    assert "ValueError: my_lab: the weights disagree with the targets at call 3" in line, r
    assert "(12 runs; e.g. MLflow run " in line, r  # 3 weights x 4 seeds, every one tried
    run_id = line.rsplit("MLflow run ", 1)[1].rstrip(")")
    run = user.client().get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["ablate.failure_kind"] == "error"
    assert "my_lab: the weights disagree" in run.data.tags["ablate.failure"]
    assert not (user.home / "reports").exists()
    assert {t.state.name for t in user.trials("pspnet_aux_weight")} == {"FAIL"}
    configs = user.runs("pspnet_aux_weight", "config")
    assert len(configs) == 3 and {c.info.status for c in configs} == {"FAILED"}
