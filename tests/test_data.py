import torch

from ablate.data.digit_scenes import digit_scenes
from ablate.data.digits import digits, glyph_split


def test_scenes_are_deterministic_for_a_seed():
    a = digit_scenes(size=24, train_scenes=8, val_scenes=4, min_scale=8, max_scale=12)
    b = digit_scenes(size=24, train_scenes=8, val_scenes=4, min_scale=8, max_scale=12)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(
        a.val.targets["mask"], b.val.targets["mask"]
    )
    c = digit_scenes(size=24, train_scenes=8, val_scenes=4, min_scale=8, max_scale=12, seed=1)
    assert not torch.equal(a.train.x, c.train.x)


def test_scene_targets_agree_with_each_other():
    d = digit_scenes(size=32, train_scenes=40, val_scenes=8, min_scale=10, max_scale=16)
    assert d.train.x.shape == (40, 3, 32, 32) and d.num_classes == 11
    mask, multi = d.train.targets["mask"], d.train.targets["labels"]
    assert mask.min() >= 0 and mask.max() <= 10
    for i in range(40):
        in_mask = {int(v) - 1 for v in mask[i].unique() if v > 0}
        in_labels = {int(j) for j in multi[i].nonzero()}
        assert in_mask <= in_labels  # a glyph can be hidden by a later one, never invented
        assert 1 <= len(in_labels) <= 4
    assert (mask > 0).float().mean() > 0.05  # the scenes really hold digits


def test_validation_glyphs_are_never_training_glyphs():
    _, _, train, val = glyph_split(0.25, seed=0)
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert len(train) + len(val) == 1797


def test_digits_is_the_real_bundled_dataset():
    d = digits()
    assert len(d.train) + len(d.val) == 1797
    assert d.train.x.shape[1:] == (1, 8, 8) and 0 <= d.train.x.min() and d.train.x.max() <= 1
