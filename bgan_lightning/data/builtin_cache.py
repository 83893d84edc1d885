"""The cache folder of the built-in datasets, written once and atomically, and an in-memory dataset of pairs.

Built-in datasets are generated from a seed on first use. Each lives in its own folder under the cache root,
named after its parameters, with a ``manifest.json`` recording them. A dataset is built in a hidden
temporary folder beside its final place and renamed into place when complete, so an interrupted build leaves
no half-written dataset behind. When two processes build at once (for example the ranks of a DDP run), the
first rename wins and both read that complete copy.

A build killed before it can clean up (SIGKILL, a SIGTERM that nothing handles, power loss) leaves its
temporary folder behind. Every later call for the same dataset name removes such leftovers once nothing has
been written in them for :data:`STALE_AFTER_S` seconds (one hour). The age limit keeps the temporary folder
of a build that another process is running at the same moment.

The cache root is, in order of precedence: the ``cache_dir`` argument, the ``BGAN_DATA_DIR`` environment
variable, and ``~/.cache/bgan_lightning/datasets``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from bgan_lightning.data.base import SPLITS

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "BGAN_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/bgan_lightning/datasets")
MANIFEST = "manifest.json"
# Seconds after its last write when a leftover temporary build folder counts as abandoned.
STALE_AFTER_S = 3600.0


def builtin_data_dir(cache_dir: str | Path | None = None) -> Path:
    """Return the cache root: ``cache_dir``, else ``$BGAN_DATA_DIR``, else ``~/.cache/bgan_lightning/datasets``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return DEFAULT_DATA_DIR.expanduser()


def split_counts(num_train: int, num_val: int, num_test: int, unit: str) -> dict[str, int]:
    """Collect the item count of every split of a built-in dataset, checking that each is at least one.

    Args:
        num_train: Training items.
        num_val: Validation items.
        num_test: Test items.
        unit: What one item is called in the error message (``"pair"``, ``"item"``).

    Returns:
        ``{"train": num_train, "val": num_val, "test": num_test}``.

    Raises:
        ValueError: A split has fewer than one item.
    """
    counts = {"train": num_train, "val": num_val, "test": num_test}
    for split, count in counts.items():
        if count < 1:
            raise ValueError(f"num_{split}={count}; every split needs at least one {unit}.")
    return counts


def split_generators(seed: int) -> Iterator[tuple[str, np.random.Generator]]:
    """Yield every split of :data:`SPLITS` with its own random generator, all spawned from ``seed``.

    The splits draw from independent streams, so changing the size of one split leaves the others unchanged.
    """
    streams = np.random.SeedSequence(seed).spawn(len(SPLITS))
    for split, stream in zip(SPLITS, streams):
        yield split, np.random.default_rng(stream)


def cached_dataset(
    name: str,
    params: Mapping[str, Any],
    build: Callable[[Path], None],
    cache_dir: str | Path | None = None,
) -> Path:
    """Return the folder of a built-in dataset, building it first if it is not in the cache yet.

    Temporary folders of ``name`` left by killed builds are removed first (see :func:`remove_stale_builds`).

    Args:
        name: Folder name under the cache root; it must encode every parameter that changes the files.
        params: The generation parameters (JSON-serialisable), written to ``manifest.json`` and compared on
            reuse.
        build: Writes the dataset's files into the folder it is given.
        cache_dir: Cache root; see :func:`builtin_data_dir`.

    Returns:
        The complete dataset folder.

    Raises:
        RuntimeError: The folder exists but has no manifest or a manifest with other parameters.
    """
    root = builtin_data_dir(cache_dir)
    target = root / name
    expected = json.loads(json.dumps(dict(params)))
    remove_stale_builds(root, name)
    if target.exists():
        _check_manifest(target, expected)
        return target

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.", suffix=".tmp"))
    try:
        logger.info("Generating built-in dataset %s in %s", name, root)
        build(staging)
        (staging / MANIFEST).write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished the same dataset first; keep its copy.
            if not target.is_dir():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    _check_manifest(target, expected)
    return target


def _last_write(folder: Path) -> float:
    """Return the newest modification time (seconds since the epoch) of ``folder`` and everything inside it."""
    newest = folder.stat().st_mtime
    for parent, folders, files in os.walk(folder):
        for entry in (*folders, *files):
            try:
                newest = max(newest, os.stat(os.path.join(parent, entry), follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def remove_stale_builds(root: Path, name: str, max_age_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the temporary build folders of dataset ``name`` that nothing has written to for ``max_age_s``.

    A build stages its files in ``<root>/.<name>.<random>.tmp``; a process killed mid-build leaves that folder.
    Younger folders are kept because another process may still be building in them.

    Args:
        root: The cache root.
        name: The dataset folder name; temporary folders of other datasets are never touched.
        max_age_s: Age in seconds since the newest write inside a folder after which it is deleted.

    Returns:
        The deleted folders.
    """
    if not root.is_dir():
        return []

    pattern = re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_]+\.tmp")
    now = time.time()
    removed = []
    for folder in sorted(root.iterdir()):
        if not (pattern.fullmatch(folder.name) and folder.is_dir() and not folder.is_symlink()):
            continue
        try:
            age = now - _last_write(folder)
        except FileNotFoundError:
            continue
        if age >= max_age_s:
            logger.info("Removing %s, left by an interrupted build of %s %.0f s ago.", folder, name, age)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _check_manifest(folder: Path, expected: dict[str, Any]) -> None:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise RuntimeError(
            f"{folder} exists but has no {MANIFEST}, so it is not a complete built-in dataset; "
            "delete the folder and it is generated again."
        )
    found = json.loads(manifest.read_text())
    if found != expected:
        raise RuntimeError(
            f"{manifest} records parameters {found}, not the requested {expected}; "
            "delete the folder and it is generated again."
        )


class InMemoryPairs(Dataset):
    """Pairs held in memory as tensors, with an optional random horizontal flip applied to all image keys alike.

    Args:
        conditions: (N, C_a, H, W) float32 in [-1, 1].
        targets: (N, C_b, H, W) float32 in [-1, 1].
        names: N item names, returned under ``"path"``.
        flip: Mirror every image of an item left to right with probability 0.5 (training augmentation). The
            draw comes from torch's global generator, which DataLoader seeds per worker.
        extras: More per-item tensors with N rows; those with the image's height and width as their last two
            dimensions are flipped with the images.
    """

    def __init__(
        self,
        conditions: Tensor,
        targets: Tensor,
        names: list[str],
        flip: bool = False,
        extras: Mapping[str, Tensor] | None = None,
    ) -> None:
        extras = dict(extras or {})
        lengths = {len(conditions), len(targets), len(names), *(len(value) for value in extras.values())}
        assert len(lengths) == 1, lengths
        self.conditions = conditions
        self.targets = targets
        self.names = list(names)
        self.flip = flip
        self.extras = extras

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"A": self.conditions[index], "B": self.targets[index], "path": self.names[index]}
        item.update({key: value[index] for key, value in self.extras.items()})

        if self.flip and torch.rand(()) < 0.5:
            spatial = self.conditions.shape[-2:]
            for key, value in item.items():
                if isinstance(value, Tensor) and value.dim() >= 2 and value.shape[-2:] == spatial:
                    item[key] = value.flip(-1)
        return item
