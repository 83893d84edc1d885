"""Write a grid of seeded samples (input, target, S samples per row) during training."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only

from bgan_lightning.callbacks.image_logging import log_image
from bgan_lightning.callbacks.run_folder import run_folder
from bgan_lightning.images import make_grid, save_png

log = logging.getLogger(__name__)


class SampleGridCallback(pl.Callback):
    """Every ``every_n_epochs`` epochs, save a PNG grid of the first validation inputs with several samples.

    Each row shows the condition, the target and ``num_samples`` samples drawn with fixed seeds, so grids of
    successive epochs are comparable and the sample columns show the model's diversity. The grid is written
    to ``<run folder>/samples/epoch_XXXX.png`` and sent to W&B or TensorBoard when attached.

    Args:
        num_inputs: Rows: validation inputs shown.
        num_samples: Sample columns per row.
        every_n_epochs: Epoch interval; 0 turns the callback off.
        seed: Base seed; row ``i`` uses ``seed + i``.
    """

    def __init__(self, num_inputs: int = 4, num_samples: int = 4, every_n_epochs: int = 1, seed: int = 0) -> None:
        if num_inputs < 1 or num_samples < 1:
            raise ValueError(f"num_inputs and num_samples must be at least 1, got {num_inputs} and {num_samples}.")
        if every_n_epochs < 0:
            raise ValueError(f"every_n_epochs must be >= 0, got {every_n_epochs}.")
        self.num_inputs = num_inputs
        self.num_samples = num_samples
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.last_path: Path | None = None

    def _collect_inputs(self, trainer: pl.Trainer) -> dict[str, torch.Tensor] | None:
        loaders = trainer.val_dataloaders
        if loaders is None:
            return None
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        conditions, targets = [], []
        for batch in loader:
            conditions.append(batch["A"])
            targets.append(batch["B"])
            if sum(len(c) for c in conditions) >= self.num_inputs:
                break
        if not conditions:
            return None
        return {"A": torch.cat(conditions)[: self.num_inputs], "B": torch.cat(targets)[: self.num_inputs]}

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.every_n_epochs == 0 or trainer.sanity_checking or trainer.current_epoch % self.every_n_epochs:
            return
        batch = self._collect_inputs(trainer)
        if batch is None:
            return
        condition = batch["A"].to(pl_module.device)
        seeds = [self.seed + i for i in range(len(condition))]
        samples = pl_module.sample(condition, self.num_samples, seed=seeds).cpu()  # (N, S, C, H, W)

        rows = []
        for i in range(len(condition)):
            rows.append([batch["A"][i], batch["B"][i], *samples[i]])
        grid = make_grid(rows)
        path = run_folder(trainer) / "samples" / f"epoch_{trainer.current_epoch:04d}.png"
        self.last_path = save_png(grid, path)
        log.info("Wrote sample grid %s", path)
        log_image(trainer, "val/samples", grid)
