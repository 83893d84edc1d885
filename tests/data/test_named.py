"""Named pix2pix datasets: presets, fetching from a local file:// archive, offline errors; never the network."""

from __future__ import annotations

import re
from urllib.error import URLError

import pytest
import torch

from bgan_lightning.data import Pix2PixDataModule, download
from bgan_lightning.data.named import PIX2PIX_DATASETS, dataset_url, fetch_pix2pix_dataset
from tests.data import write_pix2pix_archive


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail loudly if anything tries an http(s) download; file:// addresses still work."""
    real_urlopen = download.urlopen

    def local_only(url, timeout):
        if not url.startswith("file://"):
            raise URLError(f"tests have no network access ({url})")
        return real_urlopen(url, timeout=timeout)

    monkeypatch.setattr(download, "urlopen", local_only)


@pytest.fixture
def facades_archive(tmp_path):
    return write_pix2pix_archive(tmp_path / "server" / "facades.tar.gz", "facades", ("train", "val", "test"))


def test_dataset_urls_point_at_the_pix2pix_server():
    assert dataset_url("maps") == "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/maps.tar.gz"
    assert sorted(PIX2PIX_DATASETS) == ["cityscapes", "edges2handbags", "edges2shoes", "facades", "maps", "night2day"]


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("facades", "BtoA"),
        ("maps", "BtoA"),
        ("cityscapes", "BtoA"),
        ("edges2shoes", "AtoB"),
        ("edges2handbags", "AtoB"),
        ("night2day", "AtoB"),
    ],
)
def test_each_dataset_has_its_usual_direction(tmp_path, name, direction):
    datamodule = Pix2PixDataModule(name, data_dir=tmp_path)

    assert datamodule.direction == direction
    assert datamodule.dataset_name == name
    assert datamodule.root == tmp_path / name
    assert Pix2PixDataModule(name, data_dir=tmp_path, direction="AtoB").direction == "AtoB"


def test_unknown_name_lists_the_choices(tmp_path):
    message = (
        "Unknown pix2pix dataset 'shoes'; choose one of ['cityscapes', 'edges2handbags', 'edges2shoes', 'facades', "
        "'maps', 'night2day']."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        Pix2PixDataModule("shoes", data_dir=tmp_path)


def test_prepare_data_downloads_and_loads(tmp_path, facades_archive):
    data_dir = tmp_path / "data"
    datamodule = Pix2PixDataModule(
        "facades", data_dir=data_dir, url=facades_archive.as_uri(), load_size=8, crop_size=8, num_workers=0
    )

    datamodule.prepare_data()
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))

    assert sorted(path.name for path in data_dir.iterdir()) == ["facades"]
    assert sorted(path.name for path in (data_dir / "facades").iterdir()) == ["test", "train", "val"]
    assert len(datamodule.train_dataset) == 2
    assert len(datamodule.val_dataset) == 2
    # BtoA: the right half (value 192) is the condition.
    assert torch.allclose(batch["A"], torch.full((1, 3, 8, 8), 192 / 127.5 - 1))


def test_present_data_not_downloaded(tmp_path, facades_archive, caplog):
    fetch_pix2pix_dataset("facades", tmp_path, url=facades_archive.as_uri(), progress=False)
    facades_archive.unlink()

    with caplog.at_level("INFO"):
        root = fetch_pix2pix_dataset("facades", tmp_path, url=facades_archive.as_uri(), progress=False)

    assert root == tmp_path / "facades"
    assert f"Dataset facades is present in {root}; skipping the download." in caplog.messages


def test_archive_placed_by_hand_used(tmp_path):
    write_pix2pix_archive(tmp_path / "maps.tar.gz", "maps", ("train", "val"))

    root = fetch_pix2pix_dataset("maps", tmp_path, download=False)

    assert len(list((root / "train").iterdir())) == 2
    assert not (tmp_path / "maps.tar.gz").exists()


def test_missing_data_without_download(tmp_path):
    message = (
        f"Dataset facades is not in {tmp_path / 'facades'}. Set download=True, or fetch "
        "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz by hand, save it as "
        f"{tmp_path / 'facades.tar.gz'} and run again."
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        Pix2PixDataModule("facades", data_dir=tmp_path, download=False).prepare_data()


def test_offline_download_names_url_and_file(tmp_path):
    message = (
        "Could not download http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz "
        "(<urlopen error tests have no network access"
    )
    with pytest.raises(RuntimeError, match=re.escape(message)) as caught:
        fetch_pix2pix_dataset("edges2shoes", tmp_path, progress=False)

    assert f"fetch that file by hand and save it as {tmp_path / 'edges2shoes.tar.gz'}, then run again." in str(
        caught.value
    )
    assert list(tmp_path.iterdir()) == []


def test_archive_without_splits_removed(tmp_path):
    archive = write_pix2pix_archive(tmp_path / "server" / "maps.tar.gz", "maps", ("train",))
    data_dir = tmp_path / "data"

    with pytest.raises(RuntimeError, match=re.escape("lacks the folders ['maps/val']")):
        fetch_pix2pix_dataset("maps", data_dir, url=archive.as_uri(), progress=False)
    assert list(data_dir.iterdir()) == []


def test_setup_before_prepare_data(tmp_path):
    message = (
        f"Dataset night2day is not in {tmp_path / 'night2day'}; run prepare_data() first (the Trainer does) with "
        "download=True, or fetch http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/night2day.tar.gz by hand"
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        Pix2PixDataModule("night2day", data_dir=tmp_path).setup("fit")
