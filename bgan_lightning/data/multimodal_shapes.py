"""``multimodal_shapes``: a built-in dataset whose conditional distribution has exactly M known modes.

Each condition is the one-pixel outline of a random convex shape: a circle, square, triangle, diamond or
hexagon at a random position, size and rotation. Its target is the same shape filled with one of M palette
colours on a fixed background, the colour chosen uniformly and independently of the shape. So for every
condition the correct outputs are exactly the M fillings, each with probability 1/M. A metric can count how
many of the M modes a model produces for one input by classifying the colour inside the shape.

Batches carry, besides ``"A"``, ``"B"`` and ``"path"``:

- ``"mode"``: (N,) int64, the palette index of the target's colour;
- ``"region"``: (N, 1, H, W) bool, the pixels the outline encloses (outline included), which the target fills.

The shape geometry and modes are generated from a seed into the built-in cache on first use; colours are
applied when the data is read, so a different palette or background needs no new files.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from bgan_lightning.data.base import ConditionalImageDataModule
from bgan_lightning.data.builtin_cache import SPLITS as SPLITS
from bgan_lightning.data.builtin_cache import InMemoryPairs, cached_dataset, split_counts, split_generators

SHAPES = ("circle", "square", "triangle", "diamond", "hexagon")
# Vertices of the polygon shapes, and the angle of the first vertex before the random rotation.
_POLYGONS = {"square": (4, math.pi / 4), "triangle": (3, math.pi / 2), "diamond": (4, 0.0), "hexagon": (6, 0.0)}
GENERATOR_VERSION = 1

# Well-separated colours; palettes with more modes continue with evenly spaced hues.
BASE_PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (128, 128, 0),
)
DEFAULT_BACKGROUND = (255, 255, 255)

RGB = tuple[int, int, int]


def default_palette(num_modes: int) -> list[RGB]:
    """Return ``num_modes`` distinct colours: :data:`BASE_PALETTE` first, then evenly spaced hues."""
    palette = list(BASE_PALETTE[:num_modes])
    extra = num_modes - len(palette)
    for index in range(extra):
        red, green, blue = colorsys.hsv_to_rgb((index + 0.5) / extra, 0.8, 0.6)
        palette.append((round(red * 255), round(green * 255), round(blue * 255)))
    return palette


def shape_region(kind: str, size: int, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """Rasterise a filled shape: a pixel belongs to it when its centre lies inside.

    Args:
        kind: One of :data:`SHAPES`.
        size: Image side in pixels.
        centre: (x, y) of the shape's centre in pixels.
        radius: Distance from the centre to the circle or to the polygon's vertices, in pixels.
        angle: Rotation of the polygon in radians.

    Returns:
        (size, size) bool array.
    """
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = xs - centre[0], ys - centre[1]
    if kind == "circle":
        return dx**2 + dy**2 <= radius**2

    num_vertices, start = _POLYGONS[kind]
    angles = start + angle + 2 * math.pi * np.arange(num_vertices) / num_vertices
    vertices = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius

    # A convex polygon with counter-clockwise vertices contains the points left of (or on) every edge.
    inside = np.ones((size, size), dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        inside &= (x1 - x0) * (dy - y0) - (y1 - y0) * (dx - x0) >= 0
    return inside


def outline_of(region: np.ndarray) -> np.ndarray:
    """Return the pixels of ``region`` (..., H, W) that have a 4-neighbour outside it or lie on the image border."""
    padded = np.pad(region, [(0, 0)] * (region.ndim - 2) + [(1, 1), (1, 1)], constant_values=False)
    interior = padded[..., :-2, 1:-1] & padded[..., 2:, 1:-1] & padded[..., 1:-1, :-2] & padded[..., 1:-1, 2:]
    return region & ~interior


def generate_shapes(count: int, size: int, num_modes: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``count`` shapes and their fill modes.

    The radius is drawn between 0.2 and 0.4 of the image side and the centre so that the shape stays at least
    one pixel inside the image.

    Returns:
        ``"region"`` (count, size, size) bool, ``"mode"`` (count,) int64 in [0, num_modes) and ``"shape"``
        (count,) int64 indices into :data:`SHAPES`.
    """
    regions = np.zeros((count, size, size), dtype=bool)
    kinds = rng.integers(0, len(SHAPES), size=count)
    modes = rng.integers(0, num_modes, size=count)
    for index in range(count):
        radius = rng.uniform(0.2, 0.4) * size
        centre = (rng.uniform(radius + 1, size - radius - 1), rng.uniform(radius + 1, size - radius - 1))
        angle = rng.uniform(0, 2 * math.pi)
        regions[index] = shape_region(SHAPES[kinds[index]], size, centre, radius, angle)
    return {"region": regions, "mode": modes.astype(np.int64), "shape": kinds.astype(np.int64)}


def multimodal_shapes_folder(
    size: int = 32,
    num_modes: int = 4,
    num_train: int = 2000,
    num_val: int = 100,
    num_test: int = 100,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> Path:
    """Return the folder of the shapes set with these parameters, generating it on first use.

    Returns:
        A folder with ``train.npz``, ``val.npz`` and ``test.npz``, each holding the arrays of
        :func:`generate_shapes`.
    """
    if size < 8:
        raise ValueError(f"size={size} is too small to draw shapes; use at least 8 pixels.")
    if num_modes < 1:
        raise ValueError(f"num_modes={num_modes} must be at least 1.")
    counts = split_counts(num_train, num_val, num_test, "item")

    def build(folder: Path) -> None:
        for split, rng in split_generators(seed):
            arrays = generate_shapes(counts[split], size, num_modes, rng)
            np.savez_compressed(folder / f"{split}.npz", **arrays)

    params = {"version": GENERATOR_VERSION, "size": size, "num_modes": num_modes, "counts": counts, "seed": seed}
    name = (
        f"multimodal_shapes_v{GENERATOR_VERSION}_{size}px_{num_modes}modes_{num_train}-{num_val}-{num_test}_seed{seed}"
    )
    return cached_dataset(name, params, build, cache_dir)


def render(
    region: Tensor, mode: Tensor, palette: Sequence[RGB], background: RGB, input_nc: int = 1
) -> tuple[Tensor, Tensor]:
    """Draw conditions (outlines) and targets (filled shapes) from regions and modes.

    Args:
        region: (N, H, W) bool.
        mode: (N,) int64 palette indices.
        palette: RGB uint8 colours.
        background: RGB uint8 colour outside the shapes.
        input_nc: Channels of the condition (1 or 3, all equal).

    Returns:
        Conditions (N, input_nc, H, W), 1 on the outline and -1 elsewhere, and targets (N, 3, H, W), both
        float32 in [-1, 1].
    """
    outline = torch.from_numpy(outline_of(region.numpy()))
    conditions = (outline.float() * 2 - 1).unsqueeze(1).expand(-1, input_nc, -1, -1).contiguous()

    colours = torch.tensor(palette, dtype=torch.float32) / 127.5 - 1  # (M, 3)
    fill = colours[mode][:, :, None, None]  # (N, 3, 1, 1)
    back = (torch.tensor(background, dtype=torch.float32) / 127.5 - 1)[None, :, None, None]
    targets = torch.where(region.unsqueeze(1), fill, back)
    return conditions, targets


class MultimodalShapesDataModule(ConditionalImageDataModule):
    """Shape outlines to shapes filled with one of M colours; the ground-truth mode of every target is known.

    Attributes:
        palette: The M fill colours, RGB uint8 tuples; ``batch["mode"]`` indexes it.
        background: RGB uint8 colour outside the shapes.

    Args:
        size: Image side in pixels.
        num_modes: Number of fill colours M, each chosen with probability 1/M.
        num_train: Training items.
        num_val: Validation items.
        num_test: Test items.
        seed: Seed of the shapes and modes; the same seed always gives the same data.
        palette: M RGB colours; None uses :func:`default_palette`.
        background: RGB colour of the background; it must differ from every palette colour.
        input_nc: Channels of the outline condition, 1 or 3.
        flip: Mirror training items left to right with probability 0.5.
        cache_dir: Cache root; default ``$BGAN_DATA_DIR``, else ``~/.cache/bgan_lightning/datasets``.
        batch_size: Items per batch.
        num_workers: DataLoader workers; 0 suits this small in-memory set.
        pin_memory: Pin batches in page-locked memory.
    """

    def __init__(
        self,
        size: int = 32,
        num_modes: int = 4,
        num_train: int = 2000,
        num_val: int = 100,
        num_test: int = 100,
        seed: int = 0,
        palette: list[tuple[int, int, int]] | None = None,
        background: tuple[int, int, int] = DEFAULT_BACKGROUND,
        input_nc: int = 1,
        flip: bool = False,
        cache_dir: str | Path | None = None,
        batch_size: int = 16,
        num_workers: int | None = 0,
        pin_memory: bool = False,
    ) -> None:
        if input_nc not in (1, 3):
            raise ValueError(f"input_nc={input_nc} must be 1 or 3 for outline conditions.")
        palette = default_palette(num_modes) if palette is None else [tuple(colour) for colour in palette]
        check_colours(palette, tuple(background), num_modes)
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            val_fraction=0.0,
            split_seed=seed,
            dataset_name="multimodal_shapes",
            load_size=size,
            crop_size=size,
            input_nc=input_nc,
            output_nc=3,
        )
        self.size = size
        self.num_modes = num_modes
        self.counts = {"train": num_train, "val": num_val, "test": num_test}
        self.seed = seed
        self.palette: list[RGB] = palette
        self.background: RGB = tuple(background)
        self.flip = flip
        self.cache_dir = cache_dir

    def folder(self) -> Path:
        """Return the generated dataset's folder, generating it if needed."""
        counts = self.counts
        return multimodal_shapes_folder(
            self.size, self.num_modes, counts["train"], counts["val"], counts["test"], self.seed, self.cache_dir
        )

    def prepare_data(self) -> None:
        self.folder()

    def build_dataset(self, split: str, train: bool) -> Dataset:
        with np.load(self.folder() / f"{split}.npz") as arrays:
            region = torch.from_numpy(arrays["region"])
            mode = torch.from_numpy(arrays["mode"])
        conditions, targets = render(region, mode, self.palette, self.background, self.input_nc)
        names = [f"multimodal_shapes/{split}/{index:05d}" for index in range(len(mode))]
        extras = {"mode": mode, "region": region.unsqueeze(1)}
        return InMemoryPairs(conditions, targets, names, flip=train and self.flip, extras=extras)


def check_colours(palette: Sequence[tuple[int, ...]], background: tuple[int, ...], num_modes: int) -> None:
    """Check that the palette has ``num_modes`` distinct RGB uint8 colours, none equal to the background.

    Raises:
        ValueError: The palette has the wrong length, a repeated colour, a value outside 0..255 or the
            background colour.
    """
    if len(palette) != num_modes:
        raise ValueError(f"palette has {len(palette)} colours but num_modes={num_modes}; give one colour per mode.")
    for colour in (*palette, background):
        if len(colour) != 3 or not all(isinstance(value, int) and 0 <= value <= 255 for value in colour):
            raise ValueError(f"Colour {colour} is not an RGB triple of integers in 0..255.")
    if len(set(palette)) != len(palette):
        raise ValueError(f"palette {list(palette)} repeats a colour; modes must have distinct colours.")
    if background in palette:
        raise ValueError(f"background {background} is also a palette colour; pick a background outside the palette.")
