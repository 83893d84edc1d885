"""Test-wide settings: no network access, temporary caches, quiet Lightning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Folder of the real datasets used by the tests: $BGAN_SHARED_DATA, else ../shared/data beside the repo."""
    return Path(os.environ.get("BGAN_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True, scope="session")
def _offline_environment(tmp_path_factory: pytest.TempPathFactory):
    """Point every cache that could download to a temporary folder and keep W&B offline."""
    root = tmp_path_factory.mktemp("env")
    os.environ.setdefault("TORCH_HOME", str(root / "torch"))
    for key in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        os.environ[key] = str(root / key.lower())
    os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")
    yield
