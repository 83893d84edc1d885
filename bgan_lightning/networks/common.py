"""Building blocks shared by the networks: normalization layers, plain or stochastic convs, input checks."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bgan_lightning.nn import FilterGeneratorConv2d, StochasticBasisConv2d, StochasticBasisConvTranspose2d

NORMS = ("batch", "instance", "none")
PADDING_TYPES = ("reflect", "replicate", "zero")
STOCHASTIC_LAYERS = ("basis", "filter")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"Invalid {name} {value!r}; expected one of {choices}.")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """Return the normalization layer of pix2pix for ``channels`` feature maps.

    ``"batch"`` is ``nn.BatchNorm2d`` with affine parameters and running statistics, ``"instance"`` is
    ``nn.InstanceNorm2d`` without either (as pix2pix and pix2pixHD), ``"none"`` is the identity.
    """
    check_choice("norm", norm, NORMS)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by ``norm`` carries a bias: not before batch norm, whose shift replaces it."""
    return norm != "batch"


def conv2d(
    stochastic: bool,
    *args,
    num_bases: int = 7,
    latent_dim: int = 64,
    hidden_dim: int = 64,
    stochastic_layer: str = "basis",
    **kwargs,
) -> nn.Module:
    """Build an ``nn.Conv2d`` or, if ``stochastic``, a stochastic conv with the same arguments.

    ``stochastic_layer`` chooses :class:`StochasticBasisConv2d` (``"basis"``, BasisGAN) or
    :class:`FilterGeneratorConv2d` (``"filter"``, the whole-filter generator of the paper's section 3, which
    has no ``num_bases``).
    """
    check_choice("stochastic_layer", stochastic_layer, STOCHASTIC_LAYERS)
    if not stochastic:
        return nn.Conv2d(*args, **kwargs)
    if stochastic_layer == "filter":
        return FilterGeneratorConv2d(*args, latent_dim=latent_dim, hidden_dim=hidden_dim, **kwargs)
    return StochasticBasisConv2d(*args, num_bases=num_bases, latent_dim=latent_dim, hidden_dim=hidden_dim, **kwargs)


def conv_transpose2d(
    stochastic: bool, *args, num_bases: int = 7, latent_dim: int = 64, hidden_dim: int = 64, **kwargs
) -> nn.Module:
    """Build an ``nn.ConvTranspose2d`` or, if ``stochastic``, a :class:`StochasticBasisConvTranspose2d`."""
    if stochastic:
        return StochasticBasisConvTranspose2d(
            *args, num_bases=num_bases, latent_dim=latent_dim, hidden_dim=hidden_dim, **kwargs
        )
    return nn.ConvTranspose2d(*args, **kwargs)


def padding_layers(padding_type: str, amount: int) -> tuple[list[nn.Module], int]:
    """Return (explicit padding layers, conv padding) for ``"reflect"``, ``"replicate"`` or ``"zero"`` padding."""
    check_choice("padding_type", padding_type, PADDING_TYPES)
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(amount)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(amount)], 0
    return [], amount


def nearest_sizes(size: int, multiple: int) -> list[int]:
    """The multiples of ``multiple`` just below and just above ``size`` (only the one above when below is 0)."""
    lower = size // multiple * multiple
    return [lower + multiple] if lower == 0 else [lower, lower + multiple]


def check_image_input(x: Tensor, owner: str, channels: int, multiple: int) -> None:
    """Check that ``x`` is (B, channels, H, W) with H and W multiples of ``multiple``.

    Args:
        x: The network input.
        owner: Network name used in the messages.
        channels: Expected number of channels.
        multiple: Required divisor of the height and width.

    Raises:
        ValueError: Naming the wrong shape, channel count or size and the nearest valid sizes.
    """
    if x.dim() != 4:
        raise ValueError(f"{owner} expects input of shape (B, {channels}, H, W), got {tuple(x.shape)}.")
    if x.shape[1] != channels:
        raise ValueError(
            f"{owner} expects {channels} input channels, got {x.shape[1]}; "
            f"pass images with {channels} channels or build the network with input_nc={x.shape[1]}."
        )
    for name, size in (("height", x.shape[2]), ("width", x.shape[3])):
        if size % multiple:
            valid = nearest_sizes(size, multiple)
            sizes = " and ".join(str(v) for v in valid)
            noun = "sizes are" if len(valid) > 1 else "size is"
            raise ValueError(
                f"{owner} needs height and width divisible by {multiple}, got {name} {size}; "
                f"the nearest valid {noun} {sizes}."
            )


def concat_latent(h: Tensor, z: Tensor) -> Tensor:
    """Concatenate latents z (B, D), broadcast over the image, to h (B, C, H, W): (B, C + D, H, W)."""
    return torch.cat([h, z.to(h.dtype)[:, :, None, None].expand(-1, -1, *h.shape[2:])], dim=1)
