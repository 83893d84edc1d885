"""The pix2pix datasets by name, downloaded from the pix2pix authors' server on first use.

Each archive ``<name>.tar.gz`` unpacks to ``<name>/train/``, ``<name>/val/`` (and for some ``<name>/test/``)
of side-by-side JPEG pairs. :class:`Pix2PixDataModule` is :class:`PairedImageDataModule` with the folder,
the download and the usual direction of each dataset filled in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bgan_lightning.data.download import download_file, extract_archive
from bgan_lightning.data.image_files import list_images
from bgan_lightning.data.paired import Direction, Layout
from bgan_lightning.data.paired_datamodule import PairedImageDataModule
from bgan_lightning.data.transforms import Preprocess

logger = logging.getLogger(__name__)

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"


@dataclass(frozen=True)
class Pix2PixDataset:
    """One dataset of the pix2pix server.

    Attributes:
        name: Archive and folder name.
        direction: Direction of the usual task (the one BasisGAN and pix2pix report).
        splits: Split folders the archive must contain.
        halves: What the left and right halves of each file show.
    """

    name: str
    direction: Direction
    splits: tuple[str, ...]
    halves: str


PIX2PIX_DATASETS: dict[str, Pix2PixDataset] = {
    dataset.name: dataset
    for dataset in (
        Pix2PixDataset("facades", "BtoA", ("train", "val", "test"), "left photo, right label map; labels to photo"),
        Pix2PixDataset("maps", "BtoA", ("train", "val"), "left aerial photo, right map; map to satellite photo"),
        Pix2PixDataset("edges2shoes", "AtoB", ("train", "val"), "left edge map, right shoe photo; edges to photo"),
        Pix2PixDataset("edges2handbags", "AtoB", ("train", "val"), "left edge map, right bag photo; edges to photo"),
        Pix2PixDataset("night2day", "AtoB", ("train", "val", "test"), "left and right the same scene; left to right"),
        Pix2PixDataset("cityscapes", "BtoA", ("train", "val"), "left street photo, right label map; labels to photo"),
    )
}


def _check_name(name: str) -> Pix2PixDataset:
    if name not in PIX2PIX_DATASETS:
        raise ValueError(f"Unknown pix2pix dataset {name!r}; choose one of {sorted(PIX2PIX_DATASETS)}.")
    return PIX2PIX_DATASETS[name]


def dataset_url(name: str) -> str:
    """Return the address of a dataset's archive on the pix2pix server."""
    return PIX2PIX_URL.format(name=_check_name(name).name)


def is_present(root: Path) -> bool:
    """Return whether ``root/train`` contains at least one image (the data was extracted before)."""
    return (root / "train").is_dir() and bool(list_images(root / "train"))


def fetch_pix2pix_dataset(
    name: str,
    data_dir: str | Path,
    download: bool = True,
    url: str | None = None,
    progress: bool = True,
    keep_archive: bool = False,
) -> Path:
    """Make ``data_dir/<name>`` hold a pix2pix dataset: skip if present, else extract, downloading first if needed.

    An archive placed by hand at ``data_dir/<name>.tar.gz`` is used without downloading.

    Args:
        name: One of :data:`PIX2PIX_DATASETS`.
        data_dir: Folder that contains the dataset folders.
        download: Fetch the archive when neither the folder nor the archive is there.
        url: Another address of the archive (a mirror or a ``file://`` path); default the pix2pix server.
        progress: Show a progress bar while downloading.
        keep_archive: Keep the archive after a successful extraction.

    Returns:
        The dataset folder ``data_dir/<name>``.

    Raises:
        FileNotFoundError: The data is absent and ``download`` is False; the message says what to fetch.
        RuntimeError: The download failed (the message names the URL and where to put the file by hand), or
            the archive is damaged, unsafe or lacks the expected split folders.
    """
    dataset = _check_name(name)
    data_dir = Path(data_dir)
    root = data_dir / dataset.name
    if is_present(root):
        logger.info("Dataset %s is present in %s; skipping the download.", dataset.name, root)
        return root

    url = url or dataset_url(dataset.name)
    archive = data_dir / f"{dataset.name}.tar.gz"
    downloaded = False
    if not archive.is_file():
        if not download:
            raise FileNotFoundError(
                f"Dataset {dataset.name} is not in {root}. Set download=True, or fetch {url} by hand, save it as "
                f"{archive} and run again."
            )
        download_file(url, archive, progress=progress)
        downloaded = True

    required = [f"{dataset.name}/{split}" for split in dataset.splits]
    try:
        extract_archive(archive, data_dir, required=required)
    except RuntimeError:
        if downloaded:
            archive.unlink(missing_ok=True)
        raise
    if not keep_archive:
        archive.unlink()
    return root


class Pix2PixDataModule(PairedImageDataModule):
    """A pix2pix dataset by name (facades, maps, edges2shoes, edges2handbags, night2day, cityscapes).

    :meth:`prepare_data` (run by the Trainer on one process) downloads and extracts
    ``data_dir/<name>.tar.gz`` from the pix2pix server unless ``data_dir/<name>/train`` is already there.
    Batches are those of :class:`PairedImageDataModule`.

    Args:
        name: Dataset name; see :data:`PIX2PIX_DATASETS`.
        data_dir: Folder that contains the dataset folders (and receives downloads).
        download: Download when the data is absent; with False a missing dataset raises an error that says
            which file to fetch by hand and where to put it.
        url: Another address of the archive; default ``PIX2PIX_URL`` for ``name``.
        direction: None uses the dataset's usual direction: BtoA for facades, maps and cityscapes (labels or
            map to photo), AtoB for edges2shoes, edges2handbags and night2day.
        layout: Folder layout; the pix2pix archives are side by side.
        load_size: See :class:`PairedImageDataModule`.
        crop_size: See :class:`PairedImageDataModule`.
        preprocess: See :class:`PairedImageDataModule`.
        flip: See :class:`PairedImageDataModule`.
        input_nc: See :class:`PairedImageDataModule`.
        output_nc: See :class:`PairedImageDataModule`.
        skip_invalid: See :class:`PairedImageDataModule`.
        verify_images: See :class:`PairedImageDataModule`.
        batch_size: See :class:`PairedImageDataModule`.
        num_workers: See :class:`PairedImageDataModule`.
        pin_memory: See :class:`PairedImageDataModule`.
        val_fraction: See :class:`PairedImageDataModule` (every pix2pix dataset has a val split).
        split_seed: See :class:`PairedImageDataModule`.
        predict_dir: See :class:`PairedImageDataModule`.
    """

    def __init__(
        self,
        name: str,
        data_dir: str | Path = "data",
        download: bool = True,
        url: str | None = None,
        direction: Direction | None = None,
        layout: Layout = "side_by_side",
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
    ) -> None:
        dataset = _check_name(name)
        super().__init__(
            root=Path(data_dir) / dataset.name,
            direction=direction or dataset.direction,
            layout=layout,
            load_size=load_size,
            crop_size=crop_size,
            preprocess=preprocess,
            flip=flip,
            input_nc=input_nc,
            output_nc=output_nc,
            skip_invalid=skip_invalid,
            verify_images=verify_images,
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            val_fraction=val_fraction,
            split_seed=split_seed,
            predict_dir=predict_dir,
            dataset_name=dataset.name,
        )
        self.name = dataset.name
        self.data_dir = Path(data_dir)
        self.download = download
        self.url = url

    def prepare_data(self) -> None:
        fetch_pix2pix_dataset(self.name, self.data_dir, download=self.download, url=self.url)

    def setup(self, stage: str) -> None:
        if not is_present(self.root):
            url = self.url or dataset_url(self.name)
            raise FileNotFoundError(
                f"Dataset {self.name} is not in {self.root}; run prepare_data() first (the Trainer does) with "
                f"download=True, or fetch {url} by hand and save it as {self.data_dir / (self.name + '.tar.gz')}."
            )
        super().setup(stage)
