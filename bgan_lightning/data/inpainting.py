"""Face inpainting: a square hole is cut out of each face and the model fills it in.

Each image is centre-cropped to a square and resized to ``image_size`` (256 by default). A square mask of
``mask_size`` pixels (128 by default) sits at the centre or at a given position. During training it can move
by a random offset of up to ``mask_jitter`` pixels in each direction. Validation, test and prediction always
use the fixed position. The condition stacks the masked image and the mask:

- ``"A"``: (C + 1, H, W) in [-1, 1]: the image with the hole's pixels set to 0, then a mask channel that is 1
  inside the hole and -1 outside;
- ``"B"``: (C, H, W) in [-1, 1]: the full image;
- ``"mask"``: (1, H, W) bool, True inside the hole.

Any folder of face images works, for example CelebA's aligned images. The images are sorted by name; by
default the last ``num_test`` (4,000) are the test split. A split file can decide instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from bgan_lightning.data.base import ConditionalImageDataModule
from bgan_lightning.data.image_files import list_images, load_image
from bgan_lightning.data.single_folder import check_images
from bgan_lightning.data.transforms import PairTransform, to_tensor

logger = logging.getLogger(__name__)

# Split names accepted in the second column of a split file; CelebA's list_eval_partition.txt uses 0, 1, 2.
_PARTITIONS = {"0": "train", "1": "val", "2": "test", "train": "train", "val": "val", "test": "test"}
_MAX_LISTED = 5


def square_mask(image_size: int, mask_size: int, top: int, left: int) -> Tensor:
    """Return a (1, image_size, image_size) bool mask that is True in the square hole at (top, left)."""
    mask = torch.zeros(1, image_size, image_size, dtype=torch.bool)
    mask[:, top : top + mask_size, left : left + mask_size] = True
    return mask


def masked_condition(image: Tensor, mask: Tensor) -> Tensor:
    """Stack the masked image and the mask into the inpainting condition.

    Args:
        image: (C, H, W) in [-1, 1].
        mask: (1, H, W) bool, True inside the hole.

    Returns:
        (C + 1, H, W) float32: the image with 0 inside the hole, then 1 inside the hole and -1 outside.
    """
    return torch.cat([image.masked_fill(mask, 0.0), mask.float() * 2 - 1], dim=0)


def load_square(path: Path, channels: int, image_size: int) -> Image.Image:
    """Read an image, crop the largest centred square and resize it to ``image_size`` (bicubic)."""
    image = load_image(path, channels)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != image_size:
        image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return image


class InpaintingDataset(Dataset):
    """Face images with a square hole; items ``{"A", "B", "mask", "path"}`` (see the module docstring).

    Args:
        files: Image files, already checked.
        image_size: Side of the square images.
        mask_size: Side of the square hole.
        mask_position: (top, left) of the hole; None centres it.
        mask_jitter: Largest random shift of the hole in each direction, in pixels, when ``train`` is True;
            the hole always stays inside the image.
        flip: Mirror training images left to right with probability 0.5.
        train: Random jitter and flip (drawn from torch's global generator, which DataLoader seeds per
            worker); otherwise every item is deterministic.
        channels: 3 (RGB) or 1 (grayscale) image channels.
    """

    def __init__(
        self,
        files: list[Path],
        image_size: int = 256,
        mask_size: int = 128,
        mask_position: tuple[int, int] | None = None,
        mask_jitter: int = 0,
        flip: bool = True,
        train: bool = True,
        channels: int = 3,
    ) -> None:
        check_mask(image_size, mask_size, mask_position, mask_jitter)
        self.files = list(files)
        self.image_size = image_size
        self.mask_size = mask_size
        centre = (image_size - mask_size) // 2
        self.mask_position = tuple(mask_position) if mask_position is not None else (centre, centre)
        self.mask_jitter = mask_jitter
        self.flip = flip
        self.train = train
        self.channels = channels

    def __len__(self) -> int:
        return len(self.files)

    def hole_position(self) -> tuple[int, int]:
        """Return the (top, left) of the hole for one item: the fixed position, jittered when training."""
        top, left = self.mask_position
        if self.train and self.mask_jitter > 0:
            low, high = 0, self.image_size - self.mask_size
            shift = torch.randint(-self.mask_jitter, self.mask_jitter + 1, (2,)).tolist()
            top, left = min(max(top + shift[0], low), high), min(max(left + shift[1], low), high)
        return top, left

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        image = to_tensor(load_square(path, self.channels, self.image_size))
        if self.train and self.flip and torch.rand(()) < 0.5:
            image = image.flip(-1)

        mask = square_mask(self.image_size, self.mask_size, *self.hole_position())
        return {"A": masked_condition(image, mask), "B": image, "mask": mask, "path": str(path)}


def check_mask(image_size: int, mask_size: int, mask_position: tuple[int, int] | None, mask_jitter: int) -> None:
    """Check that the hole fits in the image.

    Raises:
        ValueError: A size is below 1, the hole is larger than the image or leaves it, or the jitter is negative.
    """
    if image_size < 1 or mask_size < 1:
        raise ValueError(f"image_size={image_size} and mask_size={mask_size} must both be positive.")
    if mask_size > image_size:
        raise ValueError(f"mask_size={mask_size} is larger than image_size={image_size}; use a smaller hole.")
    if mask_jitter < 0:
        raise ValueError(f"mask_jitter={mask_jitter} must be 0 or more pixels.")
    if mask_position is not None:
        top, left = mask_position
        if not (0 <= top <= image_size - mask_size and 0 <= left <= image_size - mask_size):
            raise ValueError(
                f"mask_position={tuple(mask_position)} puts a {mask_size} px hole outside a {image_size} px image; "
                f"top and left must be in 0..{image_size - mask_size}."
            )


def read_split_file(path: Path, files: list[Path]) -> dict[str, list[Path]]:
    """Assign images to splits with a split file.

    Two formats are read, one entry per line (blank lines and lines starting with ``#`` are ignored):

    - one column, ``name``: the listed images are the test split and all others the training split;
    - two columns, ``name split``: ``split`` is ``train``, ``val`` or ``test``, or CelebA's ``0``, ``1``, ``2``
      (the format of ``list_eval_partition.txt``); images not listed are left out.

    Names match a file's name (``000001.jpg``) or, failing that, its stem (``000001``), so converted copies
    still match.

    Returns:
        Files per split name, each in the order of ``files``.

    Raises:
        FileNotFoundError: The split file is missing.
        ValueError: A line has more than two columns or an unknown split, or names match no image (the first
            few are listed).
    """
    if not path.is_file():
        raise FileNotFoundError(f"Split file {path} does not exist; give a text file with one image name per line.")
    by_name = {file.name: file for file in files}
    by_stem = {file.stem: file for file in files}

    assigned: dict[Path, str] = {}
    two_columns = False
    unknown = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) > 2 or (len(fields) == 2 and fields[1] not in _PARTITIONS):
            raise ValueError(
                f"Line {number} of {path} is {line.strip()!r}; expected 'name' or 'name split' with split one of "
                "train, val, test, 0, 1, 2."
            )
        two_columns = two_columns or len(fields) == 2
        file = by_name.get(fields[0]) or by_stem.get(Path(fields[0]).stem)
        if file is None:
            unknown.append(fields[0])
            continue
        assigned[file] = _PARTITIONS[fields[1]] if len(fields) == 2 else "test"
    if unknown:
        raise ValueError(
            f"{len(unknown)} name(s) in {path} match no image in the folder, for example {unknown[:_MAX_LISTED]}; "
            "fix the names or the folder."
        )

    default = None if two_columns else "train"
    splits: dict[str, list[Path]] = {"train": [], "val": [], "test": []}
    for file in files:
        split = assigned.get(file, default)
        if split is not None:
            splits[split].append(file)
    left_out = len(files) - sum(len(split_files) for split_files in splits.values())
    if left_out:
        logger.info("%d image(s) are not listed in %s and are left out.", left_out, path)
    return splits


class InpaintingDataModule(ConditionalImageDataModule):
    """Face inpainting from a folder of images; see the module docstring for the items and the splits.

    Args:
        root: Folder of face images (searched non-recursively).
        image_size: Side the images are resized to.
        mask_size: Side of the square hole.
        mask_position: (top, left) of the hole; None centres it.
        mask_jitter: Largest random shift of the hole in each direction during training, in pixels.
        num_test: The last ``num_test`` images by name form the test split when no split file is given.
        split_file: Text file assigning images to splits; see :func:`read_split_file`.
        flip: Mirror training images left to right with probability 0.5.
        channels: 3 (RGB) or 1 (grayscale) image channels; the condition has one more.
        batch_size: Images per batch.
        num_workers: DataLoader workers; None uses min(4, CPU count).
        pin_memory: Pin batches in page-locked memory.
        val_fraction: Share of the training images held out for validation when no split file names a
            validation split.
        split_seed: Seed of that hold-out.
        predict_dir: Folder of face images to predict on (masked like the test split); None predicts on the
            test split.
        skip_invalid: Skip unreadable images (their count is logged once) instead of raising.
        verify_images: Decode every image once at setup; False only reads headers, faster for large folders.
        dataset_name: Name stored in checkpoints; default ``"inpainting"``.
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int = 256,
        mask_size: int = 128,
        mask_position: tuple[int, int] | None = None,
        mask_jitter: int = 0,
        num_test: int = 4000,
        split_file: str | Path | None = None,
        flip: bool = True,
        channels: int = 3,
        batch_size: int = 1,
        num_workers: int | None = None,
        pin_memory: bool = False,
        val_fraction: float = 0.01,
        split_seed: int = 0,
        predict_dir: str | Path | None = None,
        skip_invalid: bool = False,
        verify_images: bool = True,
        dataset_name: str = "inpainting",
    ) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels={channels} must be 1 (grayscale) or 3 (RGB).")
        if num_test < 0:
            raise ValueError(f"num_test={num_test} must be 0 or more.")
        check_mask(image_size, mask_size, mask_position, mask_jitter)
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            val_fraction=val_fraction,
            split_seed=split_seed,
            predict_dir=predict_dir,
            skip_invalid=skip_invalid,
            verify_images=verify_images,
            dataset_name=dataset_name,
            load_size=image_size,
            crop_size=image_size,
            input_nc=channels + 1,
            output_nc=channels,
        )
        self.root = Path(root)
        self.image_size = image_size
        self.mask_size = mask_size
        self.mask_position = tuple(mask_position) if mask_position is not None else None
        self.mask_jitter = mask_jitter
        self.num_test = num_test
        self.split_file = Path(split_file) if split_file is not None else None
        self.flip = flip
        self.channels = channels
        self._splits: dict[str, list[Path]] | None = None

    def splits(self) -> dict[str, list[Path]]:
        """Return the image files of each split (``train``, ``val``, ``test``); ``val`` may be empty.

        Raises:
            FileNotFoundError: The folder is missing or contains no images.
            ValueError: The folder has no more images than ``num_test``, or the split file is invalid.
        """
        if self._splits is not None:
            return self._splits
        if not self.root.is_dir():
            raise FileNotFoundError(f"Image folder {self.root} does not exist; give a folder of face images.")
        files = list_images(self.root)
        if not files:
            raise FileNotFoundError(f"Image folder {self.root} contains no JPEG, PNG, BMP or WebP images.")

        if self.split_file is not None:
            self._splits = read_split_file(self.split_file, files)
        elif len(files) <= self.num_test:
            raise ValueError(
                f"Image folder {self.root} contains {len(files)} images, not more than num_test={self.num_test}, "
                "so none would be left for training; lower num_test or give a split_file."
            )
        else:
            cut = len(files) - self.num_test
            self._splits = {"train": files[:cut], "val": [], "test": files[cut:]}
        return self._splits

    def _dataset_of(self, files: list[Path], train: bool) -> InpaintingDataset:
        transform = PairTransform("resize_and_crop", self.image_size, self.image_size, flip=False, train=False)
        files = check_images(files, transform, self.skip_invalid, self.verify_images, self.root)
        return InpaintingDataset(
            files,
            self.image_size,
            self.mask_size,
            self.mask_position,
            self.mask_jitter,
            flip=self.flip,
            train=train,
            channels=self.channels,
        )

    def build_dataset(self, split: str, train: bool) -> Dataset | None:
        files = self.splits()[split]
        if not files:
            if split == "train":
                raise FileNotFoundError(f"The split file {self.split_file} assigns no image to the train split.")
            return None
        return self._dataset_of(files, train)

    def build_predict_dataset(self, folder: Path) -> Dataset:
        if not folder.is_dir():
            raise FileNotFoundError(f"Prediction folder {folder} does not exist; set predict_dir to a folder of faces.")
        files = list_images(folder)
        if not files:
            raise FileNotFoundError(f"Prediction folder {folder} contains no JPEG, PNG, BMP or WebP images.")
        return self._dataset_of(files, train=False)
