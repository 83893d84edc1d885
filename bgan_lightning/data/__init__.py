"""Datasets and LightningDataModules that yield ``{"A", "B", "path"}`` batches in [-1, 1]."""

from bgan_lightning.data.base import ConditionalImageDataModule, ConditionFolderDataset
from bgan_lightning.data.builtin_cache import builtin_data_dir
from bgan_lightning.data.builtin_edges import EdgesToPhotoDataModule
from bgan_lightning.data.cityscapes import CityscapesDataModule, CityscapesDataset
from bgan_lightning.data.image_files import InvalidImageError
from bgan_lightning.data.inpainting import InpaintingDataModule, InpaintingDataset
from bgan_lightning.data.label_maps import instance_boundaries, load_label_condition, one_hot_labels
from bgan_lightning.data.multimodal_shapes import MultimodalShapesDataModule
from bgan_lightning.data.named import PIX2PIX_DATASETS, Pix2PixDataModule, fetch_pix2pix_dataset
from bgan_lightning.data.paired import PairedImageDataset
from bgan_lightning.data.paired_datamodule import PairedImageDataModule
from bgan_lightning.data.single_folder import SingleFolderDataModule, SingleImageDataset
from bgan_lightning.data.transforms import PairTransform

__all__ = [
    "CityscapesDataModule",
    "CityscapesDataset",
    "ConditionFolderDataset",
    "ConditionalImageDataModule",
    "EdgesToPhotoDataModule",
    "InpaintingDataModule",
    "InpaintingDataset",
    "InvalidImageError",
    "MultimodalShapesDataModule",
    "PIX2PIX_DATASETS",
    "PairTransform",
    "PairedImageDataModule",
    "PairedImageDataset",
    "Pix2PixDataModule",
    "SingleFolderDataModule",
    "SingleImageDataset",
    "builtin_data_dir",
    "fetch_pix2pix_dataset",
    "instance_boundaries",
    "load_label_condition",
    "one_hot_labels",
]
