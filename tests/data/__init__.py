"""Helpers that write small image folders for the data tests, and a dataset of random pairs for the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset


def gradient(width: int, height: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A (height, width, channels) uint8 image with distinct, seeded pixel values."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)


def save(array: np.ndarray, path: Path, mode: str | None = None) -> Path:
    """Write a uint8 array as an image file (format from the suffix), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    Image.fromarray(array, mode=mode).save(path)
    return path


def write_side_by_side(folder: Path, names: list[str], size: int = 8, same_halves: bool = False) -> list[Path]:
    """Write side-by-side pairs (2 * size wide, size high): left half value 64, right half 192.

    With ``same_halves`` both halves are the same seeded noise image instead, so any misaligned crop or flip
    between them shows.
    """
    paths = []
    for index, name in enumerate(names):
        if same_halves:
            half = gradient(size, size, seed=index)
            array = np.concatenate([half, half], axis=1)
        else:
            array = np.concatenate(
                [np.full((size, size, 3), 64, np.uint8), np.full((size, size, 3), 192, np.uint8)], axis=1
            )
        paths.append(save(array, folder / name))
    return paths


def write_pix2pix_archive(archive: Path, name: str, splits: tuple[str, ...], pairs: int = 2, size: int = 8) -> Path:
    """Build ``archive`` (.tar.gz) containing ``name/<split>/<i>.png`` side-by-side pairs, like the pix2pix server's."""
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory() as staging:
        for split in splits:
            write_side_by_side(Path(staging) / name / split, [f"{i}.png" for i in range(pairs)], size=size)
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(Path(staging) / name, arcname=name)
    return archive


class RandomPairs(Dataset):
    """Items ``{"A": (3, 16, 16), "B": (3, 16, 16), "path": "pair_<index>.png"}`` of seeded uniform noise in [-1, 1].

    Args:
        size: Number of pairs.
        seed: Seed of the noise; the same seed gives the same pairs.
    """

    def __init__(self, size: int = 4, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.a = torch.rand(size, 3, 16, 16, generator=generator) * 2 - 1
        self.b = torch.rand(size, 3, 16, 16, generator=generator) * 2 - 1

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, index: int) -> dict:
        return {"A": self.a[index], "B": self.b[index], "path": f"pair_{index}.png"}
