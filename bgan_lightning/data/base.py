"""The shared base of every conditional-image data module: splits, loaders and prediction on a folder.

A subclass defines how to build the dataset of a split through :meth:`ConditionalImageDataModule.build_dataset`
(and, when its conditions are not plain images, :meth:`ConditionalImageDataModule.build_predict_dataset`). The
base turns those into train, validation, test and predict loaders:

- fit: ``train`` for training; ``val`` for validation, or, when the data has no ``val`` split, a fraction of
  ``train`` held out with a fixed seed (``val_fraction``, ``split_seed``) and read without augmentation;
- test: ``test``, else ``val``, else the held-out part of ``train``; :attr:`ConditionalImageDataModule.test_split_name`
  records which one, and setup logs it;
- predict: the condition-only images directly inside ``predict_dir`` when it is set (subfolders are not
  searched; a warning counts them), otherwise the test data as above.

Every item is a dict ``{"A": (C_a, H, W), "B": (C_b, H, W), "path": str}`` with float32 images in [-1, 1]
(``"B"`` is absent for condition-only prediction), so batches are ``{"A": (N, C_a, H, W), ...}``.
Datasets check their files when they are built, which happens in :meth:`setup` in the main process, so a
bad file fails there with its name instead of inside a DataLoader worker.

The model reads ``dataset_name``, ``direction``, ``load_size``, ``crop_size``, ``input_nc`` and
``output_nc`` from the data module at setup and stores them in its checkpoints.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Subset

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

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def check_predict_folder(folder: Path) -> None:
    """Reject a ``predict_dir`` that names a single file instead of a folder.

    Raises:
        FileNotFoundError: ``folder`` is an existing file.
    """
    if Path(folder).is_file():
        raise FileNotFoundError(
            f"predict_dir={folder} is a file, not a folder. Prediction expects a folder of condition images, so "
            "put the image in a folder and set predict_dir to that folder."
        )


def warn_ignored_subfolders(folder: Path) -> None:
    """Log one warning with the number of (non-hidden) subfolders of ``folder``, whose images are not read."""
    subfolders = sorted(path.name for path in Path(folder).iterdir() if path.is_dir() and not path.name.startswith("."))
    if subfolders:
        logger.warning(
            "Ignored %d subfolder(s) of %s (for example %s/) because only images directly inside predict_dir are "
            "predicted. Move the images up or predict on each subfolder separately.",
            len(subfolders),
            folder,
            subfolders[0],
        )


class ConditionFolderDataset(Dataset):
    """Condition-only images of one folder, for prediction: items ``{"A": (C, H, W) in [-1, 1], "path": str}``.

    Args:
        folder: Folder of JPEG, PNG, BMP or WebP images.
        channels: 1 (grayscale) or 3 (RGB).
        transform: Deterministic transform (``train=False``) applied to every image.
        skip_invalid: Skip unreadable files (their count is logged once) instead of raising.
        verify_images: Decode every file once when the dataset is built, so truncated files are found then.

    Only images directly inside ``folder`` are read; subfolders are ignored, with one warning giving their count.

    Raises:
        FileNotFoundError: The folder is missing, is a file, or contains no images.
        InvalidImageError: A file cannot be read and ``skip_invalid`` is False.
    """

    def __init__(
        self,
        folder: str | Path,
        channels: int,
        transform: PairTransform,
        skip_invalid: bool = False,
        verify_images: bool = True,
    ) -> None:
        self.folder = Path(folder)
        check_predict_folder(self.folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(
                f"Prediction folder {self.folder} does not exist; set predict_dir to a folder "
                "of condition images (JPEG, PNG, BMP or WebP)."
            )
        files = list_images(self.folder)
        warn_ignored_subfolders(self.folder)
        if not files:
            raise FileNotFoundError(
                f"Prediction folder {self.folder} contains no JPEG, PNG, BMP or WebP images; add condition images "
                "or fix predict_dir."
            )

        def check(path: Path) -> ImageHeader:
            header = read_header(path)
            if verify_images:
                check_decodes(path)
            if not transform.fits((header.width, header.height)):
                raise InvalidImageError(
                    f"Image {path} is {header.width}x{header.height}, smaller than crop_size={transform.crop_size}."
                )
            return header

        checked = keep_valid(files, check, skip_invalid, self.folder)
        if not checked:
            raise FileNotFoundError(f"Prediction folder {self.folder} contains no readable images (see the log).")
        warn_converted_modes([header for _, header in checked], self.folder)
        self.files = [path for path, _ in checked]
        self.channels = channels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.files[index]
        image = load_image(path, self.channels)
        params = self.transform.sample(image.size)
        return {"A": self.transform.apply(image, params), "path": str(path)}


class ConditionalImageDataModule(pl.LightningDataModule):
    """Base of the data modules: splits (with a seeded validation hold-out), loaders and folder prediction.

    Subclasses implement :meth:`build_dataset` and may override :meth:`build_predict_dataset`.

    Attributes:
        test_split_name: The split that ``setup("test")`` (and ``setup("predict")`` without ``predict_dir``)
            chose: ``"test"``, ``"val"`` when the data has no test split, or ``"train (held-out 10%)"`` (with
            the actual ``val_fraction``) when it has neither. None until one of those setups has run.

    Args:
        batch_size: Items per batch in every loader.
        num_workers: DataLoader worker processes; None uses min(4, CPU count).
        pin_memory: Pin batches in page-locked memory (faster copies to a GPU).
        val_fraction: Share of ``train`` held out for validation when the data has no ``val`` split
            (0 disables validation then).
        split_seed: Seed of the hold-out; the same seed always holds out the same items.
        predict_dir: Folder of condition-only images to predict on; None predicts on the test data.
        skip_invalid: Skip unusable files (their count is logged once) instead of raising.
        verify_images: Decode every file once at setup so that truncated files fail there. False only reads
            the headers, which is faster for large datasets, but then a truncated file fails inside the
            DataLoader worker that reads it.
        dataset_name: Name stored in checkpoints.
        direction: ``"AtoB"`` or ``"BtoA"`` for paired data (which half is the condition), else None.
        load_size: Size images are resized to before cropping.
        crop_size: Side of the square training crop.
        input_nc: Channels of the condition ``A``.
        output_nc: Channels of the target ``B``.
    """

    def __init__(
        self,
        batch_size: int = 1,
        num_workers: int | None = None,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        predict_dir: str | Path | None = None,
        skip_invalid: bool = False,
        verify_images: bool = True,
        dataset_name: str | None = None,
        direction: str | None = None,
        load_size: int = 256,
        crop_size: int = 256,
        input_nc: int = 3,
        output_nc: int = 3,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be at least 1.")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction={val_fraction} must be in [0, 1).")
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers={num_workers} must be 0 or more (None picks min(4, CPU count)).")
        self.batch_size = batch_size
        self.num_workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
        self.pin_memory = pin_memory
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.predict_dir = Path(predict_dir) if predict_dir is not None else None
        self.skip_invalid = skip_invalid
        self.verify_images = verify_images
        self.dataset_name = dataset_name
        self.direction = direction
        self.load_size = load_size
        self.crop_size = crop_size
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None
        self.predict_dataset: Dataset | None = None
        self.test_split_name: str | None = None
        self._datasets: dict[tuple[str, bool], Dataset | None] = {}
        self._fit_pair: tuple[Dataset, Dataset | None] | None = None

    # Hooks for subclasses.

    def build_dataset(self, split: str, train: bool) -> Dataset | None:
        """Build the dataset of one split, or return None when the data has no such split.

        Called in the main process at setup; it should check its files there (see :func:`keep_valid`).
        It is called at most once per ``(split, train)`` pair.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            train: Random augmentation (training) if True; deterministic transforms if False. The base asks
                for ``("train", False)`` to read the validation hold-out, which must list the items in the
                same order as ``("train", True)``.

        Returns:
            A map-style dataset of dicts ``{"A", "B", "path"}``, or None.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement build_dataset(split, train).")

    def eval_transform(self) -> PairTransform:
        """Deterministic transform of condition-only prediction images: resize to load_size, centre crop."""
        return PairTransform("resize_and_crop", self.load_size, self.crop_size, flip=False, train=False)

    def build_predict_dataset(self, folder: Path) -> Dataset:
        """Dataset of the condition-only images in ``folder``, with items ``{"A", "path"}``."""
        return ConditionFolderDataset(
            folder, self.input_nc, self.eval_transform(), self.skip_invalid, verify_images=self.verify_images
        )

    # Splits.

    def _dataset(self, split: str, train: bool) -> Dataset | None:
        if (split, train) not in self._datasets:
            self._datasets[split, train] = self.build_dataset(split, train)
        return self._datasets[split, train]

    def _holdout_indices(self, size: int) -> tuple[list[int], list[int]]:
        """Split ``range(size)`` into (train, held-out) indices with ``split_seed``."""
        num_holdout = round(size * self.val_fraction)
        if self.val_fraction > 0 and size > 1:
            num_holdout = min(max(num_holdout, 1), size - 1)
        order = torch.randperm(size, generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        return sorted(order[num_holdout:]), sorted(order[:num_holdout])

    def _fit_datasets(self) -> tuple[Dataset, Dataset | None]:
        if self._fit_pair is None:
            self._fit_pair = self._split_fit_datasets()
        return self._fit_pair

    def _split_fit_datasets(self) -> tuple[Dataset, Dataset | None]:
        train = self._dataset("train", True)
        if train is None:
            raise FileNotFoundError(f"{type(self).__name__} found no training split.")
        val = self._dataset("val", False)
        if val is not None or self.val_fraction == 0:
            return train, val

        train_indices, holdout_indices = self._holdout_indices(len(train))
        if not holdout_indices:
            return train, None
        logger.info(
            "No val split: holding out %d of %d training items for validation (split_seed=%d).",
            len(holdout_indices),
            len(train),
            self.split_seed,
        )
        holdout = Subset(self._dataset("train", False), holdout_indices)
        return Subset(train, train_indices), holdout

    def _test_dataset(self) -> Dataset:
        """Pick the evaluation data (test, else val, else the train hold-out) and record it in test_split_name."""
        test = self._dataset("test", False)
        if test is not None:
            self.test_split_name = "test"
            logger.info("Evaluating on the test split (%d item(s)).", len(test))
            return test

        val = self._dataset("val", False)
        if val is not None:
            self.test_split_name = "val"
            logger.info("No test split: evaluating on the val split (%d item(s)).", len(val))
            return val

        _, holdout = self._fit_datasets()
        if holdout is None:
            raise FileNotFoundError(
                f"{type(self).__name__} has no test or val split and val_fraction=0 holds nothing out of train; "
                "add a test/ or val/ split or set val_fraction > 0."
            )
        self.test_split_name = f"train (held-out {self.val_fraction * 100:g}%)"
        logger.info(
            "No test or val split: evaluating on the %d item(s) held out of train (val_fraction=%g, split_seed=%d).",
            len(holdout),
            self.val_fraction,
            self.split_seed,
        )
        return holdout

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.train_dataset, self.val_dataset = self._fit_datasets()
        elif stage == "validate":
            _, self.val_dataset = self._fit_datasets()
        elif stage == "test":
            self.test_dataset = self._test_dataset()
        elif stage == "predict":
            if self.predict_dir is not None:
                check_predict_folder(self.predict_dir)
                self.predict_dataset = self.build_predict_dataset(self.predict_dir)
            else:
                self.predict_dataset = self._test_dataset()

    # Loaders.

    def _loader(self, dataset: Dataset | None, shuffle: bool, stage: str) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup('{stage}') must run before the {stage} loader.")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_dataset, shuffle=True, stage="fit")

    def val_dataloader(self) -> DataLoader | list:
        # An empty list tells Lightning to skip validation (no val split and val_fraction=0).
        if self.val_dataset is None:
            return []
        return self._loader(self.val_dataset, shuffle=False, stage="validate")

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_dataset, shuffle=False, stage="test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_dataset, shuffle=False, stage="predict")
