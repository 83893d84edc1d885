"""Write the samples returned by ``predict_step`` as PNG files plus one grid per input."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from bgan_lightning.callbacks.sample_grid import run_folder
from bgan_lightning.images import make_grid, save_png

log = logging.getLogger(__name__)


class SamplePredictionWriter(BasePredictionWriter):
    """Save ``<output_dir>/<input stem>/sample_XX.png`` for every sample and ``<input stem>_grid.png`` per input.

    The grid shows the condition, the target when the input had one, then every sample. Files are written
    atomically as each batch finishes, so an interrupted run leaves only complete PNGs.

    Args:
        output_dir: Destination folder; default ``<run folder>/predictions``.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.num_written = 0

    def _folder(self, trainer: pl.Trainer) -> Path:
        return Path(self.output_dir) if self.output_dir else run_folder(trainer) / "predictions"

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: dict[str, Any],
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        folder = self._folder(trainer)
        condition = prediction["A"].cpu()
        target = prediction.get("B")
        samples = prediction["samples"].cpu()  # (B, S, C, H, W)
        paths = prediction.get("path") or [f"input_{batch_idx:05d}_{i:02d}" for i in range(len(condition))]

        for i, path in enumerate(paths):
            stem = Path(path).stem
            for s, sample in enumerate(samples[i]):
                save_png(sample, folder / stem / f"sample_{s:02d}.png")
            row = [condition[i]] + ([target[i].cpu()] if target is not None else []) + list(samples[i])
            save_png(make_grid([row]), folder / f"{stem}_grid.png")
            self.num_written += 1

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log.info("Wrote samples of %d inputs to %s", self.num_written, self._folder(trainer))
