"""Conversion between the internal image convention and files: NCHW float in [-1, 1] <-> uint8 PNG.

Everything inside the package works on float tensors in [-1, 1]. Only writers and metric boundaries convert,
and they all go through :func:`to_uint8` so that rounding is the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from bgan_lightning.atomic_file import atomic_file


def to_uint8(images: Tensor) -> Tensor:
    """Convert images in [-1, 1] to uint8 in [0, 255], rounding to the nearest level.

    Args:
        images: (..., C, H, W) float tensor in [-1, 1]; values outside are clipped.

    Returns:
        Tensor of the same shape, dtype uint8, on the CPU.
    """
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def from_uint8(images: Tensor) -> Tensor:
    """Convert uint8 images in [0, 255] to float32 in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def to_display(image: Tensor) -> Tensor:
    """Turn any condition or image (C, H, W) in [-1, 1] into an RGB image (3, H, W) in [-1, 1] for viewing.

    One channel is repeated, three are kept, two or four (an image plus an inpainting mask) keep the image
    channels, and more than four (one-hot label maps, with or without an instance-boundary channel) are shown
    as the arg-max class in a fixed colour per class.
    """
    channels = image.shape[0]
    if channels == 1:
        return image.expand(3, -1, -1)
    if channels == 3:
        return image
    if channels == 2:
        return image[:1].expand(3, -1, -1)
    if channels == 4:
        return image[:3]
    labels = image.argmax(dim=0)  # (H, W)
    palette = torch.Generator().manual_seed(0)
    colours = torch.rand(channels, 3, generator=palette) * 2 - 1  # (C, 3) in [-1, 1]
    return colours.to(image.device)[labels].permute(2, 0, 1)


def make_grid(rows: list[list[Tensor]], padding: int = 2) -> Tensor:
    """Tile images into one uint8 image, one list per row.

    Args:
        rows: Rows of (C, H, W) images in [-1, 1], all of one height and width, each shown through
            :func:`to_display`.
        padding: White pixels between tiles.

    Returns:
        (3, H_grid, W_grid) uint8 tensor.
    """
    if not rows or not rows[0]:
        raise ValueError("make_grid needs at least one row with at least one image.")
    height, width = rows[0][0].shape[-2:]
    num_cols = max(len(row) for row in rows)
    grid = torch.full(
        (3, len(rows) * (height + padding) + padding, num_cols * (width + padding) + padding), 255, dtype=torch.uint8
    )
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            if image.shape[-2:] != (height, width):
                raise ValueError(f"All grid tiles must be {height}x{width}, got {tuple(image.shape[-2:])}.")
            tile = to_uint8(to_display(image))
            top = padding + r * (height + padding)
            left = padding + c * (width + padding)
            grid[:, top : top + height, left : left + width] = tile
    return grid


def save_png(image: Tensor, path: str | Path) -> Path:
    """Write a (C, H, W) image to a PNG file atomically, so a crash never leaves a half-written file.

    Args:
        image: (C, H, W) uint8 tensor, or a float tensor in [-1, 1] which is converted with :func:`to_uint8`.
        path: Destination; parent folders are created.

    Returns:
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.dtype != torch.uint8:
        image = to_uint8(image)
    array = image.permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        array = array[:, :, 0]
    with atomic_file(path, "wb") as handle:
        Image.fromarray(np.ascontiguousarray(array)).save(handle, format="PNG")
    return path
