"""StochasticBasisConvTranspose2d: shapes like nn.ConvTranspose2d, sampling behaviour and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bgan_lightning.nn import StochasticBasisConvTranspose2d, latent_control
from tests.nn.helpers import assert_per_sample_match, output_std_ratio, tiny_layer

# (kernel_size, stride, padding, output_padding, dilation, height, width)
SHAPE_CASES = [
    (3, 2, 1, 1, 1, 8, 7),
    (4, 2, 1, 0, 1, 5, 5),
    (3, 1, 0, 0, 2, 6, 9),
    (5, 3, 2, 2, 1, 4, 5),
    ((3, 5), (2, 1), (1, 2), (1, 0), (1, 2), 5, 7),
    (1, 1, 0, 0, 1, 3, 4),
]


def make_layer(**kwargs) -> StochasticBasisConvTranspose2d:
    return tiny_layer(StochasticBasisConvTranspose2d, **kwargs)


@pytest.mark.parametrize("kernel_size, stride, padding, output_padding, dilation, height, width", SHAPE_CASES)
def test_output_shape_matches_conv_transpose(kernel_size, stride, padding, output_padding, dilation, height, width):
    torch.manual_seed(0)
    options = {
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "dilation": dilation,
    }
    reference = nn.ConvTranspose2d(3, 5, **options)
    layer = make_layer(**options)
    x = torch.randn(2, 3, height, width)

    assert layer(x).shape == reference(x).shape


def test_output_size_argument_matches_conv_transpose():
    torch.manual_seed(0)
    reference = nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1)
    layer = make_layer(kernel_size=3, stride=2, padding=1)
    x = torch.randn(1, 3, 5, 5)

    assert layer(x, output_size=(10, 10)).shape == reference(x, output_size=(10, 10)).shape
    with pytest.raises(ValueError, match=r"output_size=\(12, 12\) cannot be reached .* sizes from 9 to 10"):
        layer(x, output_size=(12, 12))


def test_matches_conv_transpose_with_sampled_filters():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, stride=2, padding=1, output_padding=1)
    x = torch.randn(3, 3, 4, 5)
    z = torch.randn(3, 8)

    out = layer(x, z)

    assert_per_sample_match(
        out,
        x,
        layer.sample_filters(z),
        lambda sample, filters: F.conv_transpose2d(sample, filters, layer.bias, 2, 1, 1),
    )


def test_latents_control_outputs():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=4, stride=2, padding=1)
    x = torch.randn(1, 3, 4, 4).expand(3, -1, -1, -1)

    different = layer(x)
    with latent_control(layer, seed=3):
        first = layer(x)
    with latent_control(layer, seed=3):
        second = layer(x)
    same = layer(x, torch.randn(8))

    assert (different[0] - different[1]).abs().max() > 1e-3
    assert torch.equal(first, second)
    assert torch.equal(same[0], same[2])


def test_gradients_reach_coefficients_and_basis_generator():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, stride=2, padding=1, output_padding=1)

    layer(torch.randn(2, 3, 4, 4)).square().mean().backward()

    assert layer.coefficients.grad.abs().sum() > 0
    for name, parameter in layer.basis_generator.named_parameters():
        assert parameter.grad.abs().sum() > 0, name


def test_output_scale_close_to_conv_transpose():
    torch.manual_seed(0)
    reference = nn.ConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1)
    layer = StochasticBasisConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1)
    x = torch.randn(4, 32, 8, 8)

    ratio = output_std_ratio(layer, reference, x)

    assert 0.7 < ratio < 1.4


def test_invalid_settings_rejected():
    with pytest.raises(ValueError, match=r"supports groups=1 only, got groups=3; keep this layer a plain"):
        StochasticBasisConvTranspose2d(3, 3, 3, groups=3)
    with pytest.raises(ValueError, match=r"padding_mode='zeros' only, got 'reflect'"):
        StochasticBasisConvTranspose2d(3, 3, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"output_padding=\(2, 2\) must be smaller than the stride \(2, 2\)"):
        StochasticBasisConvTranspose2d(3, 3, 3, stride=2, output_padding=2)
