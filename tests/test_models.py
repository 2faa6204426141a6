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
