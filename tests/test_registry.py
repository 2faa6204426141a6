import sys

import pytest
import torch

from ablate.combiners import Context
from ablate.errors import AblateError
from ablate.registry import COMBINERS, LOSSES, MODELS, Registry, build, load_plugins


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


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_trains_and_returns_its_declared_outputs(name):
    model = build(
        MODELS.get(name),
        {"backbone": "tiny"} if name == "pspnet" else {},
        num_classes=5,
        in_channels=3,
    )
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert set(out) == set(model.outputs)
    loss = sum(o.float().mean() for o in out.values())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        assert "out" in model(x)


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_finite_and_differentiable(name):
    loss = build(LOSSES.get(name), {}, num_classes=4)
    pred = torch.randn(2, 4, 5, 5, requires_grad=True)
    target = torch.randint(0, 4, (2, 5, 5))
    value = loss(pred, target)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


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
