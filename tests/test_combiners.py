"""Each combination method against values computed by hand from its paper's formula."""

import math

import pytest
import torch

from ablate.combiners import Context
from ablate.combiners.dtp import DTP
from ablate.combiners.dwa import DWA
from ablate.combiners.equal import Equal
from ablate.combiners.fixed import Fixed
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
