import pytest
import torch

from bgan_lightning.networks import ResnetBlock, ResnetGenerator, stochastic_autoencoder
from bgan_lightning.nn import StochasticBasisConv2d, latent_control, stochastic_modules
from tests.networks.helpers import check_forward_backward, check_sample_contract, count_parameters


def tiny(**kwargs) -> ResnetGenerator:
    return ResnetGenerator(ngf=4, n_blocks=2, num_bases=3, latent_dim=8, hidden_dim=8, **kwargs)


def test_reference_parameter_counts():
    assert count_parameters(ResnetGenerator(3, 3, 64, 9, "instance")) == 11_378_179
    basis = count_parameters(ResnetGenerator(3, 3, 64, 9, "instance", stochastic="alternate"))
    assert basis == 10_272_826
    assert basis < 11_378_179
    assert count_parameters(ResnetGenerator(3, 3, 64, 6, "instance")) == 7_837_699


@pytest.mark.parametrize(("mode", "expected"), [("off", 0), ("alternate", 2), ("all", 4)])
def test_stochastic_modes(mode, expected):
    generator = tiny(stochastic=mode)
    layers = stochastic_modules(generator)
    assert len(layers) == expected
    if mode == "alternate":
        # The second conv of every residual block is the stochastic one.
        assert [name for name, _ in layers] == ["blocks.0.tail.1", "blocks.1.tail.1"]
        assert all(isinstance(m, StochasticBasisConv2d) for _, m in layers)


def test_resnet_block_is_named_for_conversion():
    generator = tiny()
    blocks = [m for m in generator.modules() if type(m).__name__ == "ResnetBlock"]
    assert len(blocks) == 2
    assert isinstance(blocks[0], ResnetBlock)
    convs = [m for m in blocks[0].modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
@pytest.mark.parametrize("mode", ["off", "alternate", "all"])
def test_forward_backward_range(norm, mode):
    torch.manual_seed(0)
    generator = tiny(norm=norm, stochastic=mode, use_dropout=True)
    check_forward_backward(generator, torch.randn(2, 3, 16, 16))


@pytest.mark.parametrize("padding_type", ["reflect", "replicate", "zero"])
def test_padding_types_keep_size(padding_type):
    generator = tiny(padding_type=padding_type, stochastic="alternate")
    assert generator(torch.randn(1, 3, 12, 20)).shape == (1, 3, 12, 20)


def test_stochastic_outputs_differ_and_seeded_outputs_repeat():
    torch.manual_seed(0)
    generator = tiny(stochastic="alternate").eval()
    x = torch.randn(1, 3, 16, 16).repeat(2, 1, 1, 1)
    out = generator(x)
    assert (out[0] - out[1]).abs().max() > 1e-4
    with latent_control(generator, seed=3):
        first = generator(x)
    with latent_control(generator, seed=3):
        second = generator(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["off", "alternate", "all"])
def test_sample_equals_seeded_forward_on_repeated_inputs(mode):
    torch.manual_seed(0)
    generator = tiny(stochastic=mode, norm="batch")
    samples = check_sample_contract(generator, torch.randn(2, 3, 16, 16), num_samples=3)
    if mode == "off":
        torch.testing.assert_close(samples[:, 0], samples[:, 2])
    else:
        assert (samples[:, 0] - samples[:, 1]).abs().max() > 1e-4


def test_sample_with_global_rng_and_bad_count():
    generator = tiny(stochastic="alternate")
    assert generator.sample(torch.randn(1, 3, 8, 8), 2).shape == (1, 2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"^num_samples must be at least 1, got 0\.$"):
        generator.sample(torch.randn(1, 3, 8, 8), 0)


def test_size_and_channel_errors():
    generator = tiny()
    message = (
        r"^ResnetGenerator needs height and width divisible by 4, got height 30; "
        r"the nearest valid sizes are 28 and 32\.$"
    )
    with pytest.raises(ValueError, match=message):
        generator(torch.randn(1, 3, 30, 32))
    message = r"^ResnetGenerator needs height and width divisible by 4, got width 2; the nearest valid size is 4\.$"
    with pytest.raises(ValueError, match=message):
        generator.sample(torch.randn(1, 3, 8, 2), 2)
    message = (
        r"^ResnetGenerator expects 3 input channels, got 4; "
        r"pass images with 3 channels or build the network with input_nc=4\.$"
    )
    with pytest.raises(ValueError, match=message):
        generator(torch.randn(1, 4, 8, 8))
    with pytest.raises(
        ValueError, match=r"^Invalid stochastic 'some'; expected one of \('off', 'alternate', 'all'\)\.$"
    ):
        tiny(stochastic="some")


def test_stochastic_autoencoder_maps_image_to_image():
    autoencoder = stochastic_autoencoder(nc=3, ngf=4, n_blocks=1, num_bases=3, latent_dim=8, hidden_dim=8)
    assert autoencoder.input_nc == autoencoder.output_nc == 3
    assert len(stochastic_modules(autoencoder)) == 1
    check_forward_backward(autoencoder, torch.randn(2, 3, 8, 8))


def test_filter_generator_baseline():
    torch.manual_seed(0)
    generator = tiny(stochastic="alternate", stochastic_layer="filter")
    layers = stochastic_modules(generator)
    assert [type(m).__name__ for _, m in layers] == ["FilterGeneratorConv2d", "FilterGeneratorConv2d"]
    # The filter generator's output layer holds hidden_dim * C * C * 9 weights (+ biases) per conv.
    assert count_parameters(layers[0][1]) == (8 * 8 + 8) + (8 + 1) * 16 * 16 * 9 + 16
    check_forward_backward(generator, torch.randn(2, 3, 8, 8))
    check_sample_contract(generator, torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"^Invalid stochastic_layer 'mlp'; expected one of \('basis', 'filter'\)\.$"):
        tiny(stochastic="alternate", stochastic_layer="mlp")
