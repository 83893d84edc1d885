"""The folder of a run, where callbacks write samples, predictions, reports and the config."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger


def run_folder(trainer: pl.Trainer) -> Path:
    """Return the folder of the current run: the logger's version folder, else the trainer's root folder.

    CSV and TensorBoard loggers have a version folder (``save_dir/name/version_N``). For other loggers, such
    as W&B, ``trainer.log_dir`` is the ``save_dir`` that all runs share, so runs would overwrite each other's
    files there. They get ``save_dir/name/version`` instead (for W&B, the project and the run id).
    """
    logger = trainer.logger
    if logger is None or isinstance(logger, (CSVLogger, TensorBoardLogger)):
        return Path(trainer.log_dir or trainer.default_root_dir)
    if logger.version is None and trainer.is_global_zero:
        # W&B assigns the run id when the run starts, so start it.
        _ = logger.experiment
    root = Path(logger.save_dir or trainer.default_root_dir)
    return root / str(logger.name or "") / str(logger.version or "")
