"""Log a uint8 image through whichever loggers a trainer has, without assuming one logger type."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from torch import Tensor

log = logging.getLogger(__name__)


def log_image(trainer: pl.Trainer, key: str, image: Tensor, step: int | None = None) -> None:
    """Send a (3, H, W) uint8 image to every attached logger that can show images.

    W&B and TensorBoard loggers receive it; CSV and other loggers are skipped, since the image is already
    written as a PNG under the run folder by the caller.
    """
    step = trainer.global_step if step is None else step
    for logger in trainer.loggers:
        name = type(logger).__name__
        if name == "WandbLogger":
            logger.log_image(key=key, images=[image.permute(1, 2, 0).numpy()], step=step)
        elif name == "TensorBoardLogger":
            logger.experiment.add_image(key, image, global_step=step)
