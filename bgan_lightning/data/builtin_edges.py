"""A small edges-to-photo dataset built from the photographs that scikit-image ships, for the quickstart.

Each pair is a square patch of one of scikit-image's sample photographs, resized to ``size`` pixels, with
its Canny edge map drawn as black lines on white, like the pix2pix edges2shoes set. The photographs show an
astronaut, a cat, a coffee cup, a rocket launch, a motorcycle, a Hubble deep field and a stained tissue
section. They are files inside the installed scikit-image package, so no download is needed.

Splits come from separate parts of every photograph, so no validation or test patch overlaps a training patch:
the left three quarters of each photo give the training patches, the top and bottom halves of its right
quarter the validation and test patches.

The generated files use the pix2pix layout, ``{train,val,test}/NNNNN.png`` with the edge map on the left and
the photo on the right, so :class:`~bgan_lightning.data.paired_datamodule.PairedImageDataModule` can read them too.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from bgan_lightning.data.base import ConditionalImageDataModule
from bgan_lightning.data.builtin_cache import SPLITS as SPLITS
from bgan_lightning.data.builtin_cache import InMemoryPairs, cached_dataset, split_counts, split_generators
from bgan_lightning.data.image_files import list_images, load_image
from bgan_lightning.data.transforms import to_tensor

logger = logging.getLogger(__name__)

# Colour photographs in skimage.data that load without a download.
PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle_left",
    "hubble_deep_field",
    "immunohistochemistry",
)
GENERATOR_VERSION = 1
# Patches with edges on fewer pixels than this are drawn again, at most MAX_DRAWS times in all.
MIN_EDGE_FRACTION = 0.03
MAX_DRAWS = 10


def load_photo(name: str) -> np.ndarray:
    """Return one of :data:`PHOTOS` as an (H, W, 3) uint8 array."""
    import skimage.data

    if name == "motorcycle_left":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def split_region(height: int, width: int, split: str) -> tuple[int, int, int, int]:
    """Return the (left, top, right, bottom) part of a photo that patches of ``split`` are cut from."""
    boundary = (width * 3) // 4
    if split == "train":
        return 0, 0, boundary, height
    if split == "val":
        return boundary, 0, width, height // 2
    return boundary, height // 2, width, height


def canny_edges(patch: Image.Image, sigma: float) -> np.ndarray:
    """Draw the Canny edges of an RGB patch as black lines on white.

    Args:
        patch: RGB PIL image.
        sigma: Standard deviation of the Gaussian smoothing before edge detection, in pixels.

    Returns:
        (H, W) uint8 array: 0 on edges, 255 elsewhere.
    """
    from skimage.feature import canny

    gray = np.asarray(patch.convert("L"), dtype=np.float64) / 255.0
    return np.where(canny(gray, sigma=sigma), 0, 255).astype(np.uint8)


def random_patch(
    photo: np.ndarray, region: tuple[int, int, int, int], size: int, rng: np.random.Generator
) -> Image.Image:
    """Cut a random square from ``region`` of ``photo`` and resize it to ``size`` x ``size``.

    The square's side is drawn between ``size`` and ``2 * size`` pixels (capped by the region's shorter side)
    and its position uniformly inside the (left, top, right, bottom) region.
    """
    left, top, right, bottom = region
    largest = min(right - left, bottom - top)

    side = int(min(largest, rng.integers(size, 2 * size + 1)))
    x = left + int(rng.integers(0, right - left - side + 1))
    y = top + int(rng.integers(0, bottom - top - side + 1))
    return Image.fromarray(photo[y : y + side, x : x + side]).resize((size, size), Image.Resampling.LANCZOS)


def make_pairs(
    photos: dict[str, np.ndarray], split: str, count: int, size: int, sigma: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Cut ``count`` patches for one split and pair each with its edge map.

    Patches cycle through the photos in order; see :func:`random_patch`. A patch with edges on fewer than
    :data:`MIN_EDGE_FRACTION` of its pixels (clear sky, a plain wall) is drawn again, up to
    :data:`MAX_DRAWS` times, so that almost every condition shows some structure.

    Returns:
        ``count`` (size, 2 * size, 3) uint8 arrays: edge map on the left, photo on the right.
    """
    names = sorted(photos)
    pairs = []
    for index in range(count):
        photo = photos[names[index % len(names)]]
        region = split_region(*photo.shape[:2], split)
        for _ in range(MAX_DRAWS):
            patch = random_patch(photo, region, size, rng)
            edges = canny_edges(patch, sigma)
            if (edges == 0).mean() >= MIN_EDGE_FRACTION:
                break

        edges = np.repeat(edges[:, :, None], 3, axis=2)
        pairs.append(np.concatenate([edges, np.asarray(patch)], axis=1))
    return pairs


def generate_edges_to_photo(folder: Path, size: int, counts: dict[str, int], seed: int, sigma: float) -> None:
    """Write the dataset's PNG files into ``folder`` (``{split}/NNNNN.png``, edges left, photo right)."""
    photos = {name: load_photo(name) for name in PHOTOS}
    for split, rng in split_generators(seed):
        (folder / split).mkdir()
        for index, pair in enumerate(make_pairs(photos, split, counts[split], size, sigma, rng)):
            Image.fromarray(pair).save(folder / split / f"{index:05d}.png")


def edges_to_photo_folder(
    size: int = 64,
    num_train: int = 400,
    num_val: int = 50,
    num_test: int = 50,
    seed: int = 0,
    sigma: float = 1.5,
    cache_dir: str | Path | None = None,
) -> Path:
    """Return the folder of the edges-to-photo set with these parameters, generating it on first use.

    Returns:
        A folder in the pix2pix layout: ``train/``, ``val/`` and ``test/`` of (size x 2*size) PNGs.
    """
    if size < 8:
        raise ValueError(f"size={size} is too small for edge maps; use at least 8 pixels.")
    counts = split_counts(num_train, num_val, num_test, "pair")
    params = {"version": GENERATOR_VERSION, "size": size, "counts": counts, "seed": seed, "sigma": sigma}
    name = f"edges2photo_v{GENERATOR_VERSION}_{size}px_{num_train}-{num_val}-{num_test}_seed{seed}_sigma{sigma:g}"
    return cached_dataset(
        name, params, lambda folder: generate_edges_to_photo(folder, size, counts, seed, sigma), cache_dir
    )


def read_pairs(folder: Path, input_nc: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read a split folder of side-by-side PNGs into tensors.

    Returns:
        Conditions (N, input_nc, H, W) and photos (N, 3, H, W), float32 in [-1, 1], and the file paths.
    """
    paths = list_images(folder)
    conditions, targets = [], []
    for path in paths:
        pair = load_image(path, 3)
        half = pair.width // 2
        conditions.append(to_tensor(pair.crop((0, 0, half, pair.height)).convert("L" if input_nc == 1 else "RGB")))
        targets.append(to_tensor(pair.crop((half, 0, pair.width, pair.height))))
    return torch.stack(conditions), torch.stack(targets), [str(path) for path in paths]


class EdgesToPhotoDataModule(ConditionalImageDataModule):
    """Edges-to-photo pairs generated from scikit-image's sample photographs; needs no download.

    The set is generated into the built-in cache on first use (about a second for the default 500 pairs) and
    read into memory at setup. Conditions are black edge lines on white, targets the photo patches.

    Args:
        size: Side of the square patches in pixels.
        num_train: Training pairs.
        num_val: Validation pairs.
        num_test: Test pairs.
        seed: Seed of the patch positions and sizes; the same seed always gives the same files.
        sigma: Smoothing of the Canny edge detector in pixels; larger values keep fewer, longer edges.
        input_nc: Channels of the edge condition, 1 or 3 (the three channels are equal).
        flip: Mirror training pairs left to right with probability 0.5.
        cache_dir: Cache root; default ``$BGAN_DATA_DIR``, else ``~/.cache/bgan_lightning/datasets``.
        batch_size: Pairs per batch.
        num_workers: DataLoader workers; 0 suits this small in-memory set.
        pin_memory: Pin batches in page-locked memory.
        predict_dir: Folder of edge images to predict on; None predicts on the test split.
    """

    def __init__(
        self,
        size: int = 64,
        num_train: int = 400,
        num_val: int = 50,
        num_test: int = 50,
        seed: int = 0,
        sigma: float = 1.5,
        input_nc: int = 3,
        flip: bool = True,
        cache_dir: str | Path | None = None,
        batch_size: int = 4,
        num_workers: int | None = 0,
        pin_memory: bool = False,
        predict_dir: str | Path | None = None,
    ) -> None:
        if input_nc not in (1, 3):
            raise ValueError(f"input_nc={input_nc} must be 1 or 3 for edge maps.")
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            val_fraction=0.0,
            split_seed=seed,
            predict_dir=predict_dir,
            dataset_name="edges2photo",
            direction="AtoB",
            load_size=size,
            crop_size=size,
            input_nc=input_nc,
            output_nc=3,
        )
        self.size = size
        self.counts = {"train": num_train, "val": num_val, "test": num_test}
        self.seed = seed
        self.sigma = sigma
        self.flip = flip
        self.cache_dir = cache_dir

    def folder(self) -> Path:
        """Return the generated dataset's folder, generating it if needed."""
        return edges_to_photo_folder(
            self.size,
            self.counts["train"],
            self.counts["val"],
            self.counts["test"],
            self.seed,
            self.sigma,
            self.cache_dir,
        )

    def prepare_data(self) -> None:
        self.folder()

    def build_dataset(self, split: str, train: bool) -> Dataset:
        conditions, targets, paths = read_pairs(self.folder() / split, self.input_nc)
        return InMemoryPairs(conditions, targets, paths, flip=train and self.flip)
