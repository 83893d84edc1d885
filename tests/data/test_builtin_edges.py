"""The built-in cache and the edges-to-photo set generated from scikit-image's photographs."""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.data.builtin_cache import (
    DATA_DIR_ENV,
    InMemoryPairs,
    builtin_data_dir,
    cached_dataset,
    remove_stale_builds,
)
from bgan_lightning.data.builtin_edges import EdgesToPhotoDataModule, edges_to_photo_folder, split_region

SMALL = {"size": 32, "num_train": 6, "num_val": 2, "num_test": 3}


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env_cache"))


def test_cache_root_precedence(tmp_path, monkeypatch):
    assert builtin_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert builtin_data_dir() == tmp_path / "env_cache"

    monkeypatch.delenv(DATA_DIR_ENV)
    assert str(builtin_data_dir()).endswith(".cache/bgan_lightning/datasets")


def test_cache_builds_once(tmp_path):
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "data.txt").write_text("x")

    first = cached_dataset("toy", {"seed": 1}, build, tmp_path)
    second = cached_dataset("toy", {"seed": 1}, build, tmp_path)

    assert first == second == tmp_path / "toy"
    assert len(calls) == 1
    assert json.loads((first / "manifest.json").read_text()) == {"seed": 1}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["toy"]


def test_cache_failed_build_cleans_up(tmp_path):
    def build(folder):
        (folder / "half.txt").write_text("x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cached_dataset("toy", {"seed": 1}, build, tmp_path)

    assert list(tmp_path.iterdir()) == []


def age_tree(folder, seconds):
    """Set the modification time of ``folder`` and everything in it to ``seconds`` ago."""
    when = time.time() - seconds
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (when, when))


def test_cache_removes_stale_builds(tmp_path, caplog):
    stale = tmp_path / ".toy.abc_1234.tmp"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "half.txt").write_text("x")
    age_tree(stale, 2 * 3600)
    other = tmp_path / ".toy_big.abc_1234.tmp"
    other.mkdir()
    age_tree(other, 2 * 3600)
    running = tmp_path / ".toy.xyz98765.tmp"
    (running / "sub").mkdir(parents=True)
    age_tree(running, 2 * 3600)
    (running / "sub" / "fresh.txt").write_text("x")  # Written just now: another build is still running.

    with caplog.at_level(logging.INFO, logger="bgan_lightning.data.builtin_cache"):
        cached_dataset("toy", {"seed": 1}, lambda folder: None, tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == [".toy.xyz98765.tmp", ".toy_big.abc_1234.tmp", "toy"]
    removals = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Removing")]
    assert len(removals) == 1
    assert removals[0].startswith(f"Removing {stale}, left by an interrupted build of toy 7")


def test_remove_stale_builds_age_limit(tmp_path):
    folder = tmp_path / ".toy.abcdefgh.tmp"
    folder.mkdir()
    age_tree(folder, 100)

    assert remove_stale_builds(tmp_path, "toy", max_age_s=200) == []
    assert remove_stale_builds(tmp_path, "toy", max_age_s=50) == [folder]
    assert list(tmp_path.iterdir()) == []
    assert remove_stale_builds(tmp_path / "missing", "toy") == []


def test_cache_rejects_bad_manifest(tmp_path):
    (tmp_path / "bare").mkdir()
    cached_dataset("toy", {"seed": 1}, lambda folder: None, tmp_path)

    with pytest.raises(RuntimeError, match=r"bare exists but has no manifest\.json.*delete the folder"):
        cached_dataset("bare", {"seed": 1}, lambda folder: None, tmp_path)
    with pytest.raises(RuntimeError, match=r"records parameters \{'seed': 1\}, not the requested \{'seed': 2\}"):
        cached_dataset("toy", {"seed": 2}, lambda folder: None, tmp_path)


def test_edges_folder_layout(tmp_path):
    folder = edges_to_photo_folder(**SMALL, cache_dir=tmp_path)

    counts = {split: len(list((folder / split).glob("*.png"))) for split in ("train", "val", "test")}
    assert counts == {"train": 6, "val": 2, "test": 3}
    pair = np.asarray(Image.open(folder / "train" / "00000.png"))
    assert pair.shape == (32, 64, 3)
    assert set(np.unique(pair[:, :32])) <= {0, 255}
    assert (pair[:, :32] == 0).any()


def test_edges_deterministic_by_seed(tmp_path):
    first = edges_to_photo_folder(**SMALL, seed=3, cache_dir=tmp_path / "a")
    again = edges_to_photo_folder(**SMALL, seed=3, cache_dir=tmp_path / "b")
    other = edges_to_photo_folder(**SMALL, seed=4, cache_dir=tmp_path / "a")

    def read(folder):
        return np.stack([np.asarray(Image.open(path)) for path in sorted((folder / "train").glob("*.png"))])

    assert np.array_equal(read(first), read(again))
    assert not np.array_equal(read(first), read(other))


def test_edges_second_use_reuses(tmp_path):
    folder = edges_to_photo_folder(**SMALL, cache_dir=tmp_path)
    stamp = (folder / "train" / "00000.png").stat().st_mtime_ns

    assert edges_to_photo_folder(**SMALL, cache_dir=tmp_path) == folder
    assert (folder / "train" / "00000.png").stat().st_mtime_ns == stamp


def test_split_regions_do_not_overlap():
    train = split_region(400, 600, "train")
    val = split_region(400, 600, "val")
    test = split_region(400, 600, "test")

    assert train == (0, 0, 450, 400)
    assert val == (450, 0, 600, 200)
    assert test == (450, 200, 600, 400)


def test_edges_argument_errors():
    with pytest.raises(ValueError, match="size=4 is too small for edge maps; use at least 8 pixels"):
        edges_to_photo_folder(size=4)
    with pytest.raises(ValueError, match="num_val=0; every split needs at least one pair"):
        edges_to_photo_folder(num_val=0)
    with pytest.raises(ValueError, match="input_nc=2 must be 1 or 3 for edge maps"):
        EdgesToPhotoDataModule(input_nc=2)


def test_edges_datamodule_batches(tmp_path):
    datamodule = EdgesToPhotoDataModule(**SMALL, batch_size=4, cache_dir=tmp_path)
    datamodule.prepare_data()
    datamodule.setup("fit")

    batch = next(iter(datamodule.train_dataloader()))

    assert (datamodule.dataset_name, datamodule.input_nc, datamodule.output_nc) == ("edges2photo", 3, 3)
    assert (datamodule.load_size, datamodule.crop_size) == (32, 32)
    assert batch["A"].shape == (4, 3, 32, 32)
    assert batch["B"].shape == (4, 3, 32, 32)
    assert batch["A"].dtype == batch["B"].dtype == torch.float32
    assert batch["A"].min() >= -1
    assert batch["A"].max() <= 1
    assert batch["B"].min() >= -1
    assert batch["B"].max() <= 1
    assert len(datamodule.train_dataset) == 6
    assert len(datamodule.val_dataset) == 2
    assert batch["path"][0].endswith(".png")


def test_edges_single_channel_test_split(tmp_path):
    datamodule = EdgesToPhotoDataModule(**SMALL, input_nc=1, batch_size=2, cache_dir=tmp_path)
    datamodule.setup("test")

    batch = next(iter(datamodule.test_dataloader()))

    assert batch["A"].shape == (2, 1, 32, 32)
    assert len(datamodule.test_dataset) == 3
    assert set(batch["A"].unique().tolist()) <= {-1.0, 1.0}


def test_flip_mirrors_spatial_keys():
    torch.manual_seed(0)
    conditions = torch.arange(8.0).reshape(1, 1, 2, 4)
    pairs = InMemoryPairs(conditions, conditions + 10, ["a"], flip=True, extras={"mode": torch.tensor([2])})

    items = [pairs[0] for _ in range(20)]

    flipped = [item for item in items if item["A"][0, 0, 0] == 3.0]
    assert 0 < len(flipped) < 20
    for item in flipped:
        assert torch.equal(item["B"], conditions[0].flip(-1) + 10)
        assert item["mode"] == 2


def test_edges_default_cache_is_env_folder(tmp_path):
    datamodule = EdgesToPhotoDataModule(**SMALL)

    datamodule.prepare_data()

    assert datamodule.folder().parent == tmp_path / "env_cache"
    assert (datamodule.folder() / "manifest.json").is_file()
