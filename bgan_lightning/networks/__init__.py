"""Generators and discriminators of pix2pix, pix2pixHD and their BasisGAN versions, as plain nn.Modules."""

from bgan_lightning.networks.discriminators import MultiscaleDiscriminator, NLayerDiscriminator
from bgan_lightning.networks.inpainting import InpaintingGenerator
from bgan_lightning.networks.latent_input import LatentInputGenerator
from bgan_lightning.networks.pix2pixhd import GlobalGenerator, LocalEnhancer
from bgan_lightning.networks.resnet import ResnetBlock, ResnetGenerator, stochastic_autoencoder
from bgan_lightning.networks.sampling import Stage, StagedGenerator, run_stages
from bgan_lightning.networks.unet import UnetGenerator

__all__ = [
    "GlobalGenerator",
    "InpaintingGenerator",
    "LatentInputGenerator",
    "LocalEnhancer",
    "MultiscaleDiscriminator",
    "NLayerDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "Stage",
    "StagedGenerator",
    "UnetGenerator",
    "run_stages",
    "stochastic_autoencoder",
]
