"""Datasets and LightningDataModules that yield ``{"A", "B", "path"}`` batches in [-1, 1]."""

from bgan_lightning.data.base import ConditionalImageDataModule, ConditionFolderDataset
from bgan_lightning.data.image_files import InvalidImageError
from bgan_lightning.data.named import PIX2PIX_DATASETS, Pix2PixDataModule, fetch_pix2pix_dataset
from bgan_lightning.data.paired import PairedImageDataset
from bgan_lightning.data.paired_datamodule import PairedImageDataModule
from bgan_lightning.data.transforms import PairTransform

__all__ = [
    "ConditionFolderDataset",
    "ConditionalImageDataModule",
    "InvalidImageError",
    "PIX2PIX_DATASETS",
    "PairTransform",
    "PairedImageDataModule",
    "PairedImageDataset",
    "Pix2PixDataModule",
    "fetch_pix2pix_dataset",
]
