"""Single images without pairs, for the stochastic auto-encoder: the condition and the target are the same image.

Two layouts are read:

- split folders: ``root/train/`` with optional ``root/val/`` and ``root/test/``;
- one flat folder: the images directly inside ``root`` are the training split, and validation (and test) use
  a seeded hold-out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from bgan_lightning.data.base import ConditionalImageDataModule
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
from bgan_lightning.data.transforms import PairTransform, Preprocess


def single_folder_layout(root: Path) -> str:
    """Describe the accepted layouts under ``root`` for error messages."""
    return (
        f"Expected {root}/train/ (with optional val/ and test/) or images directly in {root}, "
        "as JPEG, PNG, BMP or WebP files."
    )


def check_images(
    files: list[Path], transform: PairTransform, skip_invalid: bool, verify_images: bool, where: Path
) -> list[Path]:
    """Check every image in the main process and return the usable ones.

    An image is unusable when it cannot be read (or, with ``verify_images``, decoded) or is smaller than the
    crop after resizing. Converted modes (alpha, palette) are reported in one warning.

    Raises:
        InvalidImageError: An image is unusable and ``skip_invalid`` is False; the message names the file.
        FileNotFoundError: No image is usable.
    """

    def check(path: Path) -> ImageHeader:
        header = read_header(path)
        if verify_images:
            check_decodes(path)
        if not transform.fits((header.width, header.height)):
            resized = transform.resized_size((header.width, header.height))
            raise InvalidImageError(
                f"Image {path} gives {resized[0]}x{resized[1]} after preprocess={transform.preprocess!r}, smaller "
                f"than crop_size={transform.crop_size}. Lower crop_size or use preprocess='resize_and_crop'."
            )
        return header

    checked = keep_valid(files, check, skip_invalid, where)
    if not checked:
        raise FileNotFoundError(f"No usable images in {where}; every file was invalid (see the log).")
    warn_converted_modes([header for _, header in checked], where)
    return [path for path, _ in checked]


class SingleImageDataset(Dataset):
    """Images that are their own targets: items ``{"A": x, "B": x, "path": str}``, x (C, H, W) in [-1, 1].

    ``"A"`` and ``"B"`` are the same tensor, so the auto-encoder reconstructs exactly its input.

    Args:
        files: Image files, already checked.
        channels: 1 (grayscale) or 3 (RGB).
        transform: Resize, crop and flip; random when built with ``train=True``.
    """

    def __init__(self, files: list[Path], channels: int, transform: PairTransform) -> None:
        self.files = list(files)
        self.channels = channels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        image = load_image(path, self.channels)
        params = self.transform.sample(image.size)
        tensor = self.transform.apply(image, params)
        return {"A": tensor, "B": tensor, "path": str(path)}


class SingleFolderDataModule(ConditionalImageDataModule):
    """A folder of single images for the stochastic auto-encoder; see the module docstring for the layouts.

    Args:
        root: Data folder.
        load_size: Side (or width, for ``scale_width*``) images are resized to.
        crop_size: Side of the square crop.
        preprocess: pix2pix preprocess mode, see :mod:`bgan_lightning.data.transforms`.
        flip: Mirror training images left to right with probability 0.5.
        channels: 1 (grayscale) or 3 (RGB); both the condition and the target have this many channels.
        batch_size: Images per batch.
        num_workers: DataLoader workers; None uses min(4, CPU count).
        pin_memory: Pin batches in page-locked memory.
        val_fraction: Share of ``train`` held out for validation when there is no ``val/``.
        split_seed: Seed of that hold-out.
        predict_dir: Folder of images to predict on; None predicts on the test data.
        skip_invalid: Skip unreadable images (their count is logged once) instead of raising.
        verify_images: Decode every image once at setup.
        dataset_name: Name stored in checkpoints; default the folder's name.

    Raises:
        ValueError: ``channels`` is not 1 or 3, or the preprocess settings are invalid.
    """

    def __init__(
        self,
        root: str | Path,
        load_size: int = 256,
        crop_size: int = 256,
        preprocess: Preprocess = "resize_and_crop",
        flip: bool = True,
        channels: int = 3,
        batch_size: int = 1,
        num_workers: int | None = None,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        predict_dir: str | Path | None = None,
        skip_invalid: bool = False,
        verify_images: bool = True,
        dataset_name: str | None = None,
    ) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels={channels} must be 1 (grayscale) or 3 (RGB).")
        PairTransform(preprocess, load_size, crop_size)  # Checks the sizes now rather than at setup.
        root = Path(root)
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            val_fraction=val_fraction,
            split_seed=split_seed,
            predict_dir=predict_dir,
            skip_invalid=skip_invalid,
            verify_images=verify_images,
            dataset_name=dataset_name or root.name,
            load_size=load_size,
            crop_size=crop_size,
            input_nc=channels,
            output_nc=channels,
        )
        self.root = root
        self.preprocess = preprocess
        self.flip = flip
        self.channels = channels

    def split_files(self, split: str) -> list[Path] | None:
        """List the images of a split, or return None when the split is absent.

        Raises:
            FileNotFoundError: ``root`` is missing, or has neither ``train/`` nor images, or a split folder
                contains no images; the message shows the expected layout.
        """
        if not self.root.is_dir():
            raise FileNotFoundError(f"Data folder {self.root} does not exist. {single_folder_layout(self.root)}")
        if (self.root / "train").is_dir():
            folder = self.root / split
            if not folder.is_dir():
                return None
        elif split == "train":
            folder = self.root
        else:
            return None

        files = list_images(folder)
        if not files:
            raise FileNotFoundError(
                f"{folder} contains no JPEG, PNG, BMP or WebP images. {single_folder_layout(self.root)}"
            )
        return files

    def build_dataset(self, split: str, train: bool) -> Dataset | None:
        files = self.split_files(split)
        if files is None:
            return None
        transform = PairTransform(self.preprocess, self.load_size, self.crop_size, flip=self.flip, train=train)
        files = check_images(files, transform, self.skip_invalid, self.verify_images, files[0].parent)
        return SingleImageDataset(files, self.channels, transform)
