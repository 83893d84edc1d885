"""Stochastic layers: basis generators, stochastic basis convolutions, filter generators and latent control."""

from bgan_lightning.nn.basis_generator import BasisGenerator
from bgan_lightning.nn.filter_generator_conv import FilterGeneratorConv2d
from bgan_lightning.nn.latent import (
    LatentSource,
    StochasticModule,
    last_latents,
    latent_control,
    stochastic_modules,
)
from bgan_lightning.nn.stochastic_conv import StochasticBasisConv2d
from bgan_lightning.nn.stochastic_conv_transpose import StochasticBasisConvTranspose2d

__all__ = [
    "BasisGenerator",
    "FilterGeneratorConv2d",
    "LatentSource",
    "StochasticBasisConv2d",
    "StochasticBasisConvTranspose2d",
    "StochasticModule",
    "last_latents",
    "latent_control",
    "stochastic_modules",
]
