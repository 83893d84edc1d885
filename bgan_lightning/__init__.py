"""bgan_lightning: BasisGAN (stochastic basis generators) for multi-mode conditional image generation."""

__version__ = "0.1.0"
