"""Convolution with filters built from bases, which rebuilds the filters in the backward pass.

A stochastic basis layer builds a fresh filter bank ``w[r, p, q] = sum_k a[p, q, k] * psi[r, k]`` for every
sample ``r``. Handing that bank to ``F.conv2d`` would make autograd keep it until the backward pass: 2.3 MiB
per sample for a 256 -> 256 channel 3x3 layer, which is more than the parameters the bases save. Here the
backward pass rebuilds the bank from the bases ``psi`` and the coefficients ``a`` (a few million
multiply-adds, small next to the convolution), so only the input, the bases and the coefficients are kept.

The backward pass is written with differentiable operations, so gradients of gradients (``create_graph=True``,
as in gradient penalties through the generator) work as they do for ``F.conv2d``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ConvGeometry:
    """Stride, padding, dilation and direction of a convolution, as ``torch.ops.aten.convolution`` takes them.

    Attributes:
        stride: Stride (sh, sw).
        padding: Zero padding (ph, pw) applied by the convolution.
        dilation: Dilation (dh, dw).
        transposed: Whether the convolution is transposed (``F.conv_transpose2d``).
        output_padding: Extra rows and columns of a transposed convolution's output (oh, ow).
    """

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    transposed: bool = False
    output_padding: tuple[int, int] = (0, 0)

    def arguments(self) -> tuple:
        """Return (stride, padding, dilation, transposed, output_padding) in the order that aten takes them."""
        return self.stride, self.padding, self.dilation, self.transposed, self.output_padding


def basis_filters(coefficients: Tensor, psi: Tensor) -> Tensor:
    """Build filter banks ``w[r, p, q] = sum_k coefficients[p, q, k] * psi[r, k]`` by one batched matrix product.

    ``torch.bmm`` on the coefficients expanded over the rows writes the result in place, whereas
    ``torch.matmul`` of a matrix with a batch computes the transposed product and copies it.

    Args:
        coefficients: Coefficients (P, Q, K): (C_out, C_in, K) for a convolution, (C_in, C_out, K) for a
            transposed one, the layout of the layer's weight.
        psi: Bases (R, K, kh, kw), one set per sample or a single set (R = 1).

    Returns:
        Filters (R, P, Q, kh, kw) in the dtype of ``coefficients``.
    """
    rows, num_bases = psi.shape[:2]
    flat = coefficients.reshape(-1, num_bases).expand(rows, -1, -1)  # (R, P * Q, K), no copy
    bases = psi.to(coefficients.dtype).reshape(rows, num_bases, psi.shape[2] * psi.shape[3])  # (R, K, kh * kw)
    weight = torch.bmm(flat, bases)  # (R, P * Q, kh * kw)
    return weight.view(rows, *coefficients.shape[:2], *psi.shape[2:])


def _grouped_weight(coefficients: Tensor, psi: Tensor, dtype: torch.dtype) -> Tensor:
    """Filters as the weight of one grouped convolution: (R * P, Q, kh, kw) in ``dtype``."""
    weight = basis_filters(coefficients, psi)
    return weight.reshape(-1, *weight.shape[2:]).to(dtype)


def _grouped_convolution(x: Tensor, weight: Tensor, bias: Tensor | None, geometry: ConvGeometry, rows: int) -> Tensor:
    """Convolve folded input ``x`` (see :func:`_fold`) with ``rows`` filter banks stacked as (R * P, Q, kh, kw)."""
    if bias is not None:
        # The bias is repeated per filter bank so that the convolution adds it, saving a pass over the output.
        bias = bias.to(x.dtype)
        bias = bias.repeat(rows) if rows > 1 else bias
    return torch.ops.aten.convolution(x, weight, bias, *geometry.arguments(), rows)


def _convolve(x: Tensor, psi: Tensor, coefficients: Tensor, bias: Tensor | None, geometry: ConvGeometry) -> Tensor:
    """Run the convolution of folded input ``x`` (see :func:`_fold`) with the filters built from ``psi``."""
    weight = _grouped_weight(coefficients, psi, x.dtype)
    return _grouped_convolution(x, weight, bias, geometry, psi.shape[0])


class _BasisConvolution(torch.autograd.Function):
    """Autograd function of :func:`basis_convolution`, which saves only the input, the bases and the coefficients.

    It takes the input already folded by :func:`_fold` and returns the folded output, and the caller unfolds
    it. Autograd forbids in-place changes (such as ``nn.ReLU(inplace=True)``) of an output that is a view
    made inside a custom function.
    """

    @staticmethod
    def forward(
        ctx, x: Tensor, psi: Tensor, coefficients: Tensor, bias: Tensor | None, geometry: ConvGeometry
    ) -> Tensor:
        out = _convolve(x, psi, coefficients, bias, geometry)
        ctx.save_for_backward(x, psi, coefficients)
        ctx.geometry = geometry
        ctx.bias_dtype = None if bias is None else bias.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, psi, coefficients = ctx.saved_tensors
        geometry: ConvGeometry = ctx.geometry
        rows = psi.shape[0]
        need_input, need_psi, need_coefficients, need_bias, _ = ctx.needs_input_grad
        need_weight = need_psi or need_coefficients

        # The filters are rebuilt here instead of being kept from the forward pass.
        weight = _grouped_weight(coefficients, psi, x.dtype)  # (R * P, Q, kh, kw)
        bias_sizes = [grad_out.shape[1]] if ctx.bias_dtype is not None else None
        grad_input, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            grad_out, x, weight, bias_sizes, *geometry.arguments(), rows, [need_input, need_weight, need_bias]
        )

        grad_x = grad_input if need_input else None
        grad_psi = grad_coefficients = None
        if need_weight:
            num_bases = psi.shape[1]
            flat_coefficients = coefficients.reshape(-1, num_bases)  # (P * Q, K)
            grad_w = grad_weight.to(coefficients.dtype).reshape(rows, flat_coefficients.shape[0], -1)  # (R, P*Q, L)
            if need_psi:
                grad_psi = torch.matmul(flat_coefficients.t(), grad_w).view_as(psi).to(psi.dtype)
            if need_coefficients:
                flat_psi = psi.to(coefficients.dtype).reshape(rows, num_bases, -1)  # (R, K, L)
                grad_coefficients = torch.einsum("rnl,rkl->nk", grad_w, flat_psi).view_as(coefficients)
        if need_bias:
            grad_bias = grad_bias.view(rows, -1).sum(0).to(ctx.bias_dtype)
        return grad_x, grad_psi, grad_coefficients, grad_bias, None


def _fold(x: Tensor, rows: int) -> Tensor:
    """Fold the batch into the channels when every sample has its own filters: (B, C, H, W) -> (1, B * C, H, W)."""
    if rows == 1:
        return x
    return x.reshape(1, -1, *x.shape[2:])


def _unfold(out: Tensor, batch_size: int, rows: int) -> Tensor:
    """Undo :func:`_fold` on an output: (1, B * C, H, W) or (B, C, H, W) -> (B, C, H, W)."""
    return out.view(batch_size, out.shape[1] // rows, *out.shape[2:])


def _run_under_autocast(run: Callable[..., Tensor], folded: Tensor, *args: object) -> Tensor:
    """Call ``run(folded, *args)``, casting ``folded`` to the autocast dtype and turning autocast off if it is on.

    This is what autocast does for ``F.conv2d``. ``run`` casts the filters to the input's dtype.
    """
    device_type = folded.device.type
    if not torch.is_autocast_enabled(device_type):
        return run(folded, *args)
    folded = folded.to(torch.get_autocast_dtype(device_type))
    with torch.autocast(device_type, enabled=False):
        return run(folded, *args)


def basis_convolution(
    x: Tensor, psi: Tensor, coefficients: Tensor, bias: Tensor | None, geometry: ConvGeometry
) -> Tensor:
    """Convolve every sample with filters built from its bases, keeping no filter bank for the backward pass.

    Equal to ``F.conv2d`` (or ``F.conv_transpose2d`` when ``geometry.transposed``) of sample ``b`` with
    ``basis_filters(coefficients, psi)[b]``, or with ``[0]`` for every sample when ``psi`` has one row.
    Under autocast the input and the filters are cast to the autocast dtype, as autocast does for
    ``F.conv2d``. The filters are built in the coefficients' dtype before that cast.

    Args:
        x: Input (B, C_in, H, W).
        psi: Bases (B, K, kh, kw), or (1, K, kh, kw) shared by the batch.
        coefficients: Coefficients (C_out, C_in, K), or (C_in, C_out, K) for a transposed convolution.
        bias: Bias (C_out,) or None.
        geometry: Stride, padding, dilation and direction of the convolution.

    Returns:
        Output (B, C_out, H_out, W_out), in the autocast dtype under autocast, else in the dtype of ``x``.
    """
    if psi.shape[0] == 0:
        # An empty batch has no bases; one set of zeros gives the empty output its shape.
        psi = psi.new_zeros(1, *psi.shape[1:])

    # Without gradients (evaluation, sampling) nothing is kept, so the autograd function is not needed.
    needs_grad = torch.is_grad_enabled() and any(
        tensor is not None and tensor.requires_grad for tensor in (x, psi, coefficients, bias)
    )
    run = _BasisConvolution.apply if needs_grad else _convolve
    out = _run_under_autocast(run, _fold(x, psi.shape[0]), psi, coefficients, bias, geometry)
    return _unfold(out, x.shape[0], psi.shape[0])


def per_sample_convolution(x: Tensor, weight: Tensor, bias: Tensor | None, geometry: ConvGeometry) -> Tensor:
    """Convolve every sample with its own, already built filters by one grouped convolution.

    Unlike :func:`basis_convolution`, the filters are an ordinary tensor, so autograd keeps them for the
    backward pass. Autocast and an empty batch are handled as there.

    Args:
        x: Input (B, C_in, H, W).
        weight: Filters (B, P, Q, kh, kw), or (1, P, Q, kh, kw) for the whole batch, in the layout of
            ``basis_filters``.
        bias: Bias (C_out,) or None.
        geometry: Stride, padding, dilation and direction of the convolution.

    Returns:
        Output (B, C_out, H_out, W_out), in the autocast dtype under autocast, else in the dtype of ``x``.
    """
    if weight.shape[0] == 0:
        # An empty batch has no filters; a zero filter bank gives the empty output its shape.
        weight = weight.new_zeros(1, *weight.shape[1:])
    rows = weight.shape[0]

    def run(folded: Tensor) -> Tensor:
        grouped = weight.reshape(-1, *weight.shape[2:]).to(folded.dtype)  # (R * P, Q, kh, kw)
        return _grouped_convolution(folded, grouped, bias, geometry, rows)

    return _unfold(_run_under_autocast(run, _fold(x, rows)), x.shape[0], rows)
