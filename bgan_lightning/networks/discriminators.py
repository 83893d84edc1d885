"""PatchGAN and multiscale discriminators of pix2pix and pix2pixHD."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bgan_lightning.networks.common import NORMS, check_choice, conv_bias, norm_layer


def check_discriminator_input(owner: str, x: Tensor, input_nc: int) -> None:
    """Raise a ValueError naming ``owner`` unless ``x`` has shape (B, input_nc, H, W)."""
    if x.dim() != 4:
        raise ValueError(f"{owner} expects input of shape (B, {input_nc}, H, W), got {tuple(x.shape)}.")
    if x.shape[1] != input_nc:
        raise ValueError(
            f"{owner} expects {input_nc} input channels, got {x.shape[1]}; build it with input_nc={x.shape[1]} "
            "(condition plus image channels, or image channels alone when ConditionalGAN has "
            "discriminator_input='hole')."
        )


class NLayerDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` stride-2 4x4 convs, one stride-1 conv and a 1-channel prediction map.

    With ``input_nc=6`` (condition and image concatenated), ndf=64, 3 layers and batch norm it has 2,768,705
    parameters, as in the reference pix2pix code. Predictions are logits (no sigmoid).

    Args:
        input_nc: Input channels, ``C_a + C_b`` for a conditional discriminator.
        ndf: Width of the first layer; widths double per layer up to ``8 * ndf``.
        n_layers: Stride-2 convs.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        spectral_norm: Wrap every conv in spectral normalization.
        return_features: Return every layer's output for feature matching, in the multiscale format of
            :mod:`bgan_lightning.losses`: ``[[feature_1, ..., prediction]]`` (one scale).
        padding: Padding of the 4x4 convs: 1 in pix2pix, 2 in pix2pixHD.

    Shape:
        (B, input_nc, H, W) -> (B, 1, H', W') patch logits, H' about ``H / 2**n_layers - 2``.
    """

    def __init__(
        self,
        input_nc: int = 6,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral_norm: bool = False,
        return_features: bool = False,
        padding: int = 1,
    ) -> None:
        super().__init__()
        check_choice("norm", norm, NORMS)
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}.")
        self.input_nc = input_nc
        self.return_features = return_features
        use_bias = conv_bias(norm)

        def conv(in_width: int, out_width: int, stride: int, bias: bool) -> nn.Module:
            layer = nn.Conv2d(in_width, out_width, 4, stride=stride, padding=padding, bias=bias)
            return nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer

        layers = [nn.Sequential(conv(input_nc, ndf, 2, True), nn.LeakyReLU(0.2, True))]
        width = ndf
        for n in range(1, n_layers + 1):
            out_width = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers.append(
                nn.Sequential(
                    conv(width, out_width, stride, use_bias), norm_layer(norm, out_width), nn.LeakyReLU(0.2, True)
                )
            )
            width = out_width
        layers.append(nn.Sequential(conv(width, 1, 1, True)))
        self.layers = nn.ModuleList(layers)

    def features(self, x: Tensor) -> list[Tensor]:
        """Return the output of every layer; the last is the prediction."""
        check_discriminator_input(type(self).__name__, x, self.input_nc)
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs

    def forward(self, x: Tensor) -> Tensor | list[list[Tensor]]:
        features = self.features(x)
        return [features] if self.return_features else features[-1]


class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD's discriminator: ``num_D`` PatchGANs on the input downsampled 1, 2, 4, ... times.

    Each coarser scale sees the input average-pooled (3x3, stride 2, padding 1, padding not counted).

    Args:
        input_nc: Input channels, ``C_a + C_b``.
        num_D: Number of scales.
        n_layers: Stride-2 convs of each PatchGAN.
        ndf: Width of each PatchGAN's first layer.
        norm: ``"instance"`` (pix2pixHD), ``"batch"`` or ``"none"``.
        spectral_norm: Spectral normalization in every conv.
        return_features: If True (for feature matching), return ``[[features..., prediction] per scale]``;
            otherwise ``[prediction per scale]``. Both are formats that :mod:`bgan_lightning.losses` reads.
        padding: Padding of the 4x4 convs (2 as in pix2pixHD).

    Shape:
        (B, input_nc, H, W) -> a list over scales, finest first.
    """

    def __init__(
        self,
        input_nc: int = 6,
        num_D: int = 3,  # noqa: N803 (the name pix2pixHD uses)
        n_layers: int = 3,
        ndf: int = 64,
        norm: str = "instance",
        spectral_norm: bool = False,
        return_features: bool = True,
        padding: int = 2,
    ) -> None:
        super().__init__()
        if num_D < 1:
            raise ValueError(f"num_D must be at least 1, got {num_D}.")
        self.input_nc = input_nc
        self.return_features = return_features
        self.scales = nn.ModuleList(
            NLayerDiscriminator(input_nc, ndf, n_layers, norm, spectral_norm, False, padding) for _ in range(num_D)
        )

    def forward(self, x: Tensor) -> list[list[Tensor]] | list[Tensor]:
        check_discriminator_input(type(self).__name__, x, self.scales[0].input_nc)
        outputs = []
        for i, discriminator in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            features = discriminator.features(x)
            outputs.append(features if self.return_features else features[-1])
        return outputs
