"""Stochastic basis transposed convolution, so that decoders (U-Net, ResNet upsampling) can be made stochastic."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from bgan_lightning.nn.basis_convolution import ConvGeometry, basis_convolution, basis_filters
from bgan_lightning.nn.basis_generator import BasisGenerator, build_basis_generator, check_bases
from bgan_lightning.nn.latent import StochasticModule
from bgan_lightning.nn.stochastic_conv import check_conv_input, check_groups, init_bias, init_coefficients


class StochasticBasisConvTranspose2d(StochasticModule):
    """A drop-in for ``nn.ConvTranspose2d`` whose filters are sampled on every forward pass.

    The filters follow the layout of ``nn.ConvTranspose2d.weight``, (C_in, C_out, kh, kw), and are built as
    ``w[i, o] = sum_k a[i, o, k] * psi[k]`` from learned ``coefficients`` ``a`` (C_in, C_out, K) and the
    bases ``psi`` (K, kh, kw) that ``basis_generator`` produces from ``z`` ~ N(0, I). Latents follow the
    same rules as :class:`bgan_lightning.nn.StochasticBasisConv2d`: one per sample by default, and
    :func:`bgan_lightning.nn.latent_control` sets seeded, per-batch or shared latents.

    Args:
        in_channels: Input channels C_in.
        out_channels: Output channels C_out.
        kernel_size: Filter size, an int or (kh, kw).
        stride: As in ``nn.ConvTranspose2d``.
        padding: As in ``nn.ConvTranspose2d``.
        output_padding: As in ``nn.ConvTranspose2d``; must be smaller than the stride or the dilation.
        groups: Only 1 is supported.
        bias: Whether to add a learned bias.
        dilation: As in ``nn.ConvTranspose2d``.
        padding_mode: Only ``"zeros"``, as in ``nn.ConvTranspose2d``.
        num_bases: Number K of basis elements.
        latent_dim: Size of the latent ``z``.
        hidden_dim: Width of the basis generator's hidden layer.
        mean_basis: Whether the basis generator learns a mean basis that the sampled bases vary around.
        basis_generator: A :class:`BasisGenerator` to use instead of a new one (several layers may share one);
            it must have this layer's kernel_size, num_bases and latent_dim.

    Shape:
        - Input: (B, C_in, H, W); optional ``z`` of shape (B, latent_dim) or (latent_dim,).
        - Output: (B, C_out, H_out, W_out), the size ``nn.ConvTranspose2d`` gives,
          H_out = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        padding_mode: str = "zeros",
        num_bases: int = 7,
        latent_dim: int = 64,
        hidden_dim: int = 64,
        mean_basis: bool = False,
        basis_generator: BasisGenerator | None = None,
    ) -> None:
        super().__init__(latent_dim)
        check_groups("StochasticBasisConvTranspose2d", "nn.ConvTranspose2d", groups)
        if padding_mode != "zeros":
            raise ValueError(
                f"StochasticBasisConvTranspose2d supports padding_mode='zeros' only, got {padding_mode!r}, "
                "as nn.ConvTranspose2d does."
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.output_padding = _pair(output_padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode
        self.num_bases = num_bases
        for extra, stride_, dilation_ in zip(self.output_padding, self.stride, self.dilation):
            if extra >= max(stride_, dilation_):
                raise ValueError(
                    f"output_padding={self.output_padding} must be smaller than the stride {self.stride} or the "
                    f"dilation {self.dilation}; lower output_padding."
                )

        self.basis_generator = build_basis_generator(
            type(self).__name__, basis_generator, num_bases, self.kernel_size, latent_dim, hidden_dim, mean_basis
        )
        self.coefficients = nn.Parameter(torch.empty(in_channels, out_channels, num_bases))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise so that the sampled filters have the spread of a fresh ``nn.ConvTranspose2d``'s filters.

        ``nn.ConvTranspose2d`` draws weights from U(-b, b) with b = 1 / sqrt(C_out * kh * kw) (PyTorch takes
        the fan-in from the second weight dimension). The coefficients are scaled so that
        ``sum_k a * psi`` has that standard deviation for the measured root mean square of the bases.
        """
        fan_in = self.out_channels * self.kernel_size[0] * self.kernel_size[1]
        init_coefficients(self.coefficients, self.basis_generator, self.latent_dim, self.num_bases, fan_in)
        init_bias(self.bias, fan_in)

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
            f"num_bases={self.num_bases}, latent_dim={self.latent_dim}"
        )
        if self.bias is None:
            text += ", bias=False"
        return text

    def sample_filters(self, z: Tensor) -> Tensor:
        """Build filters (B, C_in, C_out, kh, kw) from latents z (B, latent_dim)."""
        psi = check_bases(type(self).__name__, self.basis_generator(z), self.num_bases, self.kernel_size)
        return basis_filters(self.coefficients, psi)

    def _output_padding(self, x: Tensor, output_size: Sequence[int] | None) -> tuple[int, int]:
        if output_size is None:
            return self.output_padding
        size = list(output_size)[-2:]
        result = []
        for d in range(2):
            smallest = (
                (x.shape[d + 2] - 1) * self.stride[d]
                - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1)
                + 1
            )
            extra = size[d] - smallest
            if not 0 <= extra < max(self.stride[d], self.dilation[d]):
                raise ValueError(
                    f"output_size={tuple(size)} cannot be reached from input {tuple(x.shape)}; sizes from "
                    f"{smallest} to {smallest + max(self.stride[d], self.dilation[d]) - 1} are possible in "
                    f"dimension {d + 2}."
                )
            result.append(extra)
        return result[0], result[1]

    def forward(self, x: Tensor, z: Tensor | None = None, output_size: Sequence[int] | None = None) -> Tensor:
        """Apply freshly sampled filters.

        Args:
            x: Input (B, C_in, H, W).
            z: Explicit latents (B, latent_dim) or (latent_dim,), or None to draw them.
            output_size: Optional target size, as in ``nn.ConvTranspose2d.forward``.

        Returns:
            Output (B, C_out, H_out, W_out).
        """
        check_conv_input(type(self).__name__, x, self.in_channels)
        batch_size = x.shape[0]
        output_padding = self._output_padding(x, output_size)
        z = self.draw_latent(batch_size, self.coefficients, z)  # (B, latent_dim)

        # Per-batch latents give one set of bases for the whole batch.
        psi = self.basis_generator(self.distinct_latents(z))  # (B or 1, K, kh, kw)
        psi = check_bases(type(self).__name__, psi, self.num_bases, self.kernel_size)
        geometry = ConvGeometry(
            self.stride, self.padding, self.dilation, transposed=True, output_padding=output_padding
        )
        return basis_convolution(x, psi, self.coefficients, self.bias, geometry)
