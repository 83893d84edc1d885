"""Write the samples returned by ``predict_step`` as PNG files plus one grid per input."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from bgan_lightning.callbacks.run_folder import run_folder
from bgan_lightning.images import make_grid, save_png

log = logging.getLogger(__name__)


class SamplePredictionWriter(BasePredictionWriter):
    """Save ``<output_dir>/<name>/sample_XX.png`` for every sample and ``<name>_grid.png`` per input.

    The grid shows the condition, the target when the input had one, then every sample. Files are written
    atomically as each batch finishes, so an interrupted run leaves only complete PNGs.

    ``<name>`` is unique within one prediction run: the first input keeps its file stem (``a`` for ``a.jpg``);
    a later input whose stem is taken uses its stem and suffix joined by an underscore (``a_png`` for
    ``a.png``), and, if that is taken too, a counter (``a_png_2``, ``a_png_3``, ...). Inputs come in loader
    order, which for a folder is sorted by file name, so ``a.jpg`` keeps ``a``. The renames are logged once.

    Args:
        output_dir: Destination folder; default ``<run folder>/predictions``.
    """

    def __init__(self, output_dir: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.num_written = 0
        self._used_names: set[str] = set()
        self._renamed: list[tuple[str, str]] = []

    def _folder(self, trainer: pl.Trainer) -> Path:
        return Path(self.output_dir) if self.output_dir else run_folder(trainer) / "predictions"

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.num_written = 0
        self._used_names = set()
        self._renamed = []

    def _unique_name(self, path: str) -> str:
        """Return the output name of an input: its stem, or a longer unique name when the stem is taken."""
        file = Path(path)
        name = file.stem
        if name in self._used_names:
            base = f"{file.stem}_{file.suffix.lstrip('.')}" if file.suffix else file.stem
            name, count = base, 1
            while name in self._used_names:
                count += 1
                name = f"{base}_{count}"
            self._renamed.append((path, name))
        self._used_names.add(name)
        return name

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
            name = self._unique_name(path)
            for s, sample in enumerate(samples[i]):
                save_png(sample, folder / name / f"sample_{s:02d}.png")
            row = [condition[i]] + ([target[i].cpu()] if target is not None else []) + list(samples[i])
            save_png(make_grid([row]), folder / f"{name}_grid.png")
            self.num_written += 1

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        log.info("Wrote samples of %d inputs to %s", self.num_written, self._folder(trainer))
        if self._renamed:
            path, name = self._renamed[0]
            log.warning(
                "%d input(s) share a file stem with an earlier input, so their samples are written under a longer "
                "name (for example %s -> %s/ and %s_grid.png).",
                len(self._renamed),
                path,
                name,
                name,
            )
