from __future__ import annotations

import os

import pytest

from bgan_lightning.atomic_file import atomic_file


def test_text_write_creates_folder_and_file(tmp_path):
    target = tmp_path / "new" / "report.md"

    with atomic_file(target, "w", encoding="utf-8") as handle:
        handle.write("é\n")

    assert target.read_text(encoding="utf-8") == "é\n"
    assert [path.name for path in target.parent.iterdir()] == ["report.md"]


def test_failed_block_keeps_old_file(tmp_path):
    target = tmp_path / "stats.npz"
    target.write_bytes(b"old")

    with pytest.raises(KeyboardInterrupt), atomic_file(target) as handle:
        handle.write(b"half")
        raise KeyboardInterrupt

    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["stats.npz"]


def test_file_mode_follows_umask(tmp_path):
    target = tmp_path / "sample.png"
    previous = os.umask(0o027)
    try:
        with atomic_file(target) as handle:
            handle.write(b"png")
    finally:
        os.umask(previous)

    assert target.stat().st_mode & 0o777 == 0o640
