import math

import pytest
import torch

from ablate import metrics as M


def test_miou_and_pixel_accuracy_match_hand_computed_values():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 0]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 0]])
    conf = M.confusion_matrix(pred, target, 3, ignore_index=255)
    # class 0: tp 2, fp 1, fn 1 -> 2/4; class 1: tp 2, fp 1 -> 2/3; class 2: tp 1, fn 1 -> 1/2
    assert math.isclose(M.miou(conf), (0.5 + 2 / 3 + 0.5) / 3)
    assert math.isclose(M.pixel_acc(conf), 5 / 7)


def test_classes_absent_from_both_sides_do_not_count():
    conf = M.confusion_matrix(
        torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long), 5
    )
    assert M.miou(conf) == 1.0


def test_accuracy():
    assert M.accuracy(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 0])) == 0.5


def test_average_precision_matches_sklearn_including_ties():
    from sklearn.metrics import average_precision_score

    gen = torch.Generator().manual_seed(0)
    target = (torch.rand(60, 5, generator=gen) > 0.6).float()
    scores = torch.randint(0, 6, (60, 5), generator=gen).float()  # many tied scores
    scores[:, 4] = 0.3  # one label scored constantly: AP = its prevalence
    ours = M.average_precision(scores, target)
    for k in range(5):
        want = average_precision_score(target[:, k].numpy(), scores[:, k].numpy())
        assert float(ours[k]) == pytest.approx(want, abs=1e-9)
    assert float(ours[4]) == pytest.approx(float(target[:, 4].mean()))


def test_mean_ap_skips_labels_without_positives():
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert torch.isnan(M.average_precision(scores, target)[1])
    assert M.mean_ap(scores, target) == 1.0


def test_f1_micro_and_macro_match_sklearn():
    from sklearn.metrics import f1_score

    gen = torch.Generator().manual_seed(1)
    target = (torch.rand(50, 4, generator=gen) > 0.5).float()
    pred = torch.rand(50, 4, generator=gen) > 0.4
    counts = M.f1_counts(pred, target)
    assert M.f1_micro(counts) == pytest.approx(f1_score(target, pred.float(), average="micro"))
    assert M.f1_macro(counts) == pytest.approx(f1_score(target, pred.float(), average="macro"))
