"""Cityscapes in its original layout, on tiny generated folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.data.cityscapes import CityscapesDataModule, find_cityscapes_split
from bgan_lightning.data.image_files import InvalidImageError

WIDTH, HEIGHT = 16, 8


def frame_arrays(seed):
    """Labels: class 7 (road) on the left half, 26 (car) on the right; two car instances; photo dark/bright."""
    labels = np.full((HEIGHT, WIDTH), 7, dtype=np.uint8)
    labels[:, WIDTH // 2 :] = 26
    instances = labels.astype(np.uint16)
    instances[:, WIDTH // 2 :] = 26000
    instances[HEIGHT // 2 :, WIDTH // 2 :] = 26001
    photo = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    photo[:, WIDTH // 2 :] = 200 + seed
    return labels, instances, photo


def write_frame(root, split, city, index, labels=None, instance=True, photo=True, size=None):
    default_labels, instances, image = frame_arrays(index)
    labels = default_labels if labels is None else labels
    stem = f"{city}_000000_{index:06d}"
    gt = root / "gtFine" / split / city
    gt.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels).save(gt / f"{stem}_gtFine_labelIds.png")
    if instance:
        Image.fromarray(instances).save(gt / f"{stem}_gtFine_instanceIds.png")
    if photo:
        left = root / "leftImg8bit" / split / city
        left.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        if size is not None:
            picture = picture.resize(size)
        picture.save(left / f"{stem}_leftImg8bit.png")
    return gt / f"{stem}_gtFine_labelIds.png"


@pytest.fixture
def cityscapes(tmp_path):
    root = tmp_path / "cityscapes"
    for index in range(3):
        write_frame(root, "train", "aachen" if index < 2 else "bochum", index)
    write_frame(root, "val", "frankfurt", 10)
    return root


def small(root, **kwargs):
    options = {"load_size": 8, "crop_size": 4, "batch_size": 2, "num_workers": 0}
    return CityscapesDataModule(root, **{**options, **kwargs})


def test_cityscapes_batch_contents(cityscapes):
    datamodule = small(cityscapes)
    datamodule.setup("fit")

    batch = next(iter(datamodule.train_dataloader()))

    assert (datamodule.input_nc, datamodule.output_nc, datamodule.dataset_name) == (36, 3, "cityscapes")
    assert batch["A"].shape == (2, 36, 4, 8)
    assert batch["B"].shape == (2, 3, 4, 8)
    assert set(batch["A"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(batch["A"][:, :35].sum(1), torch.ones(2, 4, 8))
    assert len(datamodule.train_dataset) == 3
    assert len(datamodule.val_dataset) == 1


def test_flip_keeps_maps_aligned(cityscapes):
    datamodule = small(cityscapes)
    datamodule.setup("fit")
    torch.manual_seed(0)

    car_on_left = set()
    for _ in range(8):
        item = datamodule.train_dataset[0]
        classes = item["A"][:35].argmax(0)
        car = classes == 26
        car_on_left.add(bool(car[0, 0]))
        assert set(classes.unique().tolist()) == {7, 26}
        assert torch.equal(car, item["B"][0] > 0)
        # Boundaries: both columns beside the road/car edge, and both rows beside the edge of the two cars.
        boundary = item["A"][35].bool()
        assert boundary[:, 3:5].all()
        assert boundary[1:3][car[1:3]].all()
        assert boundary.sum() == 4 * 2 + 2 * 3
    assert car_on_left == {False, True}


def test_eval_deterministic_on_val(cityscapes):
    datamodule = small(cityscapes)
    datamodule.setup("test")

    first, again = datamodule.test_dataset[0], datamodule.test_dataset[0]

    assert torch.equal(first["A"], again["A"])
    assert torch.equal(first["B"], again["B"])
    assert first["path"].endswith("gtFine/val/frankfurt/frankfurt_000000_000010_gtFine_labelIds.png")
    assert torch.equal(first["A"][:35].argmax(0)[:, :4], torch.full((4, 4), 7))


def test_without_instances_channels(cityscapes):
    datamodule = small(cityscapes, use_instance=False, label_nc=30)
    datamodule.setup("test")

    assert datamodule.input_nc == 30
    assert datamodule.test_dataset[0]["A"].shape == (30, 4, 8)


def test_default_size_1024x512(cityscapes):
    datamodule = CityscapesDataModule(cityscapes, num_workers=0)

    assert datamodule._transform(train=False).resized_size((2048, 1024)) == (1024, 512)


def test_label_at_label_nc_at_setup(cityscapes):
    labels = np.full((HEIGHT, WIDTH), 35, dtype=np.uint8)
    bad = write_frame(cityscapes, "train", "bochum", 5, labels=labels)

    with pytest.raises(ValueError, match=rf"Label map {bad} contains class id 35, but label_nc=35 allows ids 0\.\.34"):
        small(cityscapes).setup("fit")

    datamodule = small(cityscapes, verify_images=False)
    datamodule.setup("fit")
    index = [frame.label for frame in datamodule.train_dataset.frames].index(bad)
    with pytest.raises(ValueError, match="contains class id 35, but label_nc=35"):
        datamodule.train_dataset[index]


def test_missing_photo_and_instance(cityscapes):
    write_frame(cityscapes, "train", "aachen", 7, photo=False)
    with pytest.raises(ValueError, match=r"1 frame\(s\) in .*gtFine/train have no photo in .*aachen_000000_000007"):
        find_cityscapes_split(cityscapes, "train")

    write_frame(cityscapes, "val", "frankfurt", 8, instance=False)
    with pytest.raises(ValueError, match=r"no _gtFine_instanceIds\.png file \(set use_instance=False"):
        find_cityscapes_split(cityscapes, "val")
    assert len(find_cityscapes_split(cityscapes, "val", use_instance=False)) == 2


def test_photo_size_mismatch(cityscapes):
    write_frame(cityscapes, "train", "aachen", 9, size=(8, 4))

    with pytest.raises(InvalidImageError, match=r"differ in size: .*labelIds\.png 16x8, .*leftImg8bit\.png 8x4"):
        small(cityscapes).setup("fit")


def test_missing_folders_show_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Cityscapes folder .*nowhere does not exist\. Expected the original"):
        find_cityscapes_split(tmp_path / "nowhere", "train")

    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"gtFine/train does not exist\. Expected the original Cityscapes"):
        find_cityscapes_split(tmp_path / "empty", "train")
    assert find_cityscapes_split(tmp_path / "empty", "test") is None


def test_predict_label_maps_only(cityscapes, tmp_path):
    labels_only = tmp_path / "labels_only"
    write_frame(labels_only, "demo", "x", 1, photo=False)
    datamodule = small(cityscapes, predict_dir=labels_only)
    datamodule.setup("predict")

    item = datamodule.predict_dataset[0]

    assert item["A"].shape == (36, 4, 8)
    assert "B" not in item


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="label_nc=0 must be at least 1"):
        CityscapesDataModule(tmp_path, label_nc=0)
    with pytest.raises(ValueError, match="test_split='holdout' must be 'train', 'val' or 'test'"):
        CityscapesDataModule(tmp_path, test_split="holdout")
