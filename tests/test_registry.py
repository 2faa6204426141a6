import sys

import pytest
import torch

from ablate.combiners import Context
from ablate.errors import AblateError
from ablate.plugins import load_plugins
from ablate.registry import COMBINERS, MODELS, Registry


def test_duplicate_registration_raises():
    reg = Registry("thing")
    reg.register("a")(object)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("A")(object)


def test_unknown_name_lists_the_choices():
    reg = Registry("thing")
    reg.register("alpha")(object)
    reg.register("beta")(object)
    with pytest.raises(AblateError, match="unknown thing 'gamma'; registered: alpha, beta"):
        reg.get("gamma")


# Models and losses have their registry-wide contract tests in test_models.py and
# test_losses.py (each with inputs of the kind it takes).


@pytest.mark.parametrize("name", COMBINERS.names())
def test_every_combiner_gives_a_scalar_and_names_exactly_the_terms(name):
    torch.manual_seed(0)
    shared, head_a, head_b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)
    feats = torch.relu(shared(torch.randn(8, 4)))
    losses = {"main": head_a(feats).pow(2).mean(), "aux": head_b(feats).abs().mean()}
    kpis = {"main": torch.tensor(0.7), "aux": torch.tensor(0.4)}  # as the trainer measures
    params = [*shared.parameters(), *head_a.parameters(), *head_b.parameters()]
    comb = COMBINERS.get(name)(terms=["main", "aux"])
    total = comb(losses, Context(kpis=kpis, shared_params=params))
    assert total.ndim == 0 and torch.isfinite(total)
    total.backward()
    for module in (shared, head_a, head_b):  # gradients reach the shared part and both heads
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert all(p.grad is not None for p in comb.parameters())  # learned weights learn
    assert set(comb.weights()) == {"main", "aux"}


def test_a_plugin_module_registers_a_model_without_editing_ablate(tmp_path, monkeypatch, tiny_raw):
    (tmp_path / "my_plugin.py").write_text(
        "import torch\n"
        "from ablate.registry import MODELS\n"
        "@MODELS.register('my_net')\n"
        "class MyNet(torch.nn.Module):\n"
        "    outputs = ('out',)\n"
        "    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 4):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(in_channels, num_classes, 1)\n"
        "    def forward(self, x):\n"
        "        return {'out': self.conv(x)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from ablate import spec as S

    tiny_raw["plugins"] = ["my_plugin"]
    tiny_raw["model"] = {"name": "my_net", "params": {"width": 8}}
    tiny_raw["terms"] = [{"name": "main", "output": "out", "loss": "ce"}]
    tiny_raw["combiner"] = {"method": "fixed"}
    tiny_raw["search"]["params"] = {}
    try:
        spec = S.validate(tiny_raw)
        assert spec.model.name == "my_net" and "my_net" in MODELS
    finally:
        MODELS.unregister("my_net")
        sys.modules.pop("my_plugin", None)


def test_an_unimportable_plugin_is_a_clear_error():
    with pytest.raises(AblateError, match="cannot import plugin module 'no_such_module_xyz'"):
        load_plugins(["no_such_module_xyz"])
