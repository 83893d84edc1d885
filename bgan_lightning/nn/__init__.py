"""Stochastic layers: basis generators, stochastic basis convolutions, filter generators, conversion, latents."""

from bgan_lightning.nn.basis_generator import BasisGenerator
from bgan_lightning.nn.basisify import BasisifyReport, ConvertedLayer, SkippedLayer, basisify, low_rank_fit
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
    "BasisifyReport",
    "ConvertedLayer",
    "FilterGeneratorConv2d",
    "LatentSource",
    "SkippedLayer",
    "StochasticBasisConv2d",
    "StochasticBasisConvTranspose2d",
    "StochasticModule",
    "basisify",
    "last_latents",
    "latent_control",
    "low_rank_fit",
    "stochastic_modules",
]
