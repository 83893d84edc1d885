import pytest
import torch

from bgan_lightning.networks import LatentInputGenerator, ResnetGenerator, UnetGenerator
from bgan_lightning.nn import last_latents, latent_control, stochastic_modules
from tests.networks.helpers import check_forward_backward, check_sample_contract


def wrapped(latent_dim: int = 8) -> LatentInputGenerator:
    return LatentInputGenerator(UnetGenerator(3 + latent_dim, 3, num_downs=5, ngf=4), latent_dim=latent_dim)


def test_reports_condition_channels_and_is_stochastic():
    generator = wrapped()
    assert generator.input_nc == 3
    assert generator.output_nc == 3
    assert [name for name, _ in stochastic_modules(generator)] == [""]


def test_forward_backward_and_latent_changes_output():
    torch.manual_seed(0)
    generator = wrapped()
    out = check_forward_backward(generator, torch.randn(1, 3, 32, 32).repeat(2, 1, 1, 1))
    assert (out[0] - out[1]).abs().max() > 1e-4
    assert last_latents(generator)[""].shape == (2, 8)


def test_explicit_latents_and_sample_contract():
    torch.manual_seed(0)
    generator = wrapped().eval()
    x = torch.randn(2, 3, 32, 32)
    z = torch.randn(2, 8)
    with latent_control(generator, latents=z):
        first = generator(x)
    with latent_control(generator, latents=z):
        second = generator(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    check_sample_contract(generator, x, num_samples=3)
    wrapped_resnet = LatentInputGenerator(ResnetGenerator(11, 3, ngf=4, n_blocks=1, stochastic="alternate"))
    check_sample_contract(wrapped_resnet, torch.randn(1, 3, 8, 8), num_samples=2)


def test_errors():
    with pytest.raises(ValueError, match=r"^The wrapped generator takes 8 input channels, which leaves none"):
        LatentInputGenerator(UnetGenerator(8, 3, num_downs=5, ngf=4), latent_dim=8)
    with pytest.raises(ValueError, match=r"^Linear has no input_nc attribute; "):
        LatentInputGenerator(torch.nn.Linear(3, 3))
    message = r"^LatentInputGenerator expects 3 input channels, got 11; "
    with pytest.raises(ValueError, match=message):
        wrapped()(torch.randn(1, 11, 32, 32))
    message = (
        r"^LatentInputGenerator needs height and width divisible by 32, got height 16; the nearest valid size is 32\.$"
    )
    with pytest.raises(ValueError, match=message):
        wrapped()(torch.randn(1, 3, 16, 32))


def test_latent_changes_unet_but_not_instance_norm_resnet(caplog):
    # The baselines' configs wrap a U-Net: its first conv is not normalized, so the latent reaches the output.
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    unet = LatentInputGenerator(UnetGenerator(11, 3, num_downs=5, ngf=4, norm="instance"), latent_dim=8).eval()
    resnet = LatentInputGenerator(ResnetGenerator(11, 3, ngf=4, n_blocks=1, norm="instance"), latent_dim=8).eval()
    with torch.no_grad():
        unet_samples = unet.sample(x, 2, seed=0)
        resnet_samples = resnet.sample(x, 2, seed=0)
    assert (unet_samples[:, 0] - unet_samples[:, 1]).abs().mean() > 1e-2
    assert (resnet_samples[:, 0] - resnet_samples[:, 1]).abs().max() < 1e-4
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [
        "The first conv of ResnetGenerator is followed by instance norm, which removes the constant latent "
        "channels, so every sample will be the same; wrap a network whose first conv is not normalized, such as "
        "UnetGenerator."
    ]
