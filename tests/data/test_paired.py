"""PairedImageDataModule on small generated folders and on the real facades and edges2shoes folders."""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.data import PairedImageDataModule
from bgan_lightning.data.image_files import InvalidImageError
from tests.conftest import shared_data_dir
from tests.data import gradient, save, write_side_by_side

LOW, HIGH = 64 / 127.5 - 1, 192 / 127.5 - 1


def make(root, **kwargs) -> PairedImageDataModule:
    options = {"load_size": 8, "crop_size": 8, "num_workers": 0, "batch_size": 2, **kwargs}
    return PairedImageDataModule(root, **options)


def first_batch(datamodule: PairedImageDataModule, stage: str = "fit") -> dict:
    datamodule.setup(stage)
    loader = {"fit": datamodule.train_dataloader, "test": datamodule.test_dataloader}.get(
        stage, datamodule.predict_dataloader
    )()
    return next(iter(loader))


@pytest.mark.parametrize(("direction", "a_value", "b_value"), [("AtoB", LOW, HIGH), ("BtoA", HIGH, LOW)])
def test_direction_picks_condition_half(tmp_path, direction, a_value, b_value):
    write_side_by_side(tmp_path / "train", ["0.png", "1.png"])

    batch = first_batch(make(tmp_path, direction=direction, val_fraction=0))

    assert batch["A"].shape == (2, 3, 8, 8)
    assert batch["A"].dtype == torch.float32
    assert torch.allclose(batch["A"], torch.full_like(batch["A"], a_value))
    assert torch.allclose(batch["B"], torch.full_like(batch["B"], b_value))
    assert sorted(batch["path"]) == [str(tmp_path / "train" / "0.png"), str(tmp_path / "train" / "1.png")]


def test_training_crop_and_flip_shared(tmp_path):
    write_side_by_side(tmp_path / "train", [f"{i}.png" for i in range(6)], size=16, same_halves=True)
    datamodule = make(tmp_path, load_size=20, crop_size=12, val_fraction=0)
    datamodule.setup("fit")

    torch.manual_seed(0)
    items = [datamodule.train_dataset[i] for i in range(6) for _ in range(4)]

    assert all(torch.equal(item["A"], item["B"]) for item in items)
    assert all(item["A"].shape == (3, 12, 12) for item in items)
    # Crops and flips vary between draws of the same item.
    assert len({item["A"].sum().item() for item in items[:4]}) > 1


def test_evaluation_centre_crop_no_flip(tmp_path):
    write_side_by_side(tmp_path / "train", ["0.png"], size=8, same_halves=True)
    write_side_by_side(tmp_path / "test", ["0.png"], size=8, same_halves=True)
    datamodule = make(tmp_path, preprocess="crop", crop_size=4, val_fraction=0)
    datamodule.setup("test")

    item = datamodule.test_dataset[0]
    again = datamodule.test_dataset[0]

    expected = torch.from_numpy(gradient(8, 8, seed=0)[2:6, 2:6]).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(item["A"], expected)
    assert torch.equal(again["A"], expected)


def test_missing_val_split_seeded_holdout(tmp_path):
    write_side_by_side(tmp_path / "train", [f"{i:02d}.png" for i in range(20)])

    def split(seed):
        datamodule = make(tmp_path, val_fraction=0.25, split_seed=seed)
        datamodule.setup("fit")
        train = {datamodule.train_dataset[i]["path"] for i in range(len(datamodule.train_dataset))}
        val = [datamodule.val_dataset[i]["path"] for i in range(len(datamodule.val_dataset))]
        return train, val

    train, val = split(0)

    assert len(train) == 15
    assert len(val) == 5
    assert not train & set(val)
    assert split(0)[1] == val
    assert split(1)[1] != val


def test_val_fraction_zero_no_validation(tmp_path):
    write_side_by_side(tmp_path / "train", ["0.png", "1.png"])
    datamodule = make(tmp_path, val_fraction=0)
    datamodule.setup("fit")

    assert datamodule.val_dataloader() == []


def test_separate_folders_pair_by_name(tmp_path):
    for name, value in (("a", 10), ("b", 20)):
        save(np.full((8, 8, 3), value, np.uint8), tmp_path / "train_A" / f"{name}.png")
        save(np.full((8, 8, 3), value + 100, np.uint8), tmp_path / "train_B" / f"{name}.jpg")

    datamodule = make(tmp_path, val_fraction=0, flip=False)
    datamodule.setup("fit")
    item = datamodule.train_dataset[1]

    assert item["path"] == str(tmp_path / "train_A" / "b.png")
    assert torch.allclose(item["A"], torch.full((3, 8, 8), 20 / 127.5 - 1))
    assert torch.allclose(item["B"], torch.full((3, 8, 8), 120 / 127.5 - 1), atol=2 / 127.5)


def test_unmatched_names_listed(tmp_path):
    for name in ("a", "b", "c"):
        save(gradient(8, 8), tmp_path / "train_A" / f"{name}.png")
    for name in ("a", "x"):
        save(gradient(8, 8), tmp_path / "train_B" / f"{name}.png")

    message = (
        f"Names in {tmp_path / 'train_A'} and {tmp_path / 'train_B'} do not match: 2 only in train_A ['b', 'c'], "
        "1 only in train_B ['x']."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        make(tmp_path).setup("fit")


@pytest.mark.parametrize(("input_nc", "output_nc"), [(1, 3), (3, 1), (1, 1)])
def test_channel_counts(tmp_path, input_nc, output_nc):
    write_side_by_side(tmp_path / "train", ["0.png", "1.png"])

    batch = first_batch(make(tmp_path, input_nc=input_nc, output_nc=output_nc, val_fraction=0))

    assert batch["A"].shape[1] == input_nc
    assert batch["B"].shape[1] == output_nc


def test_grayscale_file_as_rgb(tmp_path):
    save(np.full((8, 16), 100, np.uint8), tmp_path / "train" / "0.png")

    datamodule = make(tmp_path, val_fraction=0)
    datamodule.setup("fit")
    item = datamodule.train_dataset[0]

    assert torch.allclose(item["A"], torch.full((3, 8, 8), 100 / 127.5 - 1))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".webp"])
def test_supported_formats_read(tmp_path, suffix):
    write_side_by_side(tmp_path / "train", [f"0{suffix}"])

    datamodule = make(tmp_path, val_fraction=0)
    datamodule.setup("fit")

    assert datamodule.train_dataset[0]["A"].shape == (3, 8, 8)


def test_predict_dir_condition_only(tmp_path):
    write_side_by_side(tmp_path / "train", ["0.png"])
    save(np.full((12, 20, 3), 50, np.uint8), tmp_path / "inputs" / "x.png")

    batch = first_batch(make(tmp_path, predict_dir=tmp_path / "inputs"), stage="predict")

    assert set(batch) == {"A", "path"}
    assert batch["A"].shape == (1, 3, 8, 8)
    assert batch["path"] == [str(tmp_path / "inputs" / "x.png")]
    assert torch.allclose(batch["A"], torch.full((1, 3, 8, 8), 50 / 127.5 - 1))


@pytest.mark.parametrize(("splits", "used"), [(("train", "val", "test"), "test"), (("train", "val"), "val")])
def test_predict_falls_back_to_splits(tmp_path, splits, used):
    for split in splits:
        write_side_by_side(tmp_path / split, [f"{split}.png"])

    batch = first_batch(make(tmp_path), stage="predict")

    assert set(batch) == {"A", "B", "path"}
    assert batch["path"] == [str(tmp_path / used / f"{used}.png")]


@pytest.mark.parametrize(
    ("splits", "val_fraction", "name", "message"),
    [
        (("train", "val", "test"), 0.1, "test", "Evaluating on the test split (1 item(s))."),
        (("train", "val"), 0.1, "val", "No test split: evaluating on the val split (1 item(s))."),
        (
            ("train",),
            0.25,
            "train (held-out 25%)",
            "No test or val split: evaluating on the 1 item(s) held out of train (val_fraction=0.25, split_seed=0).",
        ),
    ],
)
def test_test_split_name_per_fallback(tmp_path, caplog, splits, val_fraction, name, message):
    for split in splits:
        write_side_by_side(tmp_path / split, [f"{split}_{i}.png" for i in range(4 if split == "train" else 1)])
    datamodule = make(tmp_path, val_fraction=val_fraction)
    assert datamodule.test_split_name is None

    with caplog.at_level(logging.INFO, logger="bgan_lightning.data.base"):
        datamodule.setup("test")

    assert datamodule.test_split_name == name
    evaluating = [record.getMessage() for record in caplog.records if "evaluating" in record.getMessage().lower()]
    assert evaluating == [message]
    assert len(datamodule.test_dataset) == 1

    predicting = make(tmp_path, val_fraction=val_fraction)
    predicting.setup("predict")
    assert predicting.test_split_name == name


def test_predict_dir_leaves_split_unset(tmp_path):
    write_side_by_side(tmp_path / "train", ["0.png"])
    save(gradient(8, 8), tmp_path / "inputs" / "x.png")

    datamodule = make(tmp_path, predict_dir=tmp_path / "inputs")
    datamodule.setup("predict")

    assert datamodule.test_split_name is None


def test_predict_dir_subfolders_warned_once(tmp_path, caplog):
    write_side_by_side(tmp_path / "train", ["0.png"])
    save(gradient(8, 8), tmp_path / "inputs" / "x.png")
    save(gradient(8, 8), tmp_path / "inputs" / "more" / "y.png")
    (tmp_path / "inputs" / "empty").mkdir()
    (tmp_path / "inputs" / ".hidden").mkdir()

    datamodule = make(tmp_path, predict_dir=tmp_path / "inputs")
    with caplog.at_level(logging.WARNING):
        datamodule.setup("predict")

    assert [path for path in datamodule.predict_dataset.files] == [tmp_path / "inputs" / "x.png"]
    assert [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING] == [
        f"Ignored 2 subfolder(s) of {tmp_path / 'inputs'} (for example empty/) because only images directly "
        "inside predict_dir are predicted. Move the images up or predict on each subfolder separately."
    ]


def test_predict_dir_no_subfolders_silent(tmp_path, caplog):
    write_side_by_side(tmp_path / "train", ["0.png"])
    save(gradient(8, 8), tmp_path / "inputs" / "x.png")

    with caplog.at_level(logging.WARNING):
        make(tmp_path, predict_dir=tmp_path / "inputs").setup("predict")

    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


# Bad input: every check happens in setup, in the main process.


def test_predict_dir_file_named(tmp_path):
    write_side_by_side(tmp_path / "train", ["0.png"])
    image = save(gradient(8, 8), tmp_path / "x.png")

    message = (
        f"predict_dir={image} is a file, not a folder. Prediction expects a folder of condition images, so "
        "put the image in a folder and set predict_dir to that folder."
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        make(tmp_path, predict_dir=image).setup("predict")


def test_predict_dir_missing_named(tmp_path):
    write_side_by_side(tmp_path / "train", ["0.png"])

    message = f"Prediction folder {tmp_path / 'nowhere'} does not exist; set predict_dir to a folder of condition"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        make(tmp_path, predict_dir=tmp_path / "nowhere").setup("predict")


def test_missing_root_shows_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Data folder .*nowhere does not exist\. Expected one of these"):
        make(tmp_path / "nowhere").setup("fit")


def test_empty_split_shows_layout(tmp_path):
    (tmp_path / "train").mkdir()

    message = f"Split folder {tmp_path / 'train'} contains no JPEG, PNG, BMP or WebP images. Expected one of these"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        make(tmp_path).setup("fit")


def test_missing_train_shows_layout(tmp_path):
    (tmp_path / "val").mkdir()

    with pytest.raises(FileNotFoundError, match=r"has neither train/ nor train_A/\. Expected one of these layouts"):
        make(tmp_path).setup("fit")


def truncated_png(path):
    write_side_by_side(path.parent, [path.name])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def not_an_image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not an image")


@pytest.mark.parametrize("damage", [truncated_png, not_an_image])
def test_unreadable_file_named(tmp_path, damage):
    write_side_by_side(tmp_path / "train", ["0.png"])
    damage(tmp_path / "train" / "1.png")

    hint = (
        ". Replace or delete the file, or set skip_invalid=True (data.init_args.skip_invalid: true) to skip "
        "unreadable files."
    )
    with pytest.raises(
        InvalidImageError, match=re.escape(f"image {tmp_path / 'train' / '1.png'}: ") + ".*" + re.escape(hint) + "$"
    ):
        make(tmp_path).setup("fit")


def test_skip_invalid_logs_count_once(tmp_path, caplog):
    write_side_by_side(tmp_path / "train", ["0.png", "1.png"])
    truncated_png(tmp_path / "train" / "2.png")
    not_an_image(tmp_path / "train" / "3.png")

    datamodule = make(tmp_path, skip_invalid=True, val_fraction=0)
    with caplog.at_level(logging.WARNING):
        datamodule.setup("fit")

    assert len(datamodule.train_dataset) == 2
    skipped = [record for record in caplog.records if "Skipped" in record.getMessage()]
    assert len(skipped) == 1
    assert skipped[0].getMessage().startswith(f"Skipped 2 invalid file(s) in {tmp_path / 'train'} (skip_invalid=True)")


def test_side_by_side_aspect_checked(tmp_path):
    save(gradient(10, 8), tmp_path / "train" / "0.png")

    message = f"Image {tmp_path / 'train' / '0.png'} is 10x8; the side-by-side layout needs the A and B images"
    with pytest.raises(InvalidImageError, match=re.escape(message)):
        make(tmp_path).setup("fit")


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_alpha_palette_warn_once(tmp_path, mode):
    (tmp_path / "train").mkdir()
    for index in range(3):
        image = Image.fromarray(np.full((8, 16, 3), 64, np.uint8))
        # An adaptive palette holds the colour exactly; convert("P") would dither to the web palette.
        image = image.convert("RGBA") if mode == "RGBA" else image.quantize(colors=4)
        image.save(tmp_path / "train" / f"{index}.png")

    datamodule = make(tmp_path, val_fraction=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        datamodule.setup("fit")
        item = datamodule.train_dataset[0]

    messages = [str(warning.message) for warning in caught if "have mode(s)" in str(warning.message)]
    assert messages == [
        f"3 image(s) in {tmp_path / 'train'} have mode(s) ['{mode}'] (for example 0.png); they are converted to "
        "RGB or grayscale, which drops alpha channels and expands palettes."
    ]
    assert item["A"].shape == (3, 8, 8)
    assert torch.allclose(item["A"], torch.full((3, 8, 8), LOW), atol=1e-6)


def test_sixteen_bit_png_scaled(tmp_path):
    array = np.zeros((8, 16), np.uint16)
    array[:, 8:] = 65535
    array[0, 0] = 32896  # 128.5 * 256: 128 after scaling
    (tmp_path / "train").mkdir()
    Image.fromarray(array).save(tmp_path / "train" / "0.png")

    datamodule = make(tmp_path, input_nc=1, output_nc=1, val_fraction=0, flip=False)
    datamodule.setup("fit")
    item = datamodule.train_dataset[0]

    assert item["A"][0, 0, 0].item() == pytest.approx(128 / 127.5 - 1, abs=1e-6)
    assert item["A"][0, 1, 1].item() == -1.0
    assert item["B"].min().item() == 1.0


def test_crop_larger_than_load_rejected(tmp_path):
    message = (
        "crop_size=300 is larger than load_size=286: images are resized to load_size before a crop_size crop. "
        "Set crop_size <= load_size"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        PairedImageDataModule(tmp_path, load_size=286, crop_size=300)


def test_image_smaller_than_crop_named(tmp_path):
    write_side_by_side(tmp_path / "train", ["0.png"], size=8)

    message = (
        f"Image {tmp_path / 'train' / '0.png'} gives 8x8 images after preprocess='crop', smaller than crop_size=16."
    )
    with pytest.raises(InvalidImageError, match=re.escape(message)):
        make(tmp_path, preprocess="crop", crop_size=16, load_size=16).setup("fit")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"direction": "AB"}, "direction='AB' is not one of ['AtoB', 'BtoA']."),
        ({"input_nc": 2}, "input_nc=2 is not supported; use 1 (grayscale) or 3 (RGB)."),
        ({"layout": "grid"}, "layout='grid' is not one of ['side_by_side', 'separate', 'auto']."),
        ({"preprocess": "zoom"}, "preprocess='zoom' is not one of"),
    ],
)
def test_bad_options_named(tmp_path, options, message):
    write_side_by_side(tmp_path / "train", ["0.png"])

    with pytest.raises(ValueError, match=re.escape(message)):
        make(tmp_path, **options).setup("fit")


# Real data.


def real_folder(name: str):
    folder = shared_data_dir() / name
    if not (folder / "train").is_dir():
        pytest.skip(f"real dataset folder {folder} is absent (set BGAN_SHARED_DATA to its parent)")
    return folder


def test_real_facades_labels_to_photo():
    datamodule = PairedImageDataModule(
        real_folder("facades"), direction="BtoA", load_size=256, crop_size=256, num_workers=0, val_fraction=0.1
    )
    datamodule.setup("fit")
    item = datamodule.val_dataset[0]

    assert len(datamodule.train_dataset) == 360
    assert len(datamodule.val_dataset) == 40
    assert item["A"].shape == item["B"].shape == (3, 256, 256)
    # BtoA: the condition is the right half (the label map) of the 512x256 file, unchanged at 256x256.
    with Image.open(item["path"]) as image:
        pixels = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(item["A"], pixels[:, :, 256:])
    assert torch.equal(item["B"], pixels[:, :, :256])


def test_real_edges2shoes_val_split():
    datamodule = PairedImageDataModule(real_folder("edges2shoes_100"), direction="AtoB", num_workers=0)
    datamodule.setup("fit")
    edges = datamodule.val_dataset[0]["A"]

    assert len(datamodule.train_dataset) == 100
    assert len(datamodule.val_dataset) == 20
    # Edge maps are mostly white background.
    assert (edges > 0.9).float().mean().item() > 0.5
