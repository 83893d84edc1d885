"""Face inpainting data: masks, conditions, splits and split files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.data.inpainting import InpaintingDataModule, InpaintingDataset, masked_condition, square_mask


def write_faces(folder, count, size=(16, 16)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:06d}.png")
    return sorted(folder.iterdir())


def as_tensor(image):
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 127.5 - 1


def test_condition_masked_image_and_mask():
    image = torch.linspace(-1, 1, 3 * 4 * 4).reshape(3, 4, 4)
    mask = square_mask(4, 2, top=1, left=2)

    condition = masked_condition(image, mask)

    assert condition.shape == (4, 4, 4)
    assert mask[0].tolist() == [[False] * 4, [False, False, True, True], [False, False, True, True], [False] * 4]
    assert torch.equal(condition[:3][:, mask[0]], torch.zeros(3, 4))
    assert torch.equal(condition[:3][:, ~mask[0]], image[:, ~mask[0]])
    assert torch.equal(condition[3], mask[0].float() * 2 - 1)


def test_default_hole_centred(tmp_path):
    files = write_faces(tmp_path / "faces", 1, size=(16, 16))
    dataset = InpaintingDataset(files, image_size=16, mask_size=8, train=False)

    item = dataset[0]

    expected_mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    expected_mask[:, 4:12, 4:12] = True
    assert torch.equal(item["mask"], expected_mask)
    assert torch.equal(item["B"], as_tensor(Image.open(files[0])))
    assert torch.equal(item["A"], masked_condition(item["B"], expected_mask))


def test_non_square_centre_cropped(tmp_path):
    files = write_faces(tmp_path / "faces", 1, size=(12, 20))
    dataset = InpaintingDataset(files, image_size=8, mask_size=4, train=False)

    expected = Image.open(files[0]).crop((0, 4, 12, 16)).resize((8, 8), Image.Resampling.BICUBIC)
    assert torch.equal(dataset[0]["B"], as_tensor(expected))


def test_jitter_only_in_training(tmp_path):
    files = write_faces(tmp_path / "faces", 1)
    torch.manual_seed(0)
    train = InpaintingDataset(files, image_size=16, mask_size=8, mask_jitter=3, train=True, flip=False)
    test = InpaintingDataset(files, image_size=16, mask_size=8, mask_jitter=3, train=False)

    train_corners = set()
    for _ in range(30):
        rows, cols = torch.nonzero(train[0]["mask"][0], as_tuple=True)
        assert len(rows) == 64
        train_corners.add((int(rows.min()), int(cols.min())))
    test_masks = [test[0]["mask"] for _ in range(5)]

    assert len(train_corners) > 3
    assert all(1 <= top <= 7 and 1 <= left <= 7 for top, left in train_corners)
    assert all(torch.equal(mask, test_masks[0]) for mask in test_masks)
    assert torch.nonzero(test_masks[0][0]).min(0).values.tolist() == [4, 4]


def test_explicit_mask_position(tmp_path):
    files = write_faces(tmp_path / "faces", 1)
    item = InpaintingDataset(files, image_size=16, mask_size=4, mask_position=(0, 12), train=False)[0]

    assert torch.nonzero(item["mask"][0]).min(0).values.tolist() == [0, 12]
    assert int(item["mask"].sum()) == 16


def test_last_images_are_test(tmp_path):
    write_faces(tmp_path / "faces", 10)
    datamodule = InpaintingDataModule(
        tmp_path / "faces", image_size=16, mask_size=8, num_test=3, val_fraction=0.2, batch_size=2, num_workers=0
    )
    datamodule.setup("fit")
    datamodule.setup("test")

    batch = next(iter(datamodule.test_dataloader()))

    assert [path.name for path in datamodule.splits()["test"]] == ["000007.png", "000008.png", "000009.png"]
    assert len(datamodule.train_dataset) == 6
    assert len(datamodule.val_dataset) == 1
    assert batch["A"].shape == (2, 4, 16, 16)
    assert batch["B"].shape == (2, 3, 16, 16)
    assert batch["A"].min() >= -1
    assert batch["A"].max() <= 1
    assert (datamodule.input_nc, datamodule.output_nc, datamodule.load_size) == (4, 3, 16)


def test_too_few_images(tmp_path):
    write_faces(tmp_path / "faces", 3)

    with pytest.raises(ValueError, match=r"contains 3 images, not more than num_test=4000.*lower num_test or give a"):
        InpaintingDataModule(tmp_path / "faces", image_size=16, mask_size=8, num_workers=0).setup("fit")


def test_split_file_one_column(tmp_path):
    write_faces(tmp_path / "faces", 5)
    (tmp_path / "test.txt").write_text("# held out\n000001.jpg\n\n000003\n")
    datamodule = InpaintingDataModule(tmp_path / "faces", split_file=tmp_path / "test.txt", num_workers=0)

    splits = datamodule.splits()

    assert [path.name for path in splits["test"]] == ["000001.png", "000003.png"]
    assert [path.name for path in splits["train"]] == ["000000.png", "000002.png", "000004.png"]
    assert splits["val"] == []


def test_split_file_celeba_partition(tmp_path):
    write_faces(tmp_path / "faces", 5)
    (tmp_path / "list_eval_partition.txt").write_text("000000.png 0\n000001.png 0\n000002.png 1\n000003.png 2\n")
    datamodule = InpaintingDataModule(
        tmp_path / "faces", image_size=16, mask_size=8, split_file=tmp_path / "list_eval_partition.txt", num_workers=0
    )
    datamodule.setup("fit")

    splits = datamodule.splits()

    assert {name: [path.name for path in files] for name, files in splits.items()} == {
        "train": ["000000.png", "000001.png"],
        "val": ["000002.png"],
        "test": ["000003.png"],
    }
    assert len(datamodule.val_dataset) == 1


def test_split_file_errors(tmp_path):
    write_faces(tmp_path / "faces", 2)

    def splits(text):
        (tmp_path / "split.txt").write_text(text)
        return InpaintingDataModule(tmp_path / "faces", split_file=tmp_path / "split.txt").splits()

    with pytest.raises(ValueError, match=r"2 name\(s\) in .*split\.txt match no image in the folder, for example"):
        splits("nobody.jpg\n000000.png\nghost.png\n")
    with pytest.raises(ValueError, match=r"Line 1 of .*split\.txt is '000000\.png holdout'; expected 'name' or"):
        splits("000000.png holdout\n")
    with pytest.raises(FileNotFoundError, match=r"Split file .*missing\.txt does not exist"):
        InpaintingDataModule(tmp_path / "faces", split_file=tmp_path / "missing.txt").splits()


def test_predict_fixed_hole(tmp_path):
    write_faces(tmp_path / "faces", 4)
    write_faces(tmp_path / "new", 2)
    datamodule = InpaintingDataModule(
        tmp_path / "faces", image_size=16, mask_size=8, mask_jitter=4, num_test=1, predict_dir=tmp_path / "new"
    )
    datamodule.setup("predict")

    item = datamodule.predict_dataset[0]

    assert item["A"].shape == (4, 16, 16)
    assert torch.nonzero(item["mask"][0]).min(0).values.tolist() == [4, 4]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mask_size": 300}, r"mask_size=300 is larger than image_size=256; use a smaller hole"),
        ({"mask_jitter": -1}, r"mask_jitter=-1 must be 0 or more pixels"),
        ({"mask_position": (0, 200)}, r"mask_position=\(0, 200\) puts a 128 px hole outside a 256 px image"),
        ({"channels": 4}, r"channels=4 must be 1 \(grayscale\) or 3 \(RGB\)"),
        ({"num_test": -1}, r"num_test=-1 must be 0 or more"),
    ],
)
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InpaintingDataModule("faces", **kwargs)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Image folder .*absent does not exist; give a folder of face images"):
        InpaintingDataModule(tmp_path / "absent").setup("fit")
