"""Stochastic basis convolution: filters rebuilt from generated bases on every forward pass."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from bgan_lightning.nn.basis_convolution import ConvGeometry, basis_convolution, basis_filters
from bgan_lightning.nn.basis_generator import BasisGenerator, build_basis_generator, check_bases
from bgan_lightning.nn.compute_path import autocast_state, check_compute, choose_path
from bgan_lightning.nn.latent import StochasticModule

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def pad_input(x: Tensor, padding: tuple[int, int], padding_mode: str) -> tuple[Tensor, tuple[int, int]]:
    """Pad ``x`` explicitly for non-zero padding modes and return it with the padding left to the convolution."""
    if padding_mode == "zeros":
        return x, padding
    pad_h, pad_w = padding
    return F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode=padding_mode), (0, 0)


def check_conv_arguments(owner: str, plain: str, groups: int, padding: object, padding_mode: str) -> None:
    """Reject ``nn.Conv2d`` arguments that a stochastic convolution does not support.

    Args:
        owner: Class name of the layer, for error messages.
        plain: The plain layer to keep instead, for error messages (``"nn.Conv2d"``).
        groups: Must be 1.
        padding: An int or a pair; strings (``"same"``, ``"valid"``) are rejected.
        padding_mode: One of ``PADDING_MODES``.

    Raises:
        ValueError: If any argument is unsupported.
    """
    check_groups(owner, plain, groups)
    if isinstance(padding, str):
        raise ValueError(f"padding={padding!r} is not supported; pass an int or a pair of ints.")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"Invalid padding_mode {padding_mode!r}; expected one of {PADDING_MODES}.")


def check_groups(owner: str, plain: str, groups: int) -> None:
    """Raise a ValueError unless ``groups`` is 1, naming the plain layer ``plain`` to keep instead."""
    if groups != 1:
        raise ValueError(f"{owner} supports groups=1 only, got groups={groups}; keep this layer a plain {plain}.")


def check_conv_input(owner: str, x: Tensor, in_channels: int) -> None:
    """Raise a ValueError unless ``x`` has shape (B, in_channels, H, W)."""
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{owner} expects input of shape (B, {in_channels}, H, W), got {tuple(x.shape)}.")


def init_bias(bias: Tensor | None, fan_in: int) -> None:
    """Draw ``bias`` in place from U(-b, b), b = 1 / sqrt(fan_in), as ``nn.Conv2d`` does; None is left alone."""
    if bias is not None:
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            bias.uniform_(-bound, bound)


def init_coefficients(
    coefficients: Tensor, basis_generator: BasisGenerator, latent_dim: int, num_bases: int, fan_in: int
) -> None:
    """Draw basis coefficients in place so that the sampled filters spread like a plain layer's weights.

    Plain convolutions draw weights from U(-b, b) with b = 1 / sqrt(fan_in), a standard deviation of
    1 / sqrt(3 * fan_in). A filter entry is a sum of K terms a * psi, so its variance is K * var(a) * E[psi^2].
    The coefficients are drawn uniformly with the standard deviation that reaches that target, given the root
    mean square of the bases measured on 256 latents.

    Args:
        coefficients: Coefficients of any shape whose last dimension is K, filled in place.
        basis_generator: The layer's basis generator.
        latent_dim: Size of the latent ``z``.
        num_bases: Number K of basis elements.
        fan_in: Fan-in of the plain layer being imitated.
    """
    target_std = 1.0 / math.sqrt(3.0 * fan_in)
    with torch.no_grad():
        psi = basis_generator(torch.randn(256, latent_dim))  # (256, K, kh, kw)
        psi_rms = psi.pow(2).mean().sqrt().clamp_min(1e-8)
        bound = (target_std / (psi_rms * math.sqrt(num_bases)) * math.sqrt(3.0)).item()
        coefficients.uniform_(-bound, bound)


class StochasticBasisConv2d(StochasticModule):
    """A drop-in for ``nn.Conv2d`` whose filters are sampled on every forward pass.

    Symbols of Wang, Cheng, Sapiro and Qiu (ICLR 2020), section 4, and their names here:
    ``psi`` (K, L, L) are spatial basis elements produced by ``basis_generator`` from ``z`` ~ N(0, I);
    ``a`` (C_out, C_in, K) is ``coefficients``, learned and deterministic; the filters are
    ``w[o, i] = sum_k a[o, i, k] * psi[k]``.

    By default every sample of a batch draws its own ``z``, so a batch of identical inputs gives different
    outputs. Use :func:`bgan_lightning.nn.latent_control` for seeded, per-batch or shared latents.

    Args:
        in_channels: Input channels C_in.
        out_channels: Output channels C_out.
        kernel_size: Filter size, an int or (kh, kw).
        stride: As in ``nn.Conv2d``.
        padding: As in ``nn.Conv2d`` (an int or a pair; ``"same"`` and ``"valid"`` are not supported).
        dilation: As in ``nn.Conv2d``.
        groups: Only 1 is supported.
        bias: Whether to add a learned bias.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        num_bases: Number K of basis elements.
        latent_dim: Size of the latent ``z``.
        hidden_dim: Width of the basis generator's hidden layer.
        mean_basis: Whether the basis generator learns a mean basis that the sampled bases vary around.
        basis_generator: A :class:`BasisGenerator` to use instead of a new one (several layers may share one);
            it must have this layer's kernel_size, num_bases and latent_dim.
        compute: ``"grouped"`` builds the filters (B, C_out, C_in, kh, kw) and runs one grouped convolution;
            ``"decomposed"`` convolves each input channel with the K bases (depthwise) and mixes the C_in * K
            maps with a 1x1 convolution by the coefficients (C_out, C_in * K). Both are exact. ``"auto"``
            (default) times both forward passes once per input shape, device and dtype and keeps the faster
            one for the process (see :mod:`bgan_lightning.nn.compute_path`). The path taken last is in
            ``last_compute``. NOTE: only the forward pass is timed, so in training the backward pass may
            favour the other path.

    Shape:
        - Input: (B, C_in, H, W); optional ``z`` of shape (B, latent_dim) or (latent_dim,).
        - Output: (B, C_out, H_out, W_out), the same size as ``nn.Conv2d`` gives.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        mean_basis: bool = False,
        basis_generator: BasisGenerator | None = None,
        compute: str = "auto",
    ) -> None:
        super().__init__(latent_dim)
        check_conv_arguments("StochasticBasisConv2d", "nn.Conv2d", groups, padding, padding_mode)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        self.num_bases = num_bases
        self.compute = check_compute(compute)
        self.last_compute: str | None = None

        self.basis_generator = build_basis_generator(
            type(self).__name__, basis_generator, num_bases, self.kernel_size, latent_dim, hidden_dim, mean_basis
        )
        self.coefficients = nn.Parameter(torch.empty(out_channels, in_channels, num_bases))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise so that the sampled filters have the spread of a fresh ``nn.Conv2d``'s filters.

        ``nn.Conv2d`` draws weights from U(-b, b) with b = 1 / sqrt(fan_in), a standard deviation of
        1 / sqrt(3 * fan_in). Here the coefficients start from that scale and are rescaled by the measured
        root mean square of the generated bases, so the filter spread matches for any basis generator size.
        """
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        init_coefficients(self.coefficients, self.basis_generator, self.latent_dim, self.num_bases, fan_in)
        init_bias(self.bias, fan_in)

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, num_bases={self.num_bases}, "
            f"latent_dim={self.latent_dim}"
        )
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        if self.bias is None:
            text += ", bias=False"
        if self.compute != "auto":
            text += f", compute={self.compute!r}"
        return text

    def sample_filters(self, z: Tensor) -> Tensor:
        """Build filters (B, C_out, C_in, kh, kw) from latents z (B, latent_dim)."""
        psi = check_bases(type(self).__name__, self.basis_generator(z), self.num_bases, self.kernel_size)
        return basis_filters(self.coefficients, psi)

    def _grouped(self, x: Tensor, psi: Tensor, padding: tuple[int, int]) -> Tensor:
        """Convolve the padded input x (B, C_in, H, W) with filters built from ``psi`` (B or 1, K, kh, kw).

        The filters of all samples go to one grouped convolution; the backward pass rebuilds them rather than
        keeping them (see :mod:`bgan_lightning.nn.basis_convolution`).
        """
        geometry = ConvGeometry(self.stride, padding, self.dilation)
        return basis_convolution(x, psi, self.coefficients, self.bias, geometry)

    def _decomposed(self, x: Tensor, psi: Tensor, padding: tuple[int, int]) -> Tensor:
        """Convolve every input channel with every basis, then mix the C_in * K maps with a 1x1 convolution.

        Exact because sum_i w[o, i] * x_i = sum_i sum_k a[o, i, k] * (psi[k] * x_i), with * a convolution.

        Args:
            x: Padded input (B, C_in, H, W).
            psi: Bases (B, K, kh, kw), or (1, K, kh, kw) shared by the batch.
            padding: Padding left to the convolution.

        Returns:
            Output (B, C_out, H_out, W_out) without bias.
        """
        batch_size, rows = x.shape[0], psi.shape[0]
        psi = psi.to(x.dtype)
        channels = self.in_channels * self.num_bases

        # Depthwise step: filter (b * C_in + i) * K + k is psi[b, k]. With per-sample bases the batch folds into
        # the channels, so there is one group per (sample, input channel).
        depthwise = psi.unsqueeze(1).expand(rows, self.in_channels, *psi.shape[1:])
        depthwise = depthwise.reshape(rows * channels, 1, *self.kernel_size)
        if rows == 1:
            maps = F.conv2d(x, depthwise, None, self.stride, padding, self.dilation, groups=self.in_channels)
        else:
            grouped = x.reshape(1, batch_size * self.in_channels, *x.shape[2:])
            maps = F.conv2d(grouped, depthwise, None, self.stride, padding, self.dilation, groups=grouped.shape[1])
            maps = maps.view(batch_size, channels, *maps.shape[2:])

        # Pointwise step: coefficients (C_out, C_in, K) flatten to (C_out, C_in * K) in the same i * K + k order.
        pointwise = self.coefficients.reshape(self.out_channels, channels, 1, 1).to(x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv2d(maps, pointwise, bias)

    def _path_key(self, x: Tensor, rows: int) -> tuple:
        return (
            type(self).__name__,
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.dilation,
            self.num_bases,
            tuple(x.shape),
            rows,
            str(x.device),
            x.dtype,
            autocast_state(x.device),
        )

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Apply freshly sampled filters.

        Args:
            x: Input (B, C_in, H, W).
            z: Explicit latents (B, latent_dim) or (latent_dim,), or None to draw them (see ``latent_control``).

        Returns:
            Output (B, C_out, H_out, W_out).
        """
        check_conv_input(type(self).__name__, x, self.in_channels)
        z = self.draw_latent(x.shape[0], self.coefficients, z)  # (B, latent_dim)

        # Per-batch latents give one set of bases for the whole batch.
        psi = self.basis_generator(self.distinct_latents(z))  # (B or 1, K, kh, kw)
        psi = check_bases(type(self).__name__, psi, self.num_bases, self.kernel_size)
        x, padding = pad_input(x, self.padding, self.padding_mode)

        path = self.compute
        if x.shape[0] == 0:
            path = "grouped"  # Nothing to time on an empty batch.
        elif path == "auto":
            runners = {
                "grouped": lambda: self._grouped(x, psi, padding),
                "decomposed": lambda: self._decomposed(x, psi, padding),
            }
            path = choose_path(self._path_key(x, psi.shape[0]), runners, x.device)
        self.last_compute = path
        if path == "grouped":
            return self._grouped(x, psi, padding)
        return self._decomposed(x, psi, padding)
