"""Label-map conditions as pix2pixHD uses them: one-hot class maps plus an optional instance-boundary channel.

A label image stores one integer class id per pixel, and an instance image one integer instance id per pixel
(Cityscapes stores ``class_id * 1000 + index`` for countable objects and the class id elsewhere). The condition
given to the generator is the one-hot encoding of the classes, and, when instances are used, one more channel
that is 1 on instance boundaries, so that neighbouring objects of one class stay apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from bgan_lightning.data.image_files import load_label_map
from bgan_lightning.data.transforms import PairParams


def check_label_range(labels: np.ndarray, label_nc: int, path: Path | str) -> None:
    """Check that every class id of a label map lies in ``[0, label_nc)``.

    Args:
        labels: (H, W) integer array of class ids.
        label_nc: Number of classes of the one-hot encoding.
        path: File the labels came from, named in the error.

    Raises:
        ValueError: A class id is negative or at least ``label_nc``.
    """
    if labels.size == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if high >= label_nc:
        raise ValueError(
            f"Label map {path} contains class id {high}, but label_nc={label_nc} allows ids 0..{label_nc - 1}; "
            f"set label_nc to at least {high + 1} or fix the label file."
        )
    if low < 0:
        raise ValueError(f"Label map {path} contains negative class id {low}; class ids must be 0..{label_nc - 1}.")


def one_hot_labels(labels: np.ndarray, label_nc: int, path: Path | str = "<array>") -> Tensor:
    """Encode a map of class ids as one channel per class.

    Args:
        labels: (H, W) integer array of class ids in ``[0, label_nc)``.
        label_nc: Number of classes.
        path: File the labels came from, named in the error.

    Returns:
        (label_nc, H, W) float32 tensor, 1 where the pixel has that class and 0 elsewhere.

    Raises:
        ValueError: A class id is outside ``[0, label_nc)``.
    """
    check_label_range(labels, label_nc, path)

    index = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    one_hot = torch.zeros(label_nc, *index.shape, dtype=torch.float32)
    one_hot.scatter_(0, index.unsqueeze(0), 1.0)
    return one_hot


def instance_boundaries(instances: np.ndarray) -> Tensor:
    """Mark the pixels that touch another instance.

    A pixel is a boundary pixel if any of its four neighbours (up, down, left, right) has a different instance
    id. Pixels at the image border are compared only with the neighbours that exist.

    Args:
        instances: (H, W) integer array of instance ids.

    Returns:
        (1, H, W) float32 tensor, 1 on boundaries and 0 elsewhere.
    """
    ids = torch.from_numpy(np.ascontiguousarray(instances, dtype=np.int64))
    edge = torch.zeros(ids.shape, dtype=torch.bool)

    vertical = ids[1:, :] != ids[:-1, :]
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical

    horizontal = ids[:, 1:] != ids[:, :-1]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    return edge.unsqueeze(0).float()


def resize_nearest(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an integer id map with nearest-neighbour sampling, so no new ids appear between classes.

    Args:
        ids: (H, W) integer array.
        size: Target (width, height).

    Returns:
        (height, width) int64 array.
    """
    if (ids.shape[1], ids.shape[0]) == tuple(size):
        return ids.astype(np.int64, copy=False)
    # Mode "I" stores 32-bit signed integers, enough for Cityscapes instance ids (class * 1000 + index).
    image = Image.fromarray(ids.astype(np.int32), mode="I")
    return np.asarray(image.resize(tuple(size), Image.Resampling.NEAREST)).astype(np.int64)


def transform_ids(ids: np.ndarray, params: PairParams) -> np.ndarray:
    """Apply a pair transform's resize, crop and flip to an integer id map, resizing with nearest neighbours.

    Args:
        ids: (H, W) integer array.
        params: Choices drawn by :meth:`bgan_lightning.data.transforms.PairTransform.sample`, shared with the
            photo of the same item.

    Returns:
        (H', W') int64 array.
    """
    ids = resize_nearest(ids, params.resized)
    if params.crop is not None:
        left, top, right, bottom = params.crop
        ids = ids[top:bottom, left:right]
    if params.flip:
        ids = ids[:, ::-1]
    return ids


def load_label_condition(
    label_path: Path,
    label_nc: int,
    instance_path: Path | None = None,
    params: PairParams | None = None,
) -> Tensor:
    """Read a label image (and an instance image) into the generator's condition.

    Args:
        label_path: Integer class-id image.
        label_nc: Number of classes.
        instance_path: Integer instance-id image of the same size; when given, a boundary channel is appended.
        params: Optional resize, crop and flip to apply to both maps (nearest-neighbour resizing); boundaries are
            found after the transform, at the output resolution.

    Returns:
        (label_nc, H, W) float32 tensor of 0 and 1, or (label_nc + 1, H, W) with instances; the last channel is
        1 on instance boundaries.

    Raises:
        ValueError: A class id is outside ``[0, label_nc)``, or the two maps differ in size.
        InvalidImageError: A file cannot be decoded or is a colour image.
    """
    labels = load_label_map(label_path)
    instances = None if instance_path is None else load_label_map(instance_path)
    if instances is not None and instances.shape != labels.shape:
        raise ValueError(
            f"Instance map {instance_path} is {instances.shape[1]}x{instances.shape[0]} but label map {label_path} "
            f"is {labels.shape[1]}x{labels.shape[0]}; both must have the same size."
        )

    maps = [labels] if instances is None else [labels, instances]
    if params is not None:
        maps = [transform_ids(ids, params) for ids in maps]

    condition = one_hot_labels(maps[0], label_nc, label_path)
    if instances is None:
        return condition
    return torch.cat([condition, instance_boundaries(maps[1])], dim=0)
