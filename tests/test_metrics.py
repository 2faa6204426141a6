import math

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
