from __future__ import annotations

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from bgan_lightning.losses_perceptual import VGGPerceptualLoss


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16_random.pth"
    torch.save({f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}, path)
    return path


def test_equal_images_have_zero_loss(vgg_file):
    loss = VGGPerceptualLoss("vgg16", weights=str(vgg_file))
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loss(image, image).item() == 0.0


def test_loss_is_positive_and_reaches_the_fake(vgg_file):
    loss = VGGPerceptualLoss("vgg16", weights=str(vgg_file))
    fake = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    value = loss(fake, real)
    value.backward()
    assert value.item() > 0
    assert fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def test_features_only_state_dict_loads(vgg_file, tmp_path):
    state = torch.load(vgg_file, weights_only=True)
    features_only = tmp_path / "features.pth"
    torch.save({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}, features_only)
    image = torch.rand(1, 1, 32, 32) * 2 - 1
    other = torch.rand(1, 1, 32, 32) * 2 - 1
    full = VGGPerceptualLoss("vgg16", weights=str(vgg_file))(image, other)
    partial = VGGPerceptualLoss("vgg16", weights=str(features_only))(image, other)
    torch.testing.assert_close(full, partial)


def test_stays_in_eval_mode(vgg_file):
    loss = VGGPerceptualLoss("vgg16", weights=str(vgg_file)).train()
    assert not loss.features.training


def test_missing_file_names_path(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match=f"VGG weights file {missing} not found"):
        VGGPerceptualLoss("vgg16", weights=str(missing))


def test_invalid_arch_and_weights_raise():
    with pytest.raises(ValueError, match="Invalid VGG arch 'vgg11'"):
        VGGPerceptualLoss("vgg11")
    with pytest.raises(ValueError, match="Got 2 layer weights but the loss compares 5 stages"):
        VGGPerceptualLoss("vgg16", layer_weights=(1.0, 1.0))


def test_vgg19_without_weights_names_the_fix():
    with pytest.raises(ValueError, match="No vgg19 weights can be resolved offline; pass weights="):
        VGGPerceptualLoss("vgg19")
