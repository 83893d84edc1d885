from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.callbacks import SampleGridCallback, SamplePredictionWriter
from tests.modules.test_conditional_gan import PairDataModule, make_module, make_trainer


def test_sample_grid_is_written_with_differing_sample_columns(tmp_path):
    callback = SampleGridCallback(num_inputs=2, num_samples=3)
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, callbacks=[callback])
    trainer.fit(make_module(), datamodule=PairDataModule())

    assert callback.last_path == tmp_path / "samples" / "epoch_0000.png"
    grid = np.asarray(Image.open(callback.last_path))
    # Two rows of condition, target and three 16 px samples, with 2 px padding.
    assert grid.shape == (2 + 2 * 18, 2 + 5 * 18, 3)
    first_sample = grid[2:18, 2 + 2 * 18 : 18 + 2 * 18]
    second_sample = grid[2:18, 2 + 3 * 18 : 18 + 3 * 18]
    assert np.abs(first_sample.astype(int) - second_sample.astype(int)).max() > 0


def test_sample_grid_every_n_epochs_zero_writes_nothing(tmp_path):
    callback = SampleGridCallback(every_n_epochs=0)
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, callbacks=[callback])
    trainer.fit(make_module(), datamodule=PairDataModule())
    assert callback.last_path is None
    assert not (tmp_path / "samples").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 0}, "num_inputs and num_samples must be at least 1, got 4 and 0"),
        ({"every_n_epochs": -1}, "every_n_epochs must be >= 0, got -1"),
    ],
)
def test_sample_grid_rejects_invalid_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SampleGridCallback(**kwargs)


def test_prediction_writer_saves_samples_and_grid_per_input(tmp_path):
    writer = SamplePredictionWriter(output_dir=str(tmp_path / "out"))
    module = make_module(num_val_samples=3)
    trainer = make_trainer(tmp_path, callbacks=[writer])
    trainer.predict(module, datamodule=PairDataModule(), return_predictions=False)

    for index in range(2):
        folder = tmp_path / "out" / f"pair_{index}"
        assert sorted(p.name for p in folder.iterdir()) == ["sample_00.png", "sample_01.png", "sample_02.png"]
        grid = np.asarray(Image.open(tmp_path / "out" / f"pair_{index}_grid.png"))
        assert grid.shape == (20, 2 + 5 * 18, 3)
    first = np.asarray(Image.open(tmp_path / "out" / "pair_0" / "sample_00.png"))
    second = np.asarray(Image.open(tmp_path / "out" / "pair_0" / "sample_01.png"))
    assert not np.array_equal(first, second)


def test_prediction_is_reproducible_by_seed(tmp_path):
    outputs = []
    for run in range(2):
        writer = SamplePredictionWriter(output_dir=str(tmp_path / f"run{run}"))
        trainer = make_trainer(tmp_path, callbacks=[writer])
        trainer.predict(make_module(), datamodule=PairDataModule(), return_predictions=False)
        outputs.append(np.asarray(Image.open(tmp_path / f"run{run}" / "pair_1" / "sample_02.png")))
    assert np.array_equal(outputs[0], outputs[1])


def test_writer_colliding_stems_unique(tmp_path, caplog):
    writer = SamplePredictionWriter(output_dir=str(tmp_path / "out"))
    writer.on_predict_start(None, None)
    paths = ["in/a.jpg", "in/a.png", "in/a_png.png", "other/a.png"]
    # Input i is filled with the value -1 + 0.5 * i, so an overwritten file shows as the wrong value.
    values = torch.arange(4, dtype=torch.float32) * 0.5 - 1
    condition = values.view(4, 1, 1, 1).expand(4, 3, 4, 4)
    prediction = {"A": condition, "samples": condition.unsqueeze(1).clone(), "path": paths}

    writer.write_on_batch_end(None, None, prediction, None, None, 0, 0)
    with caplog.at_level(logging.INFO):
        writer.on_predict_epoch_end(None, None)

    names = ["a", "a_png", "a_png_png", "a_png_2"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names + [f"{n}_grid.png" for n in names])
    for name, value in zip(names, values.tolist()):
        sample = np.asarray(Image.open(tmp_path / "out" / name / "sample_00.png"))
        assert np.all(sample == round((value + 1) * 127.5))
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "3 input(s) share a file stem with an earlier input, so their samples are written under a longer name "
        "(for example in/a.png -> a_png/ and a_png_grid.png)."
    ]


def test_writer_names_reset_per_run(tmp_path, caplog):
    writer = SamplePredictionWriter(output_dir=str(tmp_path / "out"))
    prediction = {"A": torch.zeros(1, 3, 4, 4), "samples": torch.zeros(1, 1, 3, 4, 4), "path": ["in/a.png"]}

    for _ in range(2):
        writer.on_predict_start(None, None)
        writer.write_on_batch_end(None, None, prediction, None, None, 0, 0)
        with caplog.at_level(logging.WARNING):
            writer.on_predict_epoch_end(None, None)

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "a_grid.png"]
    assert writer.num_written == 1
    assert not [record for record in caplog.records if record.levelno == logging.WARNING]
