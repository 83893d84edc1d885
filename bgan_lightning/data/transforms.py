"""pix2pix preprocessing: resize, crop and flip applied identically to a condition and its target.

A :class:`PairTransform` draws its random choices (crop position, flip) once per item with
:meth:`PairTransform.sample` and then applies the same choices to every image of that item, so a condition
and its target stay aligned pixel for pixel. With ``train=False`` the crop is centred and nothing is flipped,
which makes validation, test and prediction deterministic.

Preprocess modes, as in pix2pix (Isola et al., CVPR 2017):

- ``resize_and_crop``: resize to ``load_size`` x ``load_size``, then crop ``crop_size`` x ``crop_size``.
- ``crop``: crop ``crop_size`` x ``crop_size`` from the image at its own size.
- ``scale_width``: scale the width to ``load_size`` keeping the aspect ratio (height at least ``crop_size``).
- ``scale_width_and_crop``: ``scale_width``, then crop ``crop_size`` x ``crop_size``.
- ``none``: keep the size, rounded to a multiple of 4 so the two stride-2 stages of the generators fit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image
from torch import Tensor

Preprocess = Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"]
PREPROCESS_MODES: tuple[str, ...] = get_args(Preprocess)

# Sizes produced by preprocess "none" are rounded to this multiple (two stride-2 downsamplings).
SIZE_MULTIPLE = 4


@dataclass(frozen=True)
class PairParams:
    """Choices shared by all images of one item: size after resizing, crop box and flip."""

    resized: tuple[int, int]
    crop: tuple[int, int, int, int] | None
    flip: bool


def check_preprocess(preprocess: str, load_size: int, crop_size: int) -> None:
    """Check a preprocess mode and its sizes when a data module is built.

    Raises:
        ValueError: Unknown mode, a size below 1, or a crop larger than the resized image.
    """
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"preprocess={preprocess!r} is not one of {list(PREPROCESS_MODES)}.")
    if load_size < 1 or crop_size < 1:
        raise ValueError(f"load_size={load_size} and crop_size={crop_size} must both be positive.")
    if preprocess in ("resize_and_crop", "scale_width_and_crop") and crop_size > load_size:
        raise ValueError(
            f"crop_size={crop_size} is larger than load_size={load_size}: images are resized to load_size "
            f"before a crop_size crop. Set crop_size <= load_size (pix2pix uses load_size=286, crop_size=256)."
        )


class PairTransform:
    """Resize, crop and flip PIL images of one item with shared random choices, then scale to [-1, 1].

    Args:
        preprocess: One of :data:`PREPROCESS_MODES` (see the module docstring).
        load_size: Side (``resize_and_crop``) or width (``scale_width*``) after resizing.
        crop_size: Side of the square crop.
        flip: Flip horizontally with probability 0.5 when ``train`` is True.
        train: Random crop position and flip; otherwise a centred crop and no flip.
    """

    def __init__(
        self, preprocess: Preprocess, load_size: int, crop_size: int, flip: bool = True, train: bool = True
    ) -> None:
        check_preprocess(preprocess, load_size, crop_size)
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = flip
        self.train = train

    def resized_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Return the (width, height) an image of (width, height) ``size`` has after the resize step."""
        width, height = size
        if self.preprocess == "resize_and_crop":
            return self.load_size, self.load_size
        if self.preprocess in ("scale_width", "scale_width_and_crop"):
            return self.load_size, max(round(self.load_size * height / width), self.crop_size)
        if self.preprocess == "none":
            return (
                max(SIZE_MULTIPLE, round(width / SIZE_MULTIPLE) * SIZE_MULTIPLE),
                max(SIZE_MULTIPLE, round(height / SIZE_MULTIPLE) * SIZE_MULTIPLE),
            )
        return width, height

    def crops(self) -> bool:
        """Whether this mode crops ``crop_size`` x ``crop_size`` after resizing."""
        return self.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop")

    def fits(self, size: tuple[int, int]) -> bool:
        """Whether an image of (width, height) ``size`` is large enough for the crop."""
        width, height = self.resized_size(size)
        return not self.crops() or (width >= self.crop_size and height >= self.crop_size)

    def sample(self, size: tuple[int, int], rng: random.Random | None = None) -> PairParams:
        """Draw the crop position and flip for an image of (width, height) ``size``.

        Args:
            size: Size of the images of the item before resizing.
            rng: Source of randomness; Python's global ``random`` module when None, which DataLoader seeds
                differently in every worker.
        """
        rng = rng or random
        width, height = self.resized_size(size)
        crop = None
        if self.crops():
            if self.train:
                left = rng.randint(0, max(0, width - self.crop_size))
                top = rng.randint(0, max(0, height - self.crop_size))
            else:
                left = (width - self.crop_size) // 2
                top = (height - self.crop_size) // 2
            crop = (left, top, left + self.crop_size, top + self.crop_size)
        flip = self.train and self.flip and rng.random() < 0.5
        return PairParams(resized=(width, height), crop=crop, flip=flip)

    def apply(self, image: Image.Image, params: PairParams) -> Tensor:
        """Resize, crop and flip one PIL image with ``params`` and return it as a tensor.

        Args:
            image: 8-bit grayscale ("L") or RGB PIL image.
            params: Choices from :meth:`sample`.

        Returns:
            (C, H, W) float32 tensor in [-1, 1], C = 1 for grayscale and 3 for RGB.
        """
        if image.size != params.resized:
            image = image.resize(params.resized, Image.Resampling.BICUBIC)
        if params.crop is not None:
            image = image.crop(params.crop)
        if params.flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(image)


def to_tensor(image: Image.Image) -> Tensor:
    """Turn an 8-bit "L" or "RGB" PIL image into a (C, H, W) float32 tensor in [-1, 1]."""
    # NumPy does the arithmetic on one thread; torch's intra-op threads only add overhead for one image.
    array = np.asarray(image, dtype=np.uint8).astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
