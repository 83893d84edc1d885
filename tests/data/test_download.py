"""Downloads through .part files and safe, all-or-nothing archive extraction, without any network access."""

from __future__ import annotations

import io
import re
import tarfile
from urllib.error import URLError

import pytest

from bgan_lightning.data import download
from bgan_lightning.data.download import download_file, extract_archive


def test_download_file_copies_through_a_part_file(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 10)

    result = download_file(source.as_uri(), tmp_path / "out" / "copy.bin", progress=False)

    assert result == tmp_path / "out" / "copy.bin"
    assert result.read_bytes() == source.read_bytes()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["copy.bin"]


def test_failed_download_names_url(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise URLError("no route to host")

    monkeypatch.setattr(download, "urlopen", offline)
    destination = tmp_path / "facades.tar.gz"

    message = (
        "Could not download http://example.invalid/facades.tar.gz (<urlopen error no route to host>). Without network "
        f"access, fetch that file by hand and save it as {destination}, then run again."
    )
    with pytest.raises(RuntimeError, match=re.escape(message)):
        download_file("http://example.invalid/facades.tar.gz", destination, progress=False)
    assert list(tmp_path.iterdir()) == []


class ShortResponse(io.BytesIO):
    """A response that announces more bytes than it sends."""

    headers = {"Content-Length": "10"}


def test_short_download_leaves_no_part_file(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "urlopen", lambda url, timeout: ShortResponse(b"abc"))

    with pytest.raises(RuntimeError, match=re.escape("(received 3 of 10 bytes)")):
        download_file("http://example.invalid/x.tar.gz", tmp_path / "x.tar.gz", progress=False)
    assert list(tmp_path.iterdir()) == []


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"data") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_link(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def build(path, *entries) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for entry in entries:
            entry(tar)
    return str(path)


def test_extracts_an_archive_with_the_required_folders(tmp_path):
    archive = build(
        tmp_path / "good.tar.gz",
        lambda tar: add_file(tar, "demo/train/a.txt", b"A"),
        lambda tar: add_file(tar, "demo/val/b.txt", b"B"),
        lambda tar: add_link(tar, "demo/train/link.txt", "a.txt"),
    )

    extract_archive(archive, tmp_path / "data", required=["demo/train", "demo/val"])

    assert (tmp_path / "data" / "demo" / "train" / "a.txt").read_bytes() == b"A"
    assert (tmp_path / "data" / "demo" / "train" / "link.txt").read_bytes() == b"A"
    assert sorted(path.name for path in (tmp_path / "data").iterdir()) == ["demo"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        # An absolute path would write anywhere on the machine.
        (lambda tar: add_file(tar, "/tmp/evil.txt"), "member '/tmp/evil.txt' has an absolute path."),
        # A parent reference climbs out of the target.
        (lambda tar: add_file(tar, "demo/../../evil.txt"), "member 'demo/../../evil.txt' contains '..'."),
        # A symbolic link to an absolute path outside.
        (lambda tar: add_link(tar, "demo/passwd", "/etc/passwd"), "link 'demo/passwd' -> '/etc/passwd' points outside"),
        # A relative symbolic link that climbs out.
        (lambda tar: add_link(tar, "demo/up", "../../outside"), "link 'demo/up' -> '../../outside' points outside"),
        # A hard link to a file outside.
        (
            lambda tar: add_link(tar, "demo/hard", "../outside", tarfile.LNKTYPE),
            "link 'demo/hard' -> '../outside' points outside",
        ),
        # A device node or FIFO.
        (lambda tar: add_link(tar, "demo/fifo", "", tarfile.FIFOTYPE), "member 'demo/fifo' is not a file or folder."),
    ],
)
def test_unsafe_archives_are_rejected_and_nothing_is_written(tmp_path, entry, message):
    archive = build(tmp_path / "evil.tar.gz", lambda tar: add_file(tar, "demo/train/ok.txt"), entry)
    target = tmp_path / "data"

    with pytest.raises(RuntimeError, match=re.escape(f"Rejected archive {archive}: ") + ".*" + re.escape(message)):
        extract_archive(archive, target, required=["demo/train"])
    assert list(target.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data", "evil.tar.gz"]


def test_archive_without_the_required_folders_is_rejected(tmp_path):
    archive = build(tmp_path / "other.tar.gz", lambda tar: add_file(tar, "demo/train/a.txt"))

    message = f"Archive {archive} lacks the folders ['demo/val']; it is not the expected dataset."
    with pytest.raises(RuntimeError, match=re.escape(message)):
        extract_archive(archive, tmp_path / "data", required=["demo/train", "demo/val"])
    assert list((tmp_path / "data").iterdir()) == []


def test_damaged_archive_is_rejected_and_nothing_is_written(tmp_path):
    archive = tmp_path / "cut.tar.gz"
    build(archive, *[lambda tar, i=i: add_file(tar, f"demo/train/{i}.bin", bytes(range(256)) * 64) for i in range(8)])
    archive.write_bytes(archive.read_bytes()[:300])

    with pytest.raises(RuntimeError, match=re.escape(f"Archive {archive} cannot be read (")):
        extract_archive(archive, tmp_path / "data", required=["demo/train"])
    assert list((tmp_path / "data").iterdir()) == []
