"""Each combination method against values computed by hand from its paper's formula."""

import math

import pytest
import torch

from ablate.combiners import Context
from ablate.combiners.dtp import DTP
from ablate.combiners.dwa import DWA
from ablate.combiners.equal import Equal
from ablate.combiners.fixed import Fixed
from ablate.combiners.gradnorm import GradNorm
from ablate.combiners.pcgrad import PCGrad
from ablate.combiners.rlw import RLW
from ablate.combiners.uncertainty import Uncertainty

TERMS = ["main", "aux"]


def losses(main=2.0, aux=3.0):
    return {"main": torch.tensor(main), "aux": torch.tensor(aux)}


def test_equal_is_the_plain_sum():
    assert Equal(TERMS)(losses(), Context()).item() == 5.0


def test_fixed_weights_the_named_terms_and_keeps_the_others_at_one():
    comb = Fixed(TERMS, weights={"aux": 0.4})
    assert comb(losses(), Context()).item() == pytest.approx(2.0 + 0.4 * 3.0)
    assert comb.weights() == {"main": 1.0, "aux": 0.4}


@pytest.mark.parametrize(
    "schedule, expected",
    [("constant", 0.4), ("linear", 0.4 * 0.25), ("poly", 0.4 * 0.25**0.9)],
)
def test_fixed_schedules_decay_the_aux_weight_but_not_the_main_one(schedule, expected):
    comb = Fixed(TERMS, weights={"aux": 0.4}, schedule=schedule)
    ctx = Context(step=30, epochs=4, steps_per_epoch=10)  # 75% of training done
    assert comb(losses(), ctx).item() == pytest.approx(2.0 + expected * 3.0)
    assert comb.weights()["main"] == 1.0 and comb.weights()["aux"] == pytest.approx(expected)


def test_uncertainty_at_s_zero_is_the_sum_with_the_papers_factors():
    comb = Uncertainty(TERMS, kinds={"aux": "regression"})
    # s = 0: exp(-s) = 1, s/2 = 0 -> 1 * L_main + 1/2 * L_aux
    assert comb(losses(), Context()).item() == pytest.approx(2.0 + 0.5 * 3.0)
    assert comb.weights() == {"main": 1.0, "aux": 0.5}


def test_uncertainty_at_other_s_follows_the_formula_and_learns_s():
    comb = Uncertainty(TERMS, init_log_var=0.7)
    total = comb(losses(), Context())
    expected = sum(math.exp(-0.7) * v + 0.35 for v in (2.0, 3.0))
    assert total.item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    # d/ds (exp(-s) L + s/2) = -exp(-s) L + 1/2
    assert comb.log_vars.grad.tolist() == pytest.approx(
        [-math.exp(-0.7) * 2.0 + 0.5, -math.exp(-0.7) * 3.0 + 0.5], rel=1e-6
    )


def test_dwa_uses_equal_weights_in_the_first_two_epochs():
    comb = DWA(TERMS)
    assert comb.weights_for({"main": [], "aux": []}) == {"main": 1.0, "aux": 1.0}
    assert comb.weights_for({"main": [1.0], "aux": [2.0]}) == {"main": 1.0, "aux": 1.0}


def test_dwa_follows_the_loss_ratios_of_the_two_previous_epochs():
    comb = DWA(TERMS, temperature=2.0)
    history = {"main": [1.0, 0.5], "aux": [1.0, 0.9]}  # main fell faster -> less weight
    w = comb.weights_for(history)
    e_main, e_aux = math.exp(0.5 / 2), math.exp(0.9 / 2)
    assert w["main"] == pytest.approx(2 * e_main / (e_main + e_aux))
    assert w["aux"] == pytest.approx(2 * e_aux / (e_main + e_aux))
    assert w["main"] + w["aux"] == pytest.approx(2.0)
    total = comb(losses(), Context(history=history))
    assert total.item() == pytest.approx(2.0 * w["main"] + 3.0 * w["aux"])


def test_rlw_draws_softmax_weights_every_step_reproducibly():
    comb = RLW(TERMS)
    torch.manual_seed(0)
    first = comb(losses(), Context()).item()
    w1 = comb.weights()
    second = comb(losses(), Context()).item()
    assert sum(w1.values()) == pytest.approx(1.0) and all(v > 0 for v in w1.values())
    assert first == pytest.approx(2.0 * w1["main"] + 3.0 * w1["aux"])
    assert first != second  # a fresh draw each step
    torch.manual_seed(0)
    assert comb(losses(), Context()).item() == first


@pytest.mark.parametrize("cls", [Fixed, Uncertainty])
def test_weights_for_unknown_terms_are_rejected(cls):
    kwargs = {"weights": {"auxx": 1.0}} if cls is Fixed else {"kinds": {"auxx": "regression"}}
    with pytest.raises(ValueError, match=r"unknown term\(s\) \['auxx'\]"):
        cls(TERMS, **kwargs)


def dtp_weight(kappa, gamma=1.0):
    return -((1 - kappa) ** gamma) * math.log(kappa)


def test_dtp_weights_follow_the_focal_form_of_the_moving_average_kpi():
    comb = DTP(TERMS, gamma=2.0, alpha=0.5)
    ctx = Context(kpis={"main": torch.tensor(0.8), "aux": torch.tensor(0.4)})
    total = comb(losses(), ctx)
    assert comb.weights()["main"] == pytest.approx(dtp_weight(0.8, 2.0), rel=1e-5)
    assert total.item() == pytest.approx(
        2.0 * dtp_weight(0.8, 2.0) + 3.0 * dtp_weight(0.4, 2.0), rel=1e-5
    )
    # second step: kappa_bar = 0.5 * 0.6 + 0.5 * 0.8 = 0.7
    comb(losses(), Context(kpis={"main": torch.tensor(0.6), "aux": torch.tensor(0.4)}))
    assert comb.weights()["main"] == pytest.approx(dtp_weight(0.7, 2.0), rel=1e-5)


def test_dtp_weight_grows_as_a_kpi_falls():
    weights = []
    for kappa in (0.9, 0.7, 0.5, 0.3, 0.1):
        comb = DTP(TERMS)
        comb(losses(), Context(kpis={"main": torch.tensor(kappa), "aux": torch.tensor(0.5)}))
        weights.append(comb.weights()["main"])
    assert weights == sorted(weights)  # lower KPI, larger weight
    assert weights[0] < weights[-1]


def test_dtp_without_a_kpi_for_a_term_is_a_clear_error():
    with pytest.raises(ValueError, match=r"dtp needs a KPI for every term; .*\['aux'\]"):
        DTP(TERMS)(losses(), Context(kpis={"main": torch.tensor(0.5)}))


def linear_terms(g1, g2):
    """Two losses linear in one shared parameter, so their gradients are exactly g1 and g2."""
    theta = torch.nn.Parameter(torch.zeros(2))
    return theta, {
        "main": torch.dot(torch.tensor(g1), theta),
        "aux": torch.dot(torch.tensor(g2), theta),
    }


def test_pcgrad_leaves_non_conflicting_gradients_unchanged():
    theta, ls = linear_terms([1.0, 2.0], [3.0, 0.5])  # dot > 0
    PCGrad(TERMS)(ls, Context(shared_params=[theta])).backward()
    assert theta.grad.tolist() == pytest.approx([4.0, 2.5])


def test_pcgrad_makes_a_conflicting_pair_orthogonal():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # dot = -1 < 0
    projected = PCGrad.project([g1, g2])
    # each projected gradient no longer conflicts: it is orthogonal to the other one
    assert torch.dot(projected[0], g2).item() == pytest.approx(0.0, abs=1e-7)
    assert torch.dot(projected[1], g1).item() == pytest.approx(0.0, abs=1e-7)
    pc1, pc2 = torch.tensor([0.5, 0.5]), torch.tensor([0.0, 1.0])  # by hand
    assert torch.allclose(projected[0], pc1) and torch.allclose(projected[1], pc2)
    theta, ls = linear_terms(g1.tolist(), g2.tolist())
    total = PCGrad(TERMS)(ls, Context(shared_params=[theta]))
    assert total.item() == pytest.approx(0.0)  # the value is the plain sum of the losses
    total.backward()
    assert torch.allclose(theta.grad, pc1 + pc2)


def gradnorm_problem():
    torch.manual_seed(0)
    shared, a, b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    x = torch.randn(16, 3)

    def losses():
        f = shared(x)
        return {"main": a(f).pow(2).mean(), "aux": 5.0 * b(f).abs().mean()}

    return [*shared.parameters(), *a.parameters(), *b.parameters()], losses, shared


def test_gradnorm_weight_gradient_matches_the_papers_loss_on_the_first_step():
    params, losses, shared = gradnorm_problem()
    comb = GradNorm(TERMS, alpha=1.5)
    ls = losses()
    norms = [torch.autograd.grad(ls[t], shared.weight, retain_graph=True)[0].norm() for t in TERMS]
    total = comb(ls, Context(shared_params=params))
    total.backward()
    # first step: r_t = 1, target = mean(G); d/dw_t |w_t n_t - target| = sign(.) * n_t
    g = torch.stack(norms)
    expected = torch.sign(g - g.mean()) * g
    assert comb.w.grad.tolist() == pytest.approx(expected.tolist(), rel=1e-5)
    assert total.item() == pytest.approx((ls["main"] + ls["aux"]).item(), rel=1e-6)


def test_gradnorm_weights_sum_to_the_number_of_terms_after_each_update():
    params, losses, _ = gradnorm_problem()
    comb = GradNorm(TERMS)
    opt = torch.optim.SGD([*params, *comb.parameters()], lr=0.05)
    seen = []
    for _ in range(5):
        opt.zero_grad()
        comb(losses(), Context(shared_params=params)).backward()
        opt.step()
        seen.append(comb.weights())
        assert sum(seen[-1].values()) == pytest.approx(2.0)
    assert seen[-1] != {"main": 1.0, "aux": 1.0}  # the weights moved
