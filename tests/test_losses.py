"""Every registered loss: finite, differentiable, and equal to a value computed by hand."""

import math

import pytest
import torch

from ablate.registry import LOSSES, build

# The seed 002_* worked example: per-pixel NLL of log_softmax over 2 classes on a 2x3 image.
SEED_X = torch.tensor(
    [[[[0.0655, -0.4263, 0.2459], [0.8114, 0.3539, 0.0906]],
      [[-1.4042, 0.2177, 0.2541], [-0.9366, 0.1628, -0.4252]]]]
)  # fmt: skip
SEED_GT = torch.tensor([[[0, 1, 1], [0, 0, 0]]])
TRAIN_LABELS = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])  # p = 0.75, 0.25


def case(name):
    """(pred, target, injected) for one loss: a tiny input of the kind it takes."""
    multi = (torch.tensor([[0.0, 2.0], [-1.0, 0.5]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
    dense = (SEED_X.clone(), SEED_GT)
    cases = {
        "ce": dense,
        "nll": dense,
        "bce": multi,
        "multilabel_soft_margin": multi,
        "deepmar": multi,
        "focal": multi,
        "center": (torch.randn(4, 3), torch.tensor([0, 1, 1, 0])),
    }
    assert name in cases, f"add a tiny input for loss {name!r} to tests/test_losses.py"
    pred, target = cases[name]
    return pred, target, {"num_classes": 2, "train_target": TRAIN_LABELS}


def make(name, **params):
    return build(LOSSES.get(name), params, num_classes=2, train_target=TRAIN_LABELS)


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_is_a_finite_differentiable_scalar(name):
    pred, target, injected = case(name)
    loss_fn = build(LOSSES.get(name), {}, **injected)
    pred = pred.clone().requires_grad_()
    loss = loss_fn(pred, target)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["nll", "ce"])
def test_per_pixel_nll_reproduces_the_seeds_worked_example(name):
    # (0.2070 + 0.4221 + 0.6891 + 0.1605 + 0.6022 + 0.4681) / 6 = 0.4248 in seed 002_*
    assert make(name)(SEED_X, SEED_GT).item() == pytest.approx(0.42483, abs=1e-4)


def test_nll_skips_ignored_pixels():
    gt = SEED_GT.clone()
    gt[0, 1, :] = 255  # drop the second row: (0.2070 + 0.4221 + 0.6891) / 3
    assert make("nll")(SEED_X, gt).item() == pytest.approx(0.43940, abs=1e-4)


def sp(x):  # softplus: -log sigmoid(-x)
    return math.log1p(math.exp(x))


@pytest.mark.parametrize("name", ["bce", "multilabel_soft_margin"])
def test_binary_losses_by_hand(name):
    pred, target = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    # positive at 0: -log sigmoid(0) = log 2; negative at 2: -log sigmoid(-2) = softplus(2)
    assert make(name)(pred, target).item() == pytest.approx((math.log(2) + sp(2)) / 2, rel=1e-6)


def test_deepmar_weights_rare_positives_up_by_the_training_ratio():
    pred, target = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 1.0]])
    # p = (0.75, 0.25): positive weights exp(1 - p) = exp(0.25), exp(0.75)
    want = (math.exp(0.25) * math.log(2) + math.exp(0.75) * sp(-2)) / 2
    assert make("deepmar")(pred, target).item() == pytest.approx(want, rel=1e-6)
    target = torch.tensor([[0.0, 0.0]])  # negatives: exp(p) = exp(0.75), exp(0.25)
    want = (math.exp(0.75) * math.log(2) + math.exp(0.25) * sp(2)) / 2
    assert make("deepmar")(pred, target).item() == pytest.approx(want, rel=1e-6)


def test_focal_sigmoid_form_by_hand():
    pred, target = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    p1 = 1 / (1 + math.exp(-2.0))  # label 1 is negative: p_t = 1 - p1, alpha_t = 0.75
    want = (0.25 * 0.5**2 * math.log(2) + 0.75 * p1**2 * -math.log(1 - p1)) / 2
    assert make("focal")(pred, target).item() == pytest.approx(want, rel=1e-6)
    # gamma 0 and no alpha: plain BCE
    bce = make("bce")(pred, target).item()
    assert make("focal", gamma=0.0, alpha=None)(pred, target).item() == pytest.approx(bce)


def test_focal_softmax_form_by_hand():
    pred, target = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([1])
    p = math.exp(0.0) / (math.exp(2.0) + 1 + math.exp(-1.0))
    assert make("focal", gamma=2.0)(pred, target).item() == pytest.approx(
        -((1 - p) ** 2) * math.log(p), rel=1e-6
    )
    assert make("focal", gamma=0.0)(SEED_X, SEED_GT).item() == pytest.approx(0.42483, abs=1e-4)


def test_center_loss_reproduces_the_seeds_example_with_known_centers():
    loss = make("center")
    loss.num_classes = 10
    y = torch.tensor([8, 3, 8, 5, 3, 0, 6, 5, 2, 3])
    feat = torch.zeros(10, 2, requires_grad=True)
    loss(feat, y)  # the first call shapes the centers: [10 classes, 2 dims]
    assert loss.centers.shape == (10, 2)
    with torch.no_grad():
        loss.centers.copy_(torch.stack([torch.arange(10.0), torch.ones(10)], 1))  # c_k = (k, 1)
    value = loss(feat, y)
    # 1/2 * sum_i ||0 - (y_i, 1)||^2 / 10 = (245 + 10) / 20
    assert value.item() == pytest.approx(12.75)
    value.backward()
    # d/dc_k = -(f - c_k) summed over class-k samples / 10: class 3 appears three times
    assert torch.allclose(loss.centers.grad[3], torch.tensor([0.9, 0.3]))
    assert torch.allclose(feat.grad[0], -torch.tensor([8.0, 1.0]) / 10)


def test_center_loss_multi_label_forms():
    loss = make("center")
    target = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # 3 positive (sample, label) pairs
    per_class = torch.zeros(2, 2, 3)  # [B, K, D] class embeddings
    per_class[1, 1] = 2.0
    loss(per_class, target)
    with torch.no_grad():
        loss.centers.zero_()
    # only the positive pair (1, 1) is away from its center: 1/2 * (3 * 4) / 3
    assert loss(per_class, target).item() == pytest.approx(2.0)
    flat = make("center")
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    flat(f, target)
    with torch.no_grad():
        flat.centers.copy_(torch.tensor([[0.0, 0.0], [0.0, 1.0]]))
    # pairs: (0, c0): 1; (1, c0): 4; (1, c1): 1  -> 1/2 * 6 / 3
    assert flat(f, target).item() == pytest.approx(1.0)


def test_multi_label_losses_refuse_a_class_index_target_clearly():
    with pytest.raises(ValueError, match="same shape"):
        make("bce")(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="multi-hot"):
        build(LOSSES.get("deepmar"), {}, train_target=torch.tensor([0, 1]))
