"""LightningDataModule for paired image folders (pix2pix side-by-side or pix2pixHD separate folders)."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from bgan_lightning.data.base import ConditionalImageDataModule
from bgan_lightning.data.paired import (
    DIRECTIONS,
    Direction,
    Layout,
    PairedImageDataset,
    PairFiles,
    check_pairs,
    find_pairs,
    resolve_layout,
)
from bgan_lightning.data.transforms import PairTransform, Preprocess, check_preprocess


class PairedImageDataModule(ConditionalImageDataModule):
    """Paired images from a folder, as batches ``{"A", "B", "path"}`` of float32 images in [-1, 1].

    ``A`` is (N, input_nc, H, W), the condition; ``B`` is (N, output_nc, H, W), the target; ``path`` lists
    the source files. Training applies one random crop and flip to both images of a pair; validation, test
    and prediction centre the crop and never flip. Without a ``val`` split, ``val_fraction`` of ``train`` is
    held out with ``split_seed``. Every file is checked when :meth:`setup` runs, in the main process.

    Args:
        root: Data folder containing ``train/`` (side by side) or ``train_A/`` and ``train_B/`` (separate),
            plus optional val and test splits alike.
        direction: ``"AtoB"``: the left half (or ``*_A`` file) is the condition; ``"BtoA"``: the right half.
        layout: ``"side_by_side"``, ``"separate"`` or ``"auto"`` (separate when ``train_A/`` exists).
        load_size: Size before cropping (side for ``resize_and_crop``, width for ``scale_width*``).
        crop_size: Side of the square crop.
        preprocess: ``"resize_and_crop"``, ``"crop"``, ``"scale_width"``, ``"scale_width_and_crop"`` or
            ``"none"`` (see :mod:`bgan_lightning.data.transforms`). Modes other than the two ending in crop
            give images of the files' own aspect ratio, so use ``batch_size=1`` when sizes differ.
        flip: Random horizontal flips in training.
        input_nc: Channels of ``A``: 1 keeps (or makes) grayscale, 3 gives RGB.
        output_nc: Channels of ``B``, 1 or 3.
        skip_invalid: Skip unusable pairs (the count is logged once) instead of raising.
        verify_images: Decode every file once at setup to find truncated files; False only reads headers.
        batch_size: Pairs per batch.
        num_workers: DataLoader workers; None uses min(4, CPU count).
        pin_memory: Pin batches in page-locked memory.
        val_fraction: Share of ``train`` held out for validation when there is no val split.
        split_seed: Seed of that hold-out.
        predict_dir: Folder of condition-only images for prediction (items ``{"A", "path"}``); None
            predicts on the test split (else val, else the hold-out) with ``B`` too.
        dataset_name: Name stored in checkpoints; defaults to the name of ``root``.

    Raises:
        ValueError: An unknown direction, layout or preprocess, a channel count other than 1 or 3, or
            ``crop_size > load_size`` with a mode that resizes before cropping.
    """

    def __init__(
        self,
        root: str | Path,
        direction: Direction = "AtoB",
        layout: Layout = "auto",
        load_size: int = 286,
        crop_size: int = 256,
        preprocess: Preprocess = "resize_and_crop",
        flip: bool = True,
        input_nc: int = 3,
        output_nc: int = 3,
        skip_invalid: bool = False,
        verify_images: bool = True,
        batch_size: int = 1,
        num_workers: int | None = None,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        predict_dir: str | Path | None = None,
        dataset_name: str | None = None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r} is not one of {list(DIRECTIONS)}.")
        for key, value in (("input_nc", input_nc), ("output_nc", output_nc)):
            if value not in (1, 3):
                raise ValueError(f"{key}={value} is not supported; use 1 (grayscale) or 3 (RGB).")
        check_preprocess(preprocess, load_size, crop_size)
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
            direction=direction,
            load_size=load_size,
            crop_size=crop_size,
            input_nc=input_nc,
            output_nc=output_nc,
        )
        self.root = root
        self.layout = layout
        self.preprocess = preprocess
        self.flip = flip
        self._pairs: dict[str, list[PairFiles] | None] = {}

    def transform(self, train: bool) -> PairTransform:
        """Return the shared transform of training (random crop and flip) or evaluation (centre crop, no flip)."""
        return PairTransform(self.preprocess, self.load_size, self.crop_size, flip=self.flip and train, train=train)

    def eval_transform(self) -> PairTransform:
        return self.transform(train=False)

    def pairs(self, split: str) -> list[PairFiles] | None:
        """Return the checked pairs of a split (found and checked once), or None when the split is absent."""
        if split not in self._pairs:
            layout = resolve_layout(self.root, self.layout)
            found = find_pairs(self.root, split, layout)
            if found is not None:
                folder = self.root / (split if layout == "side_by_side" else f"{split}_A")
                found = check_pairs(found, self.transform(train=False), self.skip_invalid, self.verify_images, folder)
            self._pairs[split] = found
        return self._pairs[split]

    def build_dataset(self, split: str, train: bool) -> Dataset | None:
        pairs = self.pairs(split)
        if pairs is None:
            return None
        return PairedImageDataset(pairs, self.direction, self.input_nc, self.output_nc, self.transform(train))
