"""Single-folder images for the stochastic auto-encoder."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.data.image_files import InvalidImageError
from bgan_lightning.data.single_folder import SingleFolderDataModule


def write_images(folder, count, size=(12, 10), mode="RGB", start=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for index in range(start, start + count):
        channels = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, channels, dtype=np.uint8), mode).save(folder / f"{index:03d}.png")


def test_flat_folder_condition_is_target(tmp_path):
    write_images(tmp_path / "faces", 10)
    datamodule = SingleFolderDataModule(tmp_path / "faces", load_size=8, crop_size=8, batch_size=3, num_workers=0)
    datamodule.setup("fit")

    batch = next(iter(datamodule.train_dataloader()))

    assert batch["A"].shape == (3, 3, 8, 8)
    assert torch.equal(batch["A"], batch["B"])
    assert batch["A"].min() >= -1
    assert batch["A"].max() <= 1
    assert len(datamodule.train_dataset) == 9
    assert len(datamodule.val_dataset) == 1
    assert (datamodule.input_nc, datamodule.output_nc, datamodule.dataset_name) == (3, 3, "faces")


def test_test_items_deterministic(tmp_path):
    write_images(tmp_path / "faces", 10)
    datamodule = SingleFolderDataModule(tmp_path / "faces", load_size=10, crop_size=8, num_workers=0)
    datamodule.setup("test")

    first, again = datamodule.test_dataset[0], datamodule.test_dataset[0]

    assert torch.equal(first["A"], again["A"])
    expected = np.asarray(Image.open(first["path"]).resize((10, 10), Image.Resampling.BICUBIC))[1:9, 1:9]
    assert torch.equal(first["A"], torch.from_numpy(expected.copy()).permute(2, 0, 1).float() / 127.5 - 1)


def test_split_folders_and_grayscale(tmp_path):
    write_images(tmp_path / "data" / "train", 4, mode="L")
    write_images(tmp_path / "data" / "test", 2, mode="L", start=4)
    datamodule = SingleFolderDataModule(tmp_path / "data", load_size=8, crop_size=8, channels=1, num_workers=0)
    datamodule.setup("test")

    item = datamodule.test_dataset[1]

    assert item["A"].shape == (1, 8, 8)
    assert item["path"].endswith("test/005.png")
    assert len(datamodule.test_dataset) == 2


def test_missing_empty_folders_show_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Data folder .*nothing does not exist\. Expected .*nothing/train/"):
        SingleFolderDataModule(tmp_path / "nothing", num_workers=0).setup("fit")

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty contains no JPEG, PNG, BMP or WebP images\. Expected"):
        SingleFolderDataModule(tmp_path / "empty", num_workers=0).setup("fit")


def test_bad_file_named_or_skipped(tmp_path, caplog):
    write_images(tmp_path / "faces", 3)
    (tmp_path / "faces" / "broken.png").write_bytes(b"not a png")

    with pytest.raises(InvalidImageError, match=r"broken\.png"):
        SingleFolderDataModule(tmp_path / "faces", load_size=8, crop_size=8, num_workers=0).setup("fit")

    with caplog.at_level(logging.WARNING):
        datamodule = SingleFolderDataModule(
            tmp_path / "faces", load_size=8, crop_size=8, num_workers=0, skip_invalid=True, val_fraction=0
        )
        datamodule.setup("fit")
    assert len(datamodule.train_dataset) == 3
    assert "Skipped 1 invalid file(s)" in caplog.text


def test_image_smaller_than_crop(tmp_path):
    write_images(tmp_path / "faces", 2, size=(6, 6))

    with pytest.raises(
        InvalidImageError, match=r"000\.png gives 6x6 after preprocess='crop', smaller than crop_size=8"
    ):
        SingleFolderDataModule(tmp_path / "faces", preprocess="crop", crop_size=8, num_workers=0).setup("fit")


def test_argument_errors():
    with pytest.raises(ValueError, match=r"channels=2 must be 1 \(grayscale\) or 3 \(RGB\)"):
        SingleFolderDataModule("x", channels=2)
    with pytest.raises(ValueError, match="crop_size=300 is larger than load_size=256"):
        SingleFolderDataModule("x", crop_size=300)
