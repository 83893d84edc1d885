"""Cityscapes in its original folder layout, for label-to-street-scene models in the pix2pixHD style.

Cityscapes needs a registered download from https://www.cityscapes-dataset.com (``gtFine_trainvaltest.zip``
and ``leftImg8bit_trainvaltest.zip``), so it is read from a local folder. Unpacked, it looks like::

    root/gtFine/{train,val,test}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png
    root/gtFine/{train,val,test}/{city}/{city}_{seq}_{frame}_gtFine_instanceIds.png
    root/leftImg8bit/{train,val,test}/{city}/{city}_{seq}_{frame}_leftImg8bit.png

Each item's condition is the one-hot label map (35 classes of ``labelIds`` by default) plus, by default, the
instance-boundary channel; the target is the photo. Label and instance maps are resized with nearest
neighbours, photos bicubically, and the same crop and flip apply to all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from bgan_lightning.data.base import ConditionalImageDataModule
from bgan_lightning.data.image_files import (
    InvalidImageError,
    check_decodes,
    keep_valid,
    load_image,
    load_label_map,
    read_header,
)
from bgan_lightning.data.label_maps import check_label_range, load_label_condition
from bgan_lightning.data.transforms import PairTransform, Preprocess

LABEL_SUFFIX = "_gtFine_labelIds.png"
INSTANCE_SUFFIX = "_gtFine_instanceIds.png"
PHOTO_SUFFIX = "_leftImg8bit.png"
_MAX_LISTED = 5


@dataclass(frozen=True)
class CityscapesFiles:
    """The files of one frame: label ids, instance ids (None when unused) and the photo (None for prediction)."""

    label: Path
    instance: Path | None
    photo: Path | None


def cityscapes_layout(root: Path) -> str:
    """Describe the expected folder layout under ``root`` for error messages."""
    return (
        f"Expected the original Cityscapes layout: {root}/gtFine/<split>/<city>/*{LABEL_SUFFIX} and "
        f"*{INSTANCE_SUFFIX}, with photos in {root}/leftImg8bit/<split>/<city>/*{PHOTO_SUFFIX}."
    )


def _missing(kind: str, names: list[str], where: Path) -> ValueError:
    return ValueError(
        f"{len(names)} frame(s) in {where} have no {kind}, for example {names[:_MAX_LISTED]}; every "
        f"*{LABEL_SUFFIX} needs a matching *{PHOTO_SUFFIX} and, with use_instance=True, *{INSTANCE_SUFFIX}."
    )


def find_label_files(folder: Path, use_instance: bool) -> list[CityscapesFiles]:
    """List the ``*_labelIds.png`` files under ``folder`` (recursively) with their instance files.

    Raises:
        ValueError: An instance file is missing while ``use_instance`` is True (the first few are listed).
    """
    files = []
    missing = []
    for label in sorted(folder.rglob(f"*{LABEL_SUFFIX}")):
        instance = None
        if use_instance:
            instance = label.with_name(label.name[: -len(LABEL_SUFFIX)] + INSTANCE_SUFFIX)
            if not instance.is_file():
                missing.append(instance.name)
        files.append(CityscapesFiles(label, instance, None))
    if missing:
        raise _missing(f"{INSTANCE_SUFFIX} file (set use_instance=False to train without instances)", missing, folder)
    return files


def find_cityscapes_split(root: str | Path, split: str, use_instance: bool = True) -> list[CityscapesFiles] | None:
    """List the frames of one split, sorted by name, or return None when the split is absent.

    Raises:
        FileNotFoundError: ``root`` is missing, the split is ``train`` and absent, or a split contains no label
            files; the message shows the expected layout.
        ValueError: Frames lack a photo or an instance file (the first few are listed).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Cityscapes folder {root} does not exist. {cityscapes_layout(root)}")
    labels_dir, photos_dir = root / "gtFine" / split, root / "leftImg8bit" / split
    if not labels_dir.is_dir():
        if split == "train":
            raise FileNotFoundError(f"Split folder {labels_dir} does not exist. {cityscapes_layout(root)}")
        return None

    frames = find_label_files(labels_dir, use_instance)
    if not frames:
        raise FileNotFoundError(f"{labels_dir} contains no *{LABEL_SUFFIX} files. {cityscapes_layout(root)}")

    paired, missing = [], []
    for frame in frames:
        relative = frame.label.relative_to(labels_dir)
        photo = photos_dir / relative.parent / (relative.name[: -len(LABEL_SUFFIX)] + PHOTO_SUFFIX)
        if not photo.is_file():
            missing.append(photo.name)
        paired.append(CityscapesFiles(frame.label, frame.instance, photo))
    if missing:
        raise _missing(f"photo in {photos_dir}", missing, labels_dir)
    return paired


def check_frames(
    frames: list[CityscapesFiles],
    label_nc: int,
    transform: PairTransform,
    skip_invalid: bool,
    verify_images: bool,
    where: Path,
) -> list[CityscapesFiles]:
    """Check every frame in the main process and return the usable ones.

    A frame is unusable when a file cannot be read, its maps and photo differ in size, it is smaller than
    the crop, or (with ``verify_images``, which decodes every file) a class id is at or above ``label_nc``.

    Raises:
        InvalidImageError: A file cannot be read, or sizes do not fit, and ``skip_invalid`` is False.
        ValueError: A class id is at or above ``label_nc`` (never skipped: the setting is wrong, not the file).
        FileNotFoundError: No frame is usable.
    """

    def check(frame: CityscapesFiles) -> None:
        paths = [path for path in (frame.label, frame.instance, frame.photo) if path is not None]
        sizes = {}
        for path in paths:
            header = read_header(path)
            sizes[path] = (header.width, header.height)
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{path.name} {width}x{height}" for path, (width, height) in sizes.items())
            raise InvalidImageError(f"The files of one frame differ in size: {listed}; they must all be the same.")

        size = sizes[frame.label]
        if not transform.fits(size):
            resized = transform.resized_size(size)
            raise InvalidImageError(
                f"Label map {frame.label} gives {resized[0]}x{resized[1]} after preprocess={transform.preprocess!r}, "
                f"smaller than crop_size={transform.crop_size}. Lower crop_size."
            )
        if verify_images:
            for path in paths:
                check_decodes(path)
            check_label_range(load_label_map(frame.label), label_nc, frame.label)

    checked = keep_valid(frames, check, skip_invalid, where)
    if not checked:
        raise FileNotFoundError(f"No usable frames in {where}; every frame was invalid (see the log).")
    return [frame for frame, _ in checked]


class CityscapesDataset(Dataset):
    """Cityscapes frames as ``{"A": (label_nc [+ 1], H, W), "B": (3, H, W), "path": str}``.

    ``"A"`` contains 0 and 1 (one-hot classes, then the instance-boundary channel when instances are used);
    ``"B"`` is the photo in [-1, 1]; ``"path"`` is the label file. Frames without a photo (prediction on
    label maps alone) have no ``"B"``.

    Args:
        frames: Frames, already checked.
        label_nc: Number of label classes.
        transform: Resize, crop and flip shared by the maps and the photo; random when ``train=True``.
    """

    def __init__(self, frames: list[CityscapesFiles], label_nc: int, transform: PairTransform) -> None:
        self.frames = list(frames)
        self.label_nc = label_nc
        self.transform = transform

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        frame = self.frames[index]
        size = read_header(frame.label)
        params = self.transform.sample((size.width, size.height))

        item: dict[str, Any] = {
            "A": load_label_condition(frame.label, self.label_nc, frame.instance, params),
            "path": str(frame.label),
        }
        if frame.photo is not None:
            item["B"] = self.transform.apply(load_image(frame.photo, 3), params)
        return item


class CityscapesDataModule(ConditionalImageDataModule):
    """Cityscapes label maps to photos from a local copy in the original layout (see the module docstring).

    With the defaults, images are scaled to 1024x512 (pix2pixHD's 512p setting) and flipped during training.

    Args:
        root: Folder holding ``gtFine/`` and ``leftImg8bit/``.
        label_nc: Number of label classes; ``labelIds`` uses 0..33, pix2pixHD uses 35.
        use_instance: Append the instance-boundary channel computed from ``*_instanceIds.png``.
        load_size: Width after resizing for ``scale_width*`` (1024 gives 1024x512), or the side for
            ``resize_and_crop``.
        crop_size: Side of the crop for the ``*crop`` modes; for ``scale_width`` the least height.
        preprocess: pix2pix preprocess mode, see :mod:`bgan_lightning.data.transforms`.
        flip: Mirror training frames left to right with probability 0.5.
        test_split: Split used for testing; ``val`` by default, because the public test split has no labels.
        batch_size: Frames per batch.
        num_workers: DataLoader workers; None uses min(4, CPU count).
        pin_memory: Pin batches in page-locked memory.
        predict_dir: Folder searched recursively for ``*_labelIds.png`` (and ``*_instanceIds.png``) to
            predict on; None predicts on ``test_split``.
        skip_invalid: Skip unreadable frames (their count is logged once) instead of raising.
        verify_images: Decode every file once at setup and check the class ids, so that bad files fail there.
    """

    def __init__(
        self,
        root: str | Path,
        label_nc: int = 35,
        use_instance: bool = True,
        load_size: int = 1024,
        crop_size: int = 512,
        preprocess: Preprocess = "scale_width",
        flip: bool = True,
        test_split: str = "val",
        batch_size: int = 1,
        num_workers: int | None = None,
        pin_memory: bool = False,
        predict_dir: str | Path | None = None,
        skip_invalid: bool = False,
        verify_images: bool = True,
    ) -> None:
        if label_nc < 1:
            raise ValueError(f"label_nc={label_nc} must be at least 1.")
        if test_split not in ("train", "val", "test"):
            raise ValueError(f"test_split={test_split!r} must be 'train', 'val' or 'test'.")
        PairTransform(preprocess, load_size, crop_size)  # Checks the sizes now rather than at setup.
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            val_fraction=0.0,
            predict_dir=predict_dir,
            skip_invalid=skip_invalid,
            verify_images=verify_images,
            dataset_name="cityscapes",
            load_size=load_size,
            crop_size=crop_size,
            input_nc=label_nc + 1 if use_instance else label_nc,
            output_nc=3,
        )
        self.root = Path(root)
        self.label_nc = label_nc
        self.use_instance = use_instance
        self.preprocess = preprocess
        self.flip = flip
        self.test_split = test_split

    def _transform(self, train: bool) -> PairTransform:
        return PairTransform(self.preprocess, self.load_size, self.crop_size, flip=self.flip, train=train)

    def _dataset_of(self, frames: list[CityscapesFiles], train: bool, where: Path) -> CityscapesDataset:
        transform = self._transform(train)
        frames = check_frames(frames, self.label_nc, transform, self.skip_invalid, self.verify_images, where)
        return CityscapesDataset(frames, self.label_nc, transform)

    def build_dataset(self, split: str, train: bool) -> Dataset | None:
        folder_split = self.test_split if split == "test" else split
        frames = find_cityscapes_split(self.root, folder_split, self.use_instance)
        if frames is None:
            return None
        return self._dataset_of(frames, train, self.root / "gtFine" / folder_split)

    def build_predict_dataset(self, folder: Path) -> Dataset:
        if not folder.is_dir():
            raise FileNotFoundError(f"Prediction folder {folder} does not exist; set predict_dir to label maps.")
        frames = find_label_files(folder, self.use_instance)
        if not frames:
            raise FileNotFoundError(f"Prediction folder {folder} contains no *{LABEL_SUFFIX} files.")
        return self._dataset_of(frames, train=False, where=folder)
