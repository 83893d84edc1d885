import pytest
import torch

from bgan_lightning.networks import UnetGenerator
from bgan_lightning.nn import StochasticBasisConvTranspose2d, latent_control, stochastic_modules
from tests.networks.helpers import check_forward_backward, check_sample_contract, count_parameters


def tiny(**kwargs) -> UnetGenerator:
    kwargs.setdefault("num_downs", 5)
    return UnetGenerator(ngf=4, num_bases=3, latent_dim=8, hidden_dim=8, **kwargs)


def test_parameter_counts_of_unet_128_and_256():
    # The reference pix2pix code reports 54.414 M parameters for unet_256 (batch norm, 3 -> 3).
    assert count_parameters(UnetGenerator(3, 3, num_downs=8)) == 54_413_955
    assert count_parameters(UnetGenerator(3, 3, num_downs=7)) == 41_828_995


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_forward_backward_range(norm):
    torch.manual_seed(0)
    check_forward_backward(tiny(norm=norm, use_dropout=True, num_downs=6), torch.randn(2, 3, 64, 64))


def test_unet_1x1_bottleneck_batch_one():
    # 2**num_downs pixels give a 1x1 bottleneck, which has no norm layer, so training mode does not fail.
    generator = tiny(norm="batch").train()
    check_forward_backward(generator, torch.randn(1, 3, 32, 32))


def test_stochastic_levels_use_stochastic_transposed_convs():
    generator = tiny(stochastic_levels=[0, 3])
    names = [name for name, _ in stochastic_modules(generator)]
    assert names == ["up.0.1", "up.3.1"]
    assert all(isinstance(m, StochasticBasisConvTranspose2d) for _, m in stochastic_modules(generator))
    with pytest.raises(ValueError, match=r"^stochastic_levels \[5\] are outside \[0, 5\); levels count from 0"):
        tiny(stochastic_levels=[5])


@pytest.mark.parametrize("levels", [(), (0,), (2, 4)])
def test_sample_equals_seeded_forward_on_repeated_inputs(levels):
    torch.manual_seed(0)
    samples = check_sample_contract(tiny(stochastic_levels=levels), torch.randn(2, 3, 32, 32), num_samples=3)
    if levels:
        assert (samples[:, 0] - samples[:, 1]).abs().max() > 1e-4


def test_size_and_channel_errors():
    generator = tiny(num_downs=5)
    message = (
        r"^UnetGenerator needs height and width divisible by 32, got height 48; "
        r"the nearest valid sizes are 32 and 64\.$"
    )
    with pytest.raises(ValueError, match=message):
        generator(torch.randn(1, 3, 48, 64))
    with pytest.raises(ValueError, match=r"^UnetGenerator expects 3 input channels, got 1; "):
        generator(torch.randn(1, 1, 32, 32))


def test_code_at_every_level_parameter_count():
    # Each of the 8 encoder convs (4x4, widths 64, 128, 256 and five times 512) gains 8 input channels.
    plain = count_parameters(UnetGenerator(3, 3, num_downs=8, norm="instance"))
    extra = 8 * 16 * (64 + 128 + 256 + 5 * 512)
    assert count_parameters(UnetGenerator(3, 3, num_downs=8, norm="instance", noise_dim=8)) == plain + extra
    assert plain + extra == 54_794_627


@pytest.mark.parametrize("levels", [(), (1,)])
def test_code_at_every_level_samples(levels):
    torch.manual_seed(0)
    generator = tiny(norm="instance", noise_dim=6, stochastic_levels=levels)
    assert "code" in [name for name, _ in stochastic_modules(generator)]
    check_forward_backward(generator, torch.randn(2, 3, 32, 32))
    samples = check_sample_contract(generator, torch.randn(2, 3, 32, 32), num_samples=3)
    assert (samples[:, 0] - samples[:, 1]).abs().mean() > 1e-3


def test_code_reaches_every_level():
    torch.manual_seed(0)
    generator = tiny(norm="instance", noise_dim=6).eval()
    seen = []
    for down in generator.down:
        down[-1 if len(down) == 1 else 1].register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[1]))
    with latent_control(generator, seed=0), torch.no_grad():
        generator(torch.randn(1, 3, 32, 32))
    assert seen == [3 + 6, 4 + 6, 8 + 6, 16 + 6, 32 + 6]


def test_negative_noise_dim():
    with pytest.raises(ValueError, match=r"^noise_dim must be >= 0 \(0 for no latent code\), got -2\.$"):
        tiny(noise_dim=-2)
