"""The ``bgan`` command: LightningCLI for fit/validate/test/predict, plus ``bgan weights``.

Examples:
    bgan fit --config configs/quickstart.yaml
    bgan predict --config runs/quickstart/quickstart/version_0/config.yaml --ckpt_path last.ckpt
    bgan test --config configs/facades.yaml --ckpt_path last.ckpt --test_report.num_samples 20
    bgan weights list
"""

from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI, SaveConfigCallback

from bgan_lightning.callbacks import SampleGridCallback, SamplePredictionWriter
from bgan_lightning.callbacks.run_folder import run_folder
from bgan_lightning.metrics.evaluation import TestReportCallback
from bgan_lightning.modules import ConditionalGAN

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Train, evaluate and sample conditional GANs with stochastic basis generators (BasisGAN). "
    "`bgan weights list|fetch|verify` manages the pretrained weights that LPIPS and FID need."
)


class RunFolderSaveConfig(SaveConfigCallback):
    """Save the run's config as ``config.yaml`` in its run folder (see :func:`run_folder`).

    Lightning's own callback writes to ``trainer.log_dir``, which for a W&B logger is the folder shared by every
    run, so each run would overwrite the previous run's config.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.already_saved:
            return
        if trainer.is_global_zero:
            folder = run_folder(trainer)
            folder.mkdir(parents=True, exist_ok=True)
            self.parser.save(
                self.config, str(folder / self.config_filename), skip_none=False, overwrite=True, multifile=False
            )
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)


class BganCLI(LightningCLI):
    """LightningCLI with the callbacks every run needs added as configurable, always-present options.

    ``sample_grid`` (a :class:`SampleGridCallback`) writes sample grids under the run folder during fit.
    ``predict_writer`` (a :class:`SamplePredictionWriter`) saves the samples of ``bgan predict``.
    ``test_report`` (a :class:`TestReportCallback`) runs the LPIPS diversity and FID protocol in ``bgan test``
    and writes ``metrics.json``, ``report.md``, ``index.html`` and one PNG strip per input.
    """

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        # Kept so that model options given on the command line can win over a checkpoint's hyperparameters.
        self._raw_args = [str(arg) for arg in (sys.argv[1:] if args is None else args)]
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        """Load the checkpoint's hyperparameters into the config, then re-apply ``--model.*`` command-line options.

        LightningCLI replaces the model config by the hyperparameters stored in ``ckpt_path``, so that the
        checkpoint's networks are rebuilt. Without this step, options such as ``--model.init_args.sample_seed``
        or ``num_val_samples`` given with ``bgan predict`` or ``bgan test`` would be dropped silently.
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        before = self.config.clone()
        try:
            super()._parse_ckpt_path()
        except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
            # Raised by torch.load for a file that is not a checkpoint, or one that needs unsafe unpickling.
            raise ValueError(
                f"--ckpt_path {ckpt_path} is not a checkpoint that can be loaded safely ({type(error).__name__}); "
                "pass a .ckpt file written by `bgan fit` (runs/<name>/version_N/checkpoints/last.ckpt)."
            ) from error
        if not ckpt_path or not Path(ckpt_path).is_file():
            return

        overridden = [key for key in _model_options(self._raw_args) if f"{subcommand}.model.{key}" in before]
        for key in overridden:
            self.config[f"{subcommand}.model.{key}"] = before[f"{subcommand}.model.{key}"]
        if overridden:
            log.info("Model settings from the command line override the checkpoint's: %s", ", ".join(overridden))

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(SampleGridCallback, "sample_grid")
        parser.add_lightning_class_args(SamplePredictionWriter, "predict_writer")
        parser.add_lightning_class_args(TestReportCallback, "test_report")


def _model_options(args: list[str]) -> list[str]:
    """Return the dotted model keys given as ``--model.KEY value`` or ``--model.KEY=value`` in ``args``."""
    keys = []
    for arg in args:
        if not arg.startswith("--model."):
            continue
        key = arg[len("--model.") :].split("=", 1)[0]
        if key != "class_path" and not key.startswith("init_args."):
            key = f"init_args.{key}"
        keys.append(key)
    return keys


def build_cli(args: list[str] | None = None, run: bool = True) -> BganCLI:
    """Build (and by default run) the LightningCLI; ``args`` replaces ``sys.argv[1:]`` when given."""
    return BganCLI(
        model_class=ConditionalGAN,
        datamodule_class=pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        seed_everything_default=0,
        save_config_callback=RunFolderSaveConfig,
        parser_kwargs={"description": DESCRIPTION},
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bgan`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and arguments[0] == "weights":
        from bgan_lightning.metrics.weights_cli import main as weights_main

        return weights_main(arguments[1:])

    # None lets LightningCLI read sys.argv itself, which avoids its warning about arguments given twice.
    try:
        build_cli(argv)
    except (ValueError, TypeError) as error:
        cause = package_error(error)
        if cause is None or cause is error:
            raise
        # jsonargparse wraps a constructor's error in a long message that lists every candidate type.
        log.debug("Full error while building from the config", exc_info=error)
        sys.stderr.write(f"bgan: error: {cause}\n")  # The usage-error format of argparse.
        return 2
    return 0


def package_error(error: BaseException) -> BaseException | None:
    """Return the ValueError or TypeError raised by this package's code in ``error``'s chain, if any.

    The chain is followed through ``__cause__`` and ``__context__``. An exception counts when the innermost
    frame of its traceback lies in a file of ``bgan_lightning``.
    """
    package_dir = str(Path(__file__).resolve().parent)
    stack, seen = [error], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        frame = current.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        if (
            isinstance(current, (ValueError, TypeError))
            and frame is not None
            and frame.tb_frame.f_code.co_filename.startswith(package_dir)
        ):
            return current
        stack += [linked for linked in (current.__cause__, current.__context__) if linked is not None]
    return None


if __name__ == "__main__":
    sys.exit(main())
