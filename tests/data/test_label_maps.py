"""One-hot label maps, instance boundaries and their file loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.data.image_files import InvalidImageError
from bgan_lightning.data.label_maps import (
    instance_boundaries,
    load_label_condition,
    one_hot_labels,
    resize_nearest,
    transform_ids,
)
from bgan_lightning.data.transforms import PairParams


def test_one_hot_marks_class_channel():
    labels = np.array([[0, 1], [2, 2]])

    one_hot = one_hot_labels(labels, label_nc=3)

    assert one_hot.shape == (3, 2, 2)
    assert one_hot.dtype == torch.float32
    assert torch.equal(one_hot.sum(0), torch.ones(2, 2))
    assert torch.equal(one_hot.argmax(0), torch.from_numpy(labels))


def test_label_at_label_nc_raises():
    labels = np.array([[0, 5], [1, 2]])

    with pytest.raises(
        ValueError, match=r"Label map city/a\.png contains class id 5, but label_nc=5 allows ids 0\.\.4"
    ):
        one_hot_labels(labels, label_nc=5, path="city/a.png")


def test_negative_label_raises():
    with pytest.raises(ValueError, match="contains negative class id -1"):
        one_hot_labels(np.array([[-1, 0]]), label_nc=3)


def test_instance_boundaries_both_sides():
    instances = np.array(
        [
            [1, 1, 1, 1],
            [1, 2, 2, 1],
            [1, 1, 1, 1],
        ]
    )

    edges = instance_boundaries(instances)

    expected = torch.tensor(
        [
            [0, 1, 1, 0],
            [1, 1, 1, 1],
            [0, 1, 1, 0],
        ],
        dtype=torch.float32,
    )
    assert edges.shape == (1, 3, 4)
    assert torch.equal(edges[0], expected)


def test_diagonal_neighbours_no_boundary():
    instances = np.array([[1, 2], [3, 1]])

    # Every pixel has a different 4-neighbour here; a single-id map has none.
    assert instance_boundaries(instances).sum() == 4
    assert instance_boundaries(np.full((3, 3), 7)).sum() == 0


def test_nearest_resize_keeps_ids():
    ids = np.array([[0, 26000], [26001, 33]])

    resized = resize_nearest(ids, (5, 3))

    assert resized.shape == (3, 5)
    assert set(np.unique(resized)) == {0, 26000, 26001, 33}


def test_transform_ids_crops_then_flips():
    ids = np.arange(16).reshape(4, 4)
    params = PairParams(resized=(4, 4), crop=(1, 0, 3, 2), flip=True)

    assert transform_ids(ids, params).tolist() == [[2, 1], [6, 5]]


def test_load_condition_boundary_channel(tmp_path):
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], dtype=np.uint8)
    instances = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], dtype=np.uint16)
    Image.fromarray(labels).save(tmp_path / "labels.png")
    Image.fromarray(instances).save(tmp_path / "instances.png")

    condition = load_label_condition(tmp_path / "labels.png", 3, tmp_path / "instances.png")

    assert condition.shape == (4, 2, 4)
    assert torch.equal(condition[:3].argmax(0), torch.from_numpy(labels.astype(np.int64)))
    assert condition[3].tolist() == [[0, 1, 1, 1], [0, 1, 1, 1]]


def test_load_condition_out_of_range_label(tmp_path):
    Image.fromarray(np.array([[0, 40]], dtype=np.uint8)).save(tmp_path / "bad.png")

    with pytest.raises(ValueError, match=r"bad\.png contains class id 40, but label_nc=35"):
        load_label_condition(tmp_path / "bad.png", 35)


def test_load_condition_instance_size_mismatch(tmp_path):
    Image.fromarray(np.zeros((2, 4), dtype=np.uint8)).save(tmp_path / "labels.png")
    Image.fromarray(np.zeros((2, 3), dtype=np.uint8)).save(tmp_path / "instances.png")

    with pytest.raises(ValueError, match=r"instances\.png is 3x2 but label map .*labels\.png is 4x2"):
        load_label_condition(tmp_path / "labels.png", 3, tmp_path / "instances.png")


def test_colour_label_image_is_rejected(tmp_path):
    Image.new("RGB", (4, 2)).save(tmp_path / "colour.png")

    with pytest.raises(InvalidImageError, match="has mode RGB"):
        load_label_condition(tmp_path / "colour.png", 3)
