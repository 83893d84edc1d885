"""Stochastic basis convolution: filters rebuilt from generated bases on every forward pass."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from bgan_lightning.nn.basis_generator import BasisGenerator
from bgan_lightning.nn.latent import StochasticModule

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


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
    ) -> None:
        super().__init__(latent_dim)
        if groups != 1:
            raise ValueError(
                f"StochasticBasisConv2d supports groups=1 only, got groups={groups}; keep this layer a plain nn.Conv2d."
            )
        if isinstance(padding, str):
            raise ValueError(f"padding={padding!r} is not supported; pass an int or a pair of ints.")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Invalid padding_mode {padding_mode!r}; expected one of {PADDING_MODES}.")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        self.num_bases = num_bases

        self.basis_generator = BasisGenerator(num_bases, self.kernel_size, latent_dim, hidden_dim)
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
        target_std = 1.0 / math.sqrt(3.0 * fan_in)
        with torch.no_grad():
            psi = self.basis_generator(torch.randn(256, self.latent_dim))  # (256, K, kh, kw)
            # w[o, i] is a sum of K terms a * psi, so its variance is K * var(a) * E[psi^2].
            psi_rms = psi.pow(2).mean().sqrt().clamp_min(1e-8)
            coefficient_std = target_std / (psi_rms * math.sqrt(self.num_bases))
            bound = coefficient_std * math.sqrt(3.0)
            self.coefficients.uniform_(-bound.item(), bound.item())
            if self.bias is not None:
                bias_bound = 1.0 / math.sqrt(fan_in)
                self.bias.uniform_(-bias_bound, bias_bound)

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
        return text

    def sample_filters(self, z: Tensor) -> Tensor:
        """Build filters (B, C_out, C_in, kh, kw) from latents z (B, latent_dim)."""
        psi = self.basis_generator(z)  # (B, K, kh, kw)
        return torch.einsum("oik,bkhw->boihw", self.coefficients, psi)

    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        if self.padding_mode == "zeros":
            return x, self.padding
        pad_h, pad_w = self.padding
        return F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode=self.padding_mode), (0, 0)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}."
            )
        batch_size = x.shape[0]
        z = self.draw_latent(batch_size, self.coefficients, z)  # (B, latent_dim)
        weight = self.sample_filters(z).to(x.dtype)  # (B, C_out, C_in, kh, kw)
        x, padding = self._pad(x)

        # One grouped convolution applies each sample's own filters to that sample.
        grouped = x.reshape(1, batch_size * self.in_channels, *x.shape[2:])
        weight = weight.reshape(batch_size * self.out_channels, self.in_channels, *self.kernel_size)
        out = F.conv2d(grouped, weight, None, self.stride, padding, self.dilation, groups=batch_size)
        out = out.view(batch_size, self.out_channels, *out.shape[2:])
        if self.bias is not None:
            out = out + self.bias.to(out.dtype).view(1, -1, 1, 1)
        return out
