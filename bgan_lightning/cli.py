"""The ``bgan`` command: LightningCLI for fit/validate/test/predict, plus ``bgan weights``.

Examples:
    bgan fit --config configs/quickstart.yaml
    bgan predict --config runs/quickstart/lightning_logs/version_0/config.yaml --ckpt_path last.ckpt
    bgan test --config configs/facades.yaml --ckpt_path last.ckpt --test_report.num_samples 20
    bgan weights list
"""

from __future__ import annotations

import logging
import sys

import pytorch_lightning as pl
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from bgan_lightning.callbacks import SampleGridCallback, SamplePredictionWriter
from bgan_lightning.metrics.evaluation import TestReportCallback
from bgan_lightning.modules import ConditionalGAN


class BganCLI(LightningCLI):
    """LightningCLI with the callbacks every run needs added as configurable, always-present options.

    ``sample_grid`` (a :class:`SampleGridCallback`) writes sample grids under the run folder during fit,
    ``predict_writer`` (a :class:`SamplePredictionWriter`) saves the samples of ``bgan predict``, and
    ``test_report`` (a :class:`TestReportCallback`) runs the LPIPS diversity and FID protocol in ``bgan test``
    and writes ``metrics.json``, ``report.md``, ``index.html`` and one PNG strip per input.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(SampleGridCallback, "sample_grid")
        parser.add_lightning_class_args(SamplePredictionWriter, "predict_writer")
        parser.add_lightning_class_args(TestReportCallback, "test_report")


def build_cli(args: list[str] | None = None, run: bool = True) -> BganCLI:
    """Build (and by default run) the LightningCLI; ``args`` replaces ``sys.argv[1:]`` when given."""
    return BganCLI(
        model_class=ConditionalGAN,
        datamodule_class=pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bgan`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if argv and argv[0] == "weights":
        from bgan_lightning.metrics.weights_cli import main as weights_main

        return weights_main(argv[1:])
    build_cli(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
