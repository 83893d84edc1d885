"""Filter-generator convolution: an MLP maps a latent to the whole filter bank (the baseline of BasisGAN)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from bgan_lightning.nn.basis_convolution import ConvGeometry, per_sample_convolution
from bgan_lightning.nn.latent import StochasticModule
from bgan_lightning.nn.stochastic_conv import check_conv_arguments, check_conv_input, init_bias, pad_input


class FilterGeneratorConv2d(StochasticModule):
    """A drop-in for ``nn.Conv2d`` whose whole filter bank is generated from ``z`` on every forward pass.

    This is the direct approach that Wang, Cheng, Sapiro and Qiu (ICLR 2020) start from in their section 3,
    ``w = T_theta(z)``: an MLP with one hidden layer maps ``z`` ~ N(0, I) to all C_out x C_in x kh x kw filter
    entries. Its output layer alone has hidden_dim * C_out * C_in * kh * kw weights, which is why the paper
    generates K small bases instead (:class:`bgan_lightning.nn.StochasticBasisConv2d`). The layer exists for
    that cost and quality comparison and follows the same latent rules (:func:`bgan_lightning.nn.latent_control`).

    Args:
        in_channels: Input channels C_in.
        out_channels: Output channels C_out.
        kernel_size: Filter size, an int or (kh, kw).
        stride: As in ``nn.Conv2d``.
        padding: As in ``nn.Conv2d`` (an int or a pair of ints).
        dilation: As in ``nn.Conv2d``.
        groups: Only 1 is supported.
        bias: Whether to add a learned (deterministic) bias.
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        latent_dim: Size of the latent ``z``.
        hidden_dim: Width of the generator's hidden layer.

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
        latent_dim: int = 64,
        hidden_dim: int = 64,
    ) -> None:
        super().__init__(latent_dim)
        check_conv_arguments("FilterGeneratorConv2d", "nn.Conv2d", groups, padding, padding_mode)
        if hidden_dim < 1:
            raise ValueError(f"hidden_dim must be a positive integer, got {hidden_dim}.")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.padding_mode = padding_mode

        num_weights = out_channels * in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.filter_generator = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, num_weights)
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise so that the generated filters have the spread of a fresh ``nn.Conv2d``'s filters.

        The output layer starts with zero bias and weights scaled by the measured root mean square of the
        hidden activations, so each generated entry has standard deviation 1 / sqrt(3 * fan_in), as the
        U(-b, b), b = 1 / sqrt(fan_in) weights of ``nn.Conv2d`` have.
        """
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        target_std = 1.0 / math.sqrt(3.0 * fan_in)
        hidden_layer, output_layer = self.filter_generator[0], self.filter_generator[2]
        with torch.no_grad():
            hidden = torch.relu(hidden_layer(torch.randn(256, self.latent_dim)))
            hidden_rms = hidden.pow(2).mean().sqrt().clamp_min(1e-8)
            weight_std = target_std / (hidden_rms * math.sqrt(output_layer.in_features))
            bound = (weight_std * math.sqrt(3.0)).item()
            output_layer.weight.uniform_(-bound, bound)
            output_layer.bias.zero_()
        init_bias(self.bias, fan_in)

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, latent_dim={self.latent_dim}"
        )
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        if self.bias is None:
            text += ", bias=False"
        return text

    def sample_filters(self, z: Tensor) -> Tensor:
        """Generate filters (B, C_out, C_in, kh, kw) from latents z (B, latent_dim)."""
        return self.filter_generator(z).view(z.shape[0], self.out_channels, self.in_channels, *self.kernel_size)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Apply freshly generated filters.

        Args:
            x: Input (B, C_in, H, W).
            z: Explicit latents (B, latent_dim) or (latent_dim,), or None to draw them (see ``latent_control``).

        Returns:
            Output (B, C_out, H_out, W_out).
        """
        check_conv_input(type(self).__name__, x, self.in_channels)
        reference = self.filter_generator[0].weight
        z = self.draw_latent(x.shape[0], reference, z)  # (B, latent_dim)

        # Per-batch latents give one filter bank for the whole batch.
        weight = self.sample_filters(self.distinct_latents(z))  # (B or 1, C_out, C_in, kh, kw)
        x, padding = pad_input(x, self.padding, self.padding_mode)
        return per_sample_convolution(x, weight, self.bias, ConvGeometry(self.stride, padding, self.dilation))
