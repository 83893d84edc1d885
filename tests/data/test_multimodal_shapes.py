"""The multimodal_shapes set: outlines, fills with known modes, regions, determinism and caching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bgan_lightning.data.builtin_cache import DATA_DIR_ENV
from bgan_lightning.data.multimodal_shapes import (
    MultimodalShapesDataModule,
    default_palette,
    generate_shapes,
    multimodal_shapes_folder,
    outline_of,
    shape_region,
)

SMALL = {"size": 16, "num_train": 400, "num_val": 8, "num_test": 8}


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env_cache"))


def colour(rgb):
    return torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1


def test_square_region_exact():
    region = shape_region("square", 16, centre=(8.0, 8.0), radius=4 * math.sqrt(2), angle=0.0)

    expected = np.zeros((16, 16), dtype=bool)
    expected[4:12, 4:12] = True
    assert np.array_equal(region, expected)
    assert outline_of(region).sum() == 28


def test_circle_area_and_outline():
    region = shape_region("circle", 64, centre=(32.0, 32.0), radius=20.0, angle=0.0)
    outline = outline_of(region)

    assert abs(region.sum() - math.pi * 400) < 40
    assert not (outline & ~region).any()
    assert outline.sum() > 0
    assert outline.sum() < region.sum() / 4


def test_default_palette_distinct():
    palette = default_palette(12)

    assert palette[:4] == [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48)]
    assert len(set(palette)) == 12
    assert all(0 <= value <= 255 for rgb in palette for value in rgb)


def test_shapes_deterministic_by_seed():
    first = generate_shapes(20, 16, 4, np.random.default_rng(5))
    again = generate_shapes(20, 16, 4, np.random.default_rng(5))
    other = generate_shapes(20, 16, 4, np.random.default_rng(6))

    for key in ("region", "mode", "shape"):
        assert np.array_equal(first[key], again[key])
    assert not np.array_equal(first["region"], other["region"])


def test_shapes_batch_contents(tmp_path):
    datamodule = MultimodalShapesDataModule(**SMALL, batch_size=8, cache_dir=tmp_path)
    datamodule.prepare_data()
    datamodule.setup("fit")

    batch = next(iter(datamodule.train_dataloader()))

    assert batch["A"].shape == (8, 1, 16, 16)
    assert batch["B"].shape == (8, 3, 16, 16)
    assert batch["region"].shape == (8, 1, 16, 16)
    assert batch["region"].dtype == torch.bool
    assert batch["mode"].shape == (8,)
    assert batch["mode"].dtype == torch.int64
    assert (datamodule.input_nc, datamodule.output_nc, datamodule.dataset_name) == (1, 3, "multimodal_shapes")
    assert datamodule.background == (255, 255, 255)
    for i in range(8):
        region = batch["region"][i, 0]
        outline = torch.from_numpy(outline_of(region.numpy()))
        assert torch.equal(batch["A"][i, 0], outline.float() * 2 - 1)
        fill = colour(datamodule.palette[batch["mode"][i]])
        assert torch.equal(batch["B"][i][:, region], fill[:, None].expand(-1, int(region.sum())))
        assert torch.equal(batch["B"][i][:, ~region], colour((255, 255, 255))[:, None].expand(-1, int((~region).sum())))


def test_modes_uniform(tmp_path):
    datamodule = MultimodalShapesDataModule(**SMALL, cache_dir=tmp_path)
    datamodule.setup("fit")

    counts = torch.bincount(datamodule.train_dataset.extras["mode"], minlength=4)

    assert counts.sum() == 400
    assert counts.min() >= 70
    assert counts.max() <= 130


def test_custom_palette_and_channels(tmp_path):
    palette = [(0, 0, 0), (255, 0, 0)]
    datamodule = MultimodalShapesDataModule(
        **SMALL, num_modes=2, palette=palette, background=(0, 0, 255), input_nc=3, cache_dir=tmp_path
    )
    datamodule.setup("test")

    item = datamodule.test_dataset[0]

    assert item["A"].shape == (3, 16, 16)
    assert torch.equal(item["A"][0], item["A"][2])
    assert torch.equal(item["B"][:, 0, 0], colour((0, 0, 255)))
    assert datamodule.palette == palette
    assert item["path"] == "multimodal_shapes/test/00000"


def test_shapes_cache_reused(tmp_path):
    folder = multimodal_shapes_folder(**SMALL, cache_dir=tmp_path)
    stamp = (folder / "train.npz").stat().st_mtime_ns

    datamodule = MultimodalShapesDataModule(**SMALL, palette=default_palette(4)[::-1], cache_dir=tmp_path)

    assert datamodule.folder() == folder
    assert (folder / "train.npz").stat().st_mtime_ns == stamp
    assert sorted(path.name for path in tmp_path.iterdir()) == [folder.name]


def test_flip_keeps_region_aligned(tmp_path):
    torch.manual_seed(0)
    datamodule = MultimodalShapesDataModule(**SMALL, flip=True, cache_dir=tmp_path)
    datamodule.setup("fit")

    for index in range(10):
        item = datamodule.train_dataset[index]
        background = colour((255, 255, 255))[:, None, None]
        assert torch.equal(~item["region"][0], (item["B"] == background).all(0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"palette": [(1, 2, 3)]}, r"palette has 1 colours but num_modes=4; give one colour per mode"),
        ({"num_modes": 2, "palette": [(1, 2, 3), (1, 2, 3)]}, r"repeats a colour"),
        ({"num_modes": 1, "palette": [(255, 255, 255)]}, r"background \(255, 255, 255\) is also a palette colour"),
        ({"num_modes": 1, "palette": [(0, 0, 256)]}, r"Colour \(0, 0, 256\) is not an RGB triple"),
        ({"input_nc": 2}, r"input_nc=2 must be 1 or 3 for outline conditions"),
    ],
)
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultimodalShapesDataModule(**kwargs)


def test_folder_argument_errors():
    with pytest.raises(ValueError, match="size=4 is too small to draw shapes; use at least 8 pixels"):
        multimodal_shapes_folder(size=4)
    with pytest.raises(ValueError, match="num_modes=0 must be at least 1"):
        multimodal_shapes_folder(num_modes=0)
    with pytest.raises(ValueError, match="num_test=0; every split needs at least one item"):
        multimodal_shapes_folder(num_test=0)
