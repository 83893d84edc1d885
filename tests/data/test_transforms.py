"""pix2pix preprocessing: sizes of every mode, shared random choices, deterministic evaluation."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
from PIL import Image

from bgan_lightning.data.transforms import PairParams, PairTransform, check_preprocess, to_tensor


@pytest.mark.parametrize(
    ("preprocess", "resized", "output"),
    [
        ("resize_and_crop", (32, 32), (16, 16)),
        ("crop", (41, 23), (16, 16)),
        ("scale_width", (32, 18), (18, 32)),
        ("scale_width_and_crop", (32, 18), (16, 16)),
        ("none", (40, 24), (24, 40)),
    ],
)
def test_sizes_of_every_preprocess_mode(preprocess, resized, output):
    transform = PairTransform(preprocess, load_size=32, crop_size=16, train=False)
    image = Image.new("RGB", (41, 23))

    params = transform.sample(image.size)

    assert params.resized == resized
    assert tuple(transform.apply(image, params).shape) == (3, *output)


def test_scale_width_keeps_at_least_the_crop_height():
    transform = PairTransform("scale_width_and_crop", load_size=32, crop_size=16)

    assert transform.resized_size((64, 8)) == (32, 16)


def test_evaluation_crops_the_centre_and_never_flips():
    transform = PairTransform("resize_and_crop", load_size=10, crop_size=6, flip=True, train=False)

    draws = {transform.sample((10, 10)) for _ in range(20)}

    assert draws == {PairParams(resized=(10, 10), crop=(2, 2, 8, 8), flip=False)}


def test_training_draws_crops_inside_the_image_and_both_flips():
    transform = PairTransform("resize_and_crop", load_size=10, crop_size=6, flip=True, train=True)
    rng = random.Random(0)

    draws = [transform.sample((10, 10), rng) for _ in range(200)]

    assert {draw.crop[0] for draw in draws} == set(range(5)) and {draw.crop[1] for draw in draws} == set(range(5))
    assert all(draw.crop[2] - draw.crop[0] == 6 and draw.crop[3] - draw.crop[1] == 6 for draw in draws)
    assert {draw.flip for draw in draws} == {False, True}


def test_same_seed_gives_the_same_choices():
    transform = PairTransform("resize_and_crop", load_size=20, crop_size=8)

    first = [transform.sample((20, 20), random.Random(3)) for _ in range(3)]
    second = [transform.sample((20, 20), random.Random(3)) for _ in range(3)]

    assert first == second


def test_flip_false_never_flips():
    transform = PairTransform("resize_and_crop", load_size=10, crop_size=6, flip=False, train=True)

    assert not any(transform.sample((10, 10)).flip for _ in range(50))


def test_apply_crops_and_flips_exactly():
    array = np.arange(8 * 8, dtype=np.uint8).reshape(8, 8) * 3
    image = Image.fromarray(array)
    transform = PairTransform("crop", load_size=8, crop_size=4)

    tensor = transform.apply(image, PairParams(resized=(8, 8), crop=(1, 2, 5, 6), flip=True))

    expected = torch.from_numpy(array[2:6, 1:5][:, ::-1].copy()).float()[None] / 127.5 - 1
    assert torch.equal(tensor, expected)


def test_to_tensor_maps_bytes_to_minus_one_one():
    image = Image.fromarray(np.array([[[0, 255, 51]]], dtype=np.uint8))

    tensor = to_tensor(image)

    assert tensor.shape == (3, 1, 1) and tensor.dtype == torch.float32
    assert tensor.flatten().tolist() == pytest.approx([-1.0, 1.0, 51 / 127.5 - 1])
    assert to_tensor(image.convert("L")).shape == (1, 1, 1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("zoom", 286, 256), "preprocess='zoom' is not one of ['resize_and_crop', 'crop', 'scale_width', "),
        (("crop", 0, 256), "load_size=0 and crop_size=256 must both be positive."),
        (("resize_and_crop", 256, 286), "crop_size=286 is larger than load_size=256: images are resized to load_size"),
        (("scale_width_and_crop", 256, 286), "crop_size=286 is larger than load_size=256"),
    ],
)
def test_bad_settings_are_named(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_preprocess(*arguments)


def test_crop_only_ignores_the_load_size():
    check_preprocess("crop", 8, 256)
