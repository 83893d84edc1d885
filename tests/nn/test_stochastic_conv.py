"""StochasticBasisConv2d: shapes like nn.Conv2d, sampling behaviour and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bgan_lightning.nn import StochasticBasisConv2d
from tests.nn.helpers import assert_per_sample_match, output_std_ratio, tiny_layer

# (kernel_size, stride, padding, dilation, height, width)
SHAPE_CASES = [
    (3, 1, 1, 1, 8, 8),
    (3, 2, 1, 1, 9, 7),
    (1, 1, 0, 1, 5, 6),
    (5, 1, 2, 1, 7, 11),
    (3, 1, 2, 2, 9, 9),
    ((3, 5), (2, 1), (1, 2), (1, 2), 10, 13),
    (4, 2, 1, 1, 9, 9),
    (7, 1, 3, 1, 7, 7),
]


def make_layer(**kwargs) -> StochasticBasisConv2d:
    return tiny_layer(StochasticBasisConv2d, **kwargs)


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, height, width", SHAPE_CASES)
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_output_shape_matches_conv2d(kernel_size, stride, padding, dilation, height, width, padding_mode):
    torch.manual_seed(0)
    options = {
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "padding_mode": padding_mode,
    }
    reference = nn.Conv2d(3, 5, **options)
    layer = make_layer(**options)
    x = torch.randn(2, 3, height, width)

    assert layer(x).shape == reference(x).shape


def test_matches_conv2d_with_sampled_filters():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, stride=2, padding=1, padding_mode="reflect")
    x = torch.randn(3, 3, 7, 8)
    z = torch.randn(3, 8)

    out = layer(x, z)

    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    assert_per_sample_match(
        out, padded, layer.sample_filters(z), lambda sample, filters: F.conv2d(sample, filters, layer.bias, stride=2)
    )


def test_equal_latents_give_equal_outputs():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, padding=1)
    x = torch.randn(1, 3, 6, 6).expand(2, -1, -1, -1)
    z = torch.randn(8)

    out = layer(x, z)

    assert torch.equal(out[0], out[1])
    assert torch.equal(layer(x, z), out)


def test_different_latents_give_different_outputs():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, padding=1)
    x = torch.randn(1, 3, 6, 6).expand(4, -1, -1, -1)

    out = layer(x)

    for i in range(4):
        for j in range(i + 1, 4):
            assert (out[i] - out[j]).abs().max() > 1e-3
    assert (layer(x[:1]) - layer(x[:1])).abs().max() > 1e-3


def test_gradients_reach_coefficients_and_basis_generator():
    torch.manual_seed(0)
    layer = make_layer(kernel_size=3, padding=1)
    x = torch.randn(2, 3, 5, 5)

    layer(x).square().mean().backward()

    assert layer.coefficients.grad is not None
    assert layer.coefficients.grad.abs().sum() > 0
    assert layer.bias.grad.abs().sum() > 0
    for name, parameter in layer.basis_generator.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_output_scale_close_to_conv2d():
    torch.manual_seed(0)
    reference = nn.Conv2d(32, 32, 3, padding=1)
    layer = StochasticBasisConv2d(32, 32, 3, padding=1)
    x = torch.randn(4, 32, 12, 12)

    ratio = output_std_ratio(layer, reference, x)

    assert 0.7 < ratio < 1.4


def test_groups_above_one_rejected():
    with pytest.raises(ValueError, match=r"supports groups=1 only, got groups=2; keep this layer a plain nn.Conv2d"):
        StochasticBasisConv2d(4, 4, 3, groups=2)
