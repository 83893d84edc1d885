"""basis_convolution: the same values and gradients as a convolution with built filters, without keeping them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bgan_lightning.nn import StochasticBasisConv2d, StochasticBasisConvTranspose2d
from bgan_lightning.nn.basis_convolution import ConvGeometry, basis_convolution, basis_filters

CONV = ConvGeometry(stride=(2, 1), padding=(1, 0), dilation=(1, 2))
TRANSPOSED = ConvGeometry(stride=(2, 2), padding=(1, 0), dilation=(1, 1), transposed=True, output_padding=(1, 0))


def inputs(geometry: ConvGeometry, rows: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    """Input (3, 4, 6, 7), bases (rows, 2, 3, 3), coefficients in the weight layout and bias (5,)."""
    generator = torch.Generator().manual_seed(0)
    shape = (4, 5, 2) if geometry.transposed else (5, 4, 2)
    tensors = (
        torch.randn(3, 4, 6, 7, generator=generator, dtype=dtype),
        torch.randn(rows, 2, 3, 3, generator=generator, dtype=dtype),
        torch.randn(*shape, generator=generator, dtype=dtype),
        torch.randn(5, generator=generator, dtype=dtype),
    )
    return tuple(tensor.requires_grad_() for tensor in tensors)


def reference(x, psi, coefficients, bias, geometry: ConvGeometry) -> torch.Tensor:
    """One plain convolution per sample with filters built by autograd-tracked operations."""
    filters = basis_filters(coefficients, psi)
    outputs = []
    for index in range(x.shape[0]):
        weight = filters[index if psi.shape[0] > 1 else 0]
        sample = x[index : index + 1]
        if geometry.transposed:
            out = F.conv_transpose2d(
                sample, weight, bias, geometry.stride, geometry.padding, geometry.output_padding, 1, geometry.dilation
            )
        else:
            out = F.conv2d(sample, weight, bias, geometry.stride, geometry.padding, geometry.dilation)
        outputs.append(out)
    return torch.cat(outputs)


@pytest.mark.parametrize("geometry", [CONV, TRANSPOSED], ids=["conv", "transposed"])
@pytest.mark.parametrize("rows", [3, 1], ids=["per-sample", "shared"])
def test_matches_conv_with_built_filters(geometry, rows):
    tensors = inputs(geometry, rows)
    out = basis_convolution(*tensors, geometry)
    expected = reference(*tensors, geometry)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)

    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, tensors, grad_out)
    expected_grads = torch.autograd.grad(expected, tensors, grad_out)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("geometry", [CONV, TRANSPOSED], ids=["conv", "transposed"])
def test_double_backward(geometry):
    tensors = inputs(geometry, rows=3)
    assert torch.autograd.gradcheck(lambda *args: basis_convolution(*args, geometry), tensors)
    assert torch.autograd.gradgradcheck(lambda *args: basis_convolution(*args, geometry), tensors)


def test_no_bias_frozen_input():
    x, psi, coefficients, _ = inputs(CONV, rows=3)
    x = x.detach()
    out = basis_convolution(x, psi, coefficients, None, CONV)
    out.sum().backward()

    torch.testing.assert_close(out, reference(x, psi, coefficients, None, CONV))
    assert x.grad is None
    assert psi.grad is not None
    assert coefficients.grad is not None


def test_filter_bank_not_saved():
    torch.manual_seed(0)
    layer = StochasticBasisConv2d(16, 16, 3, padding=1, num_bases=4, latent_dim=8, hidden_dim=8, compute="grouped")
    x = torch.randn(2, 16, 5, 5, requires_grad=True)
    bank_numel = 16 * 16 * 3 * 3
    saved_shapes = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved_shapes.append(tuple(tensor.shape))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = layer(x)
    out.sum().backward()

    assert saved_shapes, "the forward pass saved nothing"
    assert all(torch.Size(shape).numel() < bank_numel for shape in saved_shapes), saved_shapes


def test_autocast_bfloat16_output():
    torch.manual_seed(0)
    layer = StochasticBasisConv2d(4, 5, 3, padding=1, num_bases=2, latent_dim=8, hidden_dim=8, compute="grouped")
    x = torch.randn(2, 4, 6, 6)
    z = torch.randn(2, 8)
    expected = layer(x, z)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x, z)
    out.float().sum().backward()

    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=0.05, rtol=0.05)
    assert layer.coefficients.grad.dtype == torch.float32
    assert layer.bias.grad.dtype == torch.float32


def test_empty_batch_shapes():
    torch.manual_seed(0)
    x = torch.randn(0, 4, 6, 6)
    conv = StochasticBasisConv2d(4, 5, 3, stride=2, num_bases=2, latent_dim=8, hidden_dim=8)
    transposed = StochasticBasisConvTranspose2d(4, 5, 3, stride=2, num_bases=2, latent_dim=8, hidden_dim=8)
    assert conv(x).shape == torch.nn.Conv2d(4, 5, 3, stride=2)(x).shape
    assert transposed(x).shape == torch.nn.ConvTranspose2d(4, 5, 3, stride=2)(x).shape
