import torch

from ablate.models.pspnet import PSPNet


def test_pspnet_aux_head_exists_in_training_only_and_outputs_are_label_sized():
    model = PSPNet(num_classes=11, backbone="tiny")
    x = torch.rand(2, 3, 40, 40)
    out = model(x)
    assert out["out"].shape == out["aux"].shape == (2, 11, 40, 40)
    model.eval()
    with torch.no_grad():
        assert set(model(x)) == {"out"}


def test_pspnet_aux_head_follows_the_reference_layout():
    head = PSPNet(num_classes=7, backbone="resnet50").aux
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "Dropout2d", "Conv2d"]
    assert head[0].in_channels == 1024 and head[0].kernel_size == (3, 3)
    assert head[3].p == 0.1 and head[4].out_channels == 7


def test_resnet_backbones_are_dilated_to_output_stride_8():
    model = PSPNet(num_classes=3, backbone="resnet18").eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        f = model.layer4(model.layer3(model.layer2(model.layer1(model.layer0(x)))))
    assert f.shape[-2:] == (8, 8)
    assert model.ppm.stages[0][0].output_size == 1


def test_a_local_weights_file_is_loaded(tmp_path):
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    model = PSPNet(num_classes=3, backbone="resnet18", weights=str(path))
    assert torch.equal(model.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)


# --- every registered model, from the registry -------------------------------------------------

from ablate.registry import MODELS  # noqa: E402

# CPU-sized settings per model: a model added without one fails the contract test below.
SMALL = {
    "pspnet": {"backbone": "tiny"},
    "fcn8s": {"width": 0.125},
    "group_cls_gat": {"backbone": "tiny", "groups": 2, "group_channels": 16, "class_channels": 8},
}


import pytest  # noqa: E402


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_runs_forward_and_backward_and_returns_its_promised_outputs(name):
    assert name in SMALL, f"add a CPU-sized setting for {name!r} to SMALL"
    model = MODELS.get(name)(num_classes=4, in_channels=3, **SMALL[name])
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert set(out) == set(model.outputs)
    loss = sum(v.float().pow(2).mean() for v in out.values())
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert "out" in model(x)


def test_fcn8s_keeps_the_seeds_vgg16_bn_stages_and_outputs_label_sized_maps():
    import torchvision

    from ablate.models.fcn import FCN8s

    ref = torchvision.models.vgg16_bn(weights=None).features
    model = FCN8s(num_classes=5)
    for stage, sl in zip(
        (model.stage1, model.stage2, model.stage3, model.stage4, model.stage5),
        (slice(0, 7), slice(7, 14), slice(14, 24), slice(24, 34), slice(34, None)),
        strict=True,
    ):
        assert [type(m) for m in stage] == [type(m) for m in ref[sl]]
    small = FCN8s(num_classes=5, width=0.125)
    out = small(torch.rand(1, 3, 40, 52))  # not a multiple of 32: padded, then cropped
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        k: (1, 5, 40, 52) for k in ("out", "aux5", "aux4")
    }


def test_fcn_transposed_convs_start_as_bilinear_upsampling():
    from ablate.models.fcn import _upsample, bilinear_kernel

    k = bilinear_kernel(1, 1, 4)[0, 0]
    assert torch.allclose(k[1:3, 1:3], torch.full((2, 2), 0.5625))  # (3/4)^2 at the center
    up = _upsample(2, 2)
    x = torch.rand(1, 2, 3, 3)
    y = up(x)
    assert y.shape == (1, 2, 6, 6)
    # Interior values interpolate their neighbours: a constant map stays constant inside.
    c = up(torch.ones(1, 2, 4, 4))[0, :, 1:-1, 1:-1]
    assert torch.allclose(c, torch.ones_like(c))


def test_a_local_vgg16_bn_weights_file_is_loaded(tmp_path):
    import torchvision

    from ablate.models.fcn import FCN8s

    ref = torchvision.models.vgg16_bn(weights=None)
    path = tmp_path / "vgg.pth"
    torch.save(ref.state_dict(), path)
    model = FCN8s(num_classes=3, weights=str(path))
    assert torch.equal(model.stage1[0].weight, ref.features[0].weight)


def test_gat_layer_equals_the_seeds_concatenated_attention_input():
    import torch.nn.functional as F

    from ablate.models.group_cls_gat import GATLayer

    torch.manual_seed(0)
    for residual in (True, False):
        gat = GATLayer(6, residual)
        x = torch.randn(2, 4, 6)
        h = x @ gat.W
        B, N, C = h.shape
        a_in = torch.cat([h.repeat(1, 1, N).view(B, N * N, C), h.repeat(1, N, 1)], dim=2)
        e = F.leaky_relu((a_in.view(B, N, N, 2 * C) @ gat.a).squeeze(3), 0.2)
        h_prime = F.softmax(e, dim=2) @ h
        ref = F.elu(h_prime + gat.beta * h) if residual else F.elu(h_prime)
        assert torch.allclose(gat(x), ref, atol=1e-6)
    assert GATLayer(6, False).beta is None


def test_the_supplement_head_reads_the_embeddings_before_the_gat_layer():
    from ablate.models.group_cls_gat import GroupClsGAT

    torch.manual_seed(0)
    model = GroupClsGAT(num_classes=6, backbone="tiny", groups=3, group_channels=8,
                        class_channels=4).eval()  # fmt: skip
    model.train(False)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        model.train()
        for m in model.modules():  # keep BN in eval so outputs compare exactly
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.eval()
        before = model(x)
        model.gat.W.add_(1.0)
        after = model(x)
    assert torch.equal(before["supplement"], after["supplement"])
    assert torch.equal(before["features"], after["features"])
    assert not torch.allclose(before["out"], after["out"])
    assert before["features"].shape == (2, 6, 4)
