from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger, WandbLogger

from bgan_lightning.callbacks.run_folder import run_folder


def test_csv_run_folder_is_version_folder(tmp_path):
    trainer = pl.Trainer(logger=CSVLogger(tmp_path, name="facades"), default_root_dir=tmp_path)

    assert run_folder(trainer) == tmp_path / "facades" / "version_0"


def test_wandb_runs_get_their_own_folders(tmp_path):
    folders = []
    for _ in range(2):
        logger = WandbLogger(project="bgan_tests", save_dir=str(tmp_path), offline=True)
        folders.append(run_folder(pl.Trainer(logger=logger, default_root_dir=tmp_path)))
        logger.experiment.finish()

    assert folders[0].parent == tmp_path / "bgan_tests"
    assert folders[0] != folders[1]


def test_no_logger_uses_root_folder(tmp_path):
    assert run_folder(pl.Trainer(logger=False, default_root_dir=tmp_path)) == tmp_path
