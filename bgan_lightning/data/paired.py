"""Paired image folders in the pix2pix layouts: finding the pairs of a split, checking them, reading them.

Two layouts are read:

- side by side (pix2pix): ``root/train/*.jpg`` and optional ``root/val/``, ``root/test/``; each file contains the
  A image on the left and the B image on the right, so its width is twice its height;
- separate folders (pix2pixHD): ``root/train_A/`` and ``root/train_B/`` (and optional ``val_*``, ``test_*``)
  containing files with the same names (extensions may differ, ``0001.png`` pairs with ``0001.jpg``).

``direction`` says which image is the condition: ``"AtoB"`` makes the left half (or ``*_A``) the condition
``"A"`` of a batch and the right half (or ``*_B``) the target ``"B"``; ``"BtoA"`` swaps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from torch.utils.data import Dataset

from bgan_lightning.data.image_files import (
    ImageHeader,
    InvalidImageError,
    check_decodes,
    keep_valid,
    list_images,
    load_image,
    read_header,
    warn_converted_modes,
)
from bgan_lightning.data.transforms import PairTransform

Layout = Literal["side_by_side", "separate", "auto"]
Direction = Literal["AtoB", "BtoA"]
LAYOUTS = ("side_by_side", "separate", "auto")
DIRECTIONS = ("AtoB", "BtoA")

# How many unmatched names an error lists.
_MAX_LISTED = 5


@dataclass(frozen=True)
class PairFiles:
    """The files of one pair: one side-by-side image (``b`` is None) or the A and B files of separate folders."""

    a: Path
    b: Path | None = None


def expected_layout(root: Path) -> str:
    """Describe both accepted folder layouts under ``root`` for error messages."""
    return (
        "Expected one of these layouts:\n"
        f"  side by side: {root}/train/*.jpg, each file the A and B images side by side (width = 2 x height), "
        "with optional val/ and test/ folders alike;\n"
        f"  separate folders: {root}/train_A/ and {root}/train_B/ containing files with the same names, "
        "with optional val_A/, val_B/, test_A/, test_B/."
    )


def resolve_layout(root: Path, layout: Layout) -> Literal["side_by_side", "separate"]:
    """Pick the layout of ``root``: the given one, or for ``"auto"`` separate if ``train_A/`` exists.

    Raises:
        ValueError: ``layout`` is not one of :data:`LAYOUTS`.
        FileNotFoundError: ``root`` is missing, or ``"auto"`` finds neither ``train/`` nor ``train_A/``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {list(LAYOUTS)}.")
    if not root.is_dir():
        raise FileNotFoundError(f"Data folder {root} does not exist. {expected_layout(root)}")
    if layout != "auto":
        return layout
    if (root / "train_A").is_dir():
        return "separate"
    if (root / "train").is_dir():
        return "side_by_side"
    raise FileNotFoundError(f"Data folder {root} has neither train/ nor train_A/. {expected_layout(root)}")


def _images_of(folder: Path, root: Path) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise FileNotFoundError(
            f"Split folder {folder} contains no JPEG, PNG, BMP or WebP images. {expected_layout(root)}"
        )
    return files


def _by_stem(files: list[Path]) -> dict[str, Path]:
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise ValueError(
                f"{stems[path.stem]} and {path} have the same name; keep one file per name so pairs are unambiguous."
            )
        stems[path.stem] = path
    return stems


def find_pairs(root: str | Path, split: str, layout: Literal["side_by_side", "separate"]) -> list[PairFiles] | None:
    """List the pairs of one split, sorted by name, or return None when the split's folder is absent.

    Raises:
        FileNotFoundError: The split exists but contains no images, or only one of ``<split>_A``/``<split>_B``
            exists, or the split is ``train`` and absent; the message shows the expected layout.
        ValueError: Names in ``<split>_A`` and ``<split>_B`` do not match (the first few are listed).
    """
    root = Path(root)
    if layout == "side_by_side":
        folder = root / split
        if not folder.is_dir():
            if split == "train":
                raise FileNotFoundError(f"Split folder {folder} does not exist. {expected_layout(root)}")
            return None
        return [PairFiles(path) for path in _images_of(folder, root)]

    folder_a, folder_b = root / f"{split}_A", root / f"{split}_B"
    if not folder_a.is_dir() and not folder_b.is_dir():
        if split == "train":
            raise FileNotFoundError(f"Split folders {folder_a} and {folder_b} do not exist. {expected_layout(root)}")
        return None
    for folder in (folder_a, folder_b):
        if not folder.is_dir():
            raise FileNotFoundError(f"Split folder {folder} does not exist. {expected_layout(root)}")

    files_a, files_b = _by_stem(_images_of(folder_a, root)), _by_stem(_images_of(folder_b, root))
    only_a, only_b = sorted(files_a.keys() - files_b.keys()), sorted(files_b.keys() - files_a.keys())
    if only_a or only_b:
        raise ValueError(
            f"Names in {folder_a} and {folder_b} do not match: {len(only_a)} only in {folder_a.name} "
            f"{only_a[:_MAX_LISTED]}, {len(only_b)} only in {folder_b.name} {only_b[:_MAX_LISTED]}. "
            "Every A file needs a B file of the same name (extensions may differ)."
        )
    return [PairFiles(files_a[stem], files_b[stem]) for stem in sorted(files_a)]


def check_pairs(
    pairs: list[PairFiles], transform: PairTransform, skip_invalid: bool, verify_images: bool, where: Path
) -> list[PairFiles]:
    """Check every pair in the main process and return the usable ones.

    A pair is unusable when a file cannot be read (or, with ``verify_images``, decoded), a side-by-side
    image's width is not twice its height, the A and B files of separate folders differ in size (unless
    ``preprocess="resize_and_crop"`` resizes both to one size), or an image is smaller than the crop.
    Converted modes (alpha, palette) are reported in one warning.

    Raises:
        InvalidImageError: A pair is unusable and ``skip_invalid`` is False; the message names the file.
    """

    def check(pair: PairFiles) -> list[ImageHeader]:
        headers = [read_header(path) for path in (pair.a, pair.b) if path is not None]
        if verify_images:
            for header in headers:
                check_decodes(header.path)

        if pair.b is None:
            (header,) = headers
            if header.width != 2 * header.height:
                raise InvalidImageError(
                    f"Image {pair.a} is {header.width}x{header.height}; the side-by-side layout needs the A and B "
                    f"images side by side, width = 2 x height ({2 * header.height}x{header.height} here). "
                    "Use layout='separate' with train_A/ and train_B/ folders for unpaired sizes."
                )
            size = (header.width // 2, header.height)
        else:
            size = (headers[0].width, headers[0].height)
            other = (headers[1].width, headers[1].height)
            if size != other and transform.preprocess != "resize_and_crop":
                raise InvalidImageError(
                    f"{pair.a} is {size[0]}x{size[1]} but {pair.b} is {other[0]}x{other[1]}; the A and B images of "
                    f"a pair must have the same size with preprocess={transform.preprocess!r}."
                )

        if not transform.fits(size):
            resized = transform.resized_size(size)
            raise InvalidImageError(
                f"Image {pair.a} gives {resized[0]}x{resized[1]} images after preprocess={transform.preprocess!r}, "
                f"smaller than crop_size={transform.crop_size}. Lower crop_size or use "
                "preprocess='resize_and_crop'."
            )
        return headers

    checked = keep_valid(pairs, check, skip_invalid, where)
    if not checked:
        raise FileNotFoundError(f"No usable pairs in {where}; every file was invalid (see the log).")
    warn_converted_modes([header for _, headers in checked for header in headers], where)
    return [pair for pair, _ in checked]


def _as_channels(image: Image.Image, channels: int) -> Image.Image:
    mode = "L" if channels == 1 else "RGB"
    return image if image.mode == mode else image.convert(mode)


class PairedImageDataset(Dataset):
    """Pairs of images, each item ``{"A": (input_nc, H, W), "B": (output_nc, H, W), "path": str}`` in [-1, 1].

    The files should have passed :func:`check_pairs`. The same crop and flip are applied to A and B.

    Args:
        pairs: Side-by-side files or A/B file pairs.
        direction: ``"AtoB"`` (left half or A file is the condition) or ``"BtoA"``.
        input_nc: Channels of the condition, 1 (grayscale) or 3 (RGB).
        output_nc: Channels of the target, 1 or 3.
        transform: Shared resize, crop and flip.
    """

    def __init__(
        self, pairs: list[PairFiles], direction: Direction, input_nc: int, output_nc: int, transform: PairTransform
    ) -> None:
        self.pairs = pairs
        self.direction = direction
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def read(self, index: int) -> tuple[Image.Image, Image.Image]:
        """Decode the left/A and right/B images of pair ``index`` as 8-bit PIL images, before any transform."""
        pair = self.pairs[index]
        channels = 1 if self.input_nc == self.output_nc == 1 else 3
        if pair.b is not None:
            return load_image(pair.a, channels), load_image(pair.b, channels)

        image = load_image(pair.a, channels)
        half = image.width // 2
        return image.crop((0, 0, half, image.height)), image.crop((half, 0, 2 * half, image.height))

    def __getitem__(self, index: int) -> dict[str, Any]:
        left, right = self.read(index)
        condition, target = (left, right) if self.direction == "AtoB" else (right, left)

        params = self.transform.sample(condition.size)
        if target.size != condition.size:
            target = target.resize(condition.size, Image.Resampling.BICUBIC)
        return {
            "A": self.transform.apply(_as_channels(condition, self.input_nc), params),
            "B": self.transform.apply(_as_channels(target, self.output_nc), params),
            "path": str(self.pairs[index].a),
        }
