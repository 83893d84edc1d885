"""Generators and discriminators of pix2pix, pix2pixHD and their BasisGAN versions, as plain nn.Modules."""

from bgan_lightning.networks.resnet import ResnetBlock, ResnetGenerator, stochastic_autoencoder
from bgan_lightning.networks.sampling import Stage, StagedGenerator, run_stages
from bgan_lightning.networks.unet import UnetGenerator

__all__ = [
    "ResnetBlock",
    "ResnetGenerator",
    "Stage",
    "StagedGenerator",
    "UnetGenerator",
    "run_stages",
    "stochastic_autoencoder",
]
