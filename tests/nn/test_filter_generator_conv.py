"""FilterGeneratorConv2d: shapes like nn.Conv2d, sampling behaviour, latent control and parameter count."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bgan_lightning.nn import FilterGeneratorConv2d, StochasticBasisConv2d, last_latents, latent_control
from tests.nn.helpers import assert_per_sample_match, output_std_ratio, tiny_layer

# (kernel_size, stride, padding, dilation, padding_mode, height, width)
SHAPE_CASES = [
    (3, 1, 1, 1, "zeros", 8, 8),
    (3, 2, 1, 1, "reflect", 9, 7),
    (5, 1, 2, 2, "replicate", 11, 11),
    ((3, 5), (2, 1), (1, 2), (1, 2), "circular", 10, 13),
]


def make_layer(**kwargs) -> FilterGeneratorConv2d:
    return tiny_layer(FilterGeneratorConv2d, **kwargs)


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, padding_mode, height, width", SHAPE_CASES)
def test_output_shape_matches_conv2d(kernel_size, stride, padding, dilation, padding_mode, height, width):
    torch.manual_seed(0)
    options = {
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "padding_mode": padding_mode,
    }
    x = torch.randn(2, 3, height, width)

    assert make_layer(**options)(x).shape == nn.Conv2d(3, 5, **options)(x).shape


def test_matches_conv2d_with_generated_filters():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, padding=1)
    x = torch.randn(3, 3, 6, 5)
    z = torch.randn(3, 8)

    out = layer(x, z)

    assert_per_sample_match(
        out, x, layer.sample_filters(z), lambda sample, filters: F.conv2d(sample, filters, layer.bias, padding=1)
    )


def test_latents_control_outputs():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, padding=1)
    x = torch.randn(1, 3, 6, 6).expand(3, -1, -1, -1)
    state = torch.random.get_rng_state()

    with latent_control(layer, seed=5):
        first = layer(x)
    with latent_control(layer, seed=5):
        second = layer(x)
    with latent_control(layer, seed=5, policy="per_batch"):
        per_batch = layer(x)
    recorded = last_latents(layer)[""]

    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(first, second)
    assert (first[0] - first[1]).abs().max() > 1e-3
    assert torch.equal(per_batch[0], per_batch[2])
    assert recorded.shape == (3, 8)
    assert torch.equal(layer(x, torch.ones(8))[0], layer(x, torch.ones(8))[1])


def test_gradients_reach_filter_generator():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, padding=1)

    layer(torch.randn(2, 3, 5, 5)).square().mean().backward()

    for name, parameter in layer.named_parameters():
        assert parameter.grad.abs().sum() > 0, name


def test_parameter_count_far_above_basis_layer():
    generator_layer = FilterGeneratorConv2d(16, 16, 3)
    basis_layer = StochasticBasisConv2d(16, 16, 3)

    generator_count = sum(p.numel() for p in generator_layer.parameters())
    basis_count = sum(p.numel() for p in basis_layer.parameters())

    # Hidden layer 64 * 64 + 64, output layer 64 * 2304 + 2304, bias 16.
    assert generator_count == 64 * 64 + 64 + 64 * 2304 + 2304 + 16
    # Hidden layer 64 * 64 + 64, output layer 64 * 63 + 63, coefficients 16 * 16 * 7, bias 16.
    assert basis_count == 64 * 64 + 64 + 64 * 63 + 63 + 16 * 16 * 7 + 16
    assert generator_count > 15 * basis_count


def test_output_scale_close_to_conv2d():
    torch.manual_seed(0)
    x = torch.randn(4, 32, 12, 12)

    ratio = output_std_ratio(FilterGeneratorConv2d(32, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1), x)

    assert 0.7 < ratio < 1.4


def test_groups_above_one_rejected():
    with pytest.raises(ValueError, match=r"FilterGeneratorConv2d supports groups=1 only, got groups=4"):
        FilterGeneratorConv2d(4, 4, 3, groups=4)


def test_empty_batch_shape():
    layer = FilterGeneratorConv2d(4, 5, 3, padding=1, latent_dim=8, hidden_dim=8)
    assert layer(torch.zeros(0, 4, 8, 8)).shape == (0, 5, 8, 8)


def test_autocast_bfloat16_output():
    torch.manual_seed(0)
    layer = FilterGeneratorConv2d(4, 5, 3, padding=1, latent_dim=8, hidden_dim=8)
    x = torch.randn(2, 4, 6, 6)
    z = torch.randn(2, 8)
    expected = layer(x, z)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x, z)

    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=0.05, rtol=0.05)
