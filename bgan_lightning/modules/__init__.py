"""LightningModules that wire networks, losses and optimizers."""

from bgan_lightning.modules.conditional_gan import ConditionalGAN

__all__ = ["ConditionalGAN"]
