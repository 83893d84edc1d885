"""Image file listing, checks and decoding into 8-bit images, with the file named in every error."""

from __future__ import annotations

import logging
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bgan_lightning.data.image_files import (
    InvalidImageError,
    check_decodes,
    keep_valid,
    list_images,
    load_image,
    load_label_map,
    needs_conversion_warning,
    read_header,
    to_8bit,
)
from tests.data import gradient, save

SKIP = (
    ". Replace or delete the file, or set skip_invalid=True (data.init_args.skip_invalid: true) to skip "
    "unreadable files."
)
SKIP_AT_LOAD = (
    ". Replace or delete the file, or set skip_invalid=True (data.init_args.skip_invalid: true) with "
    "verify_images=True to skip unreadable files at setup."
)


def test_list_images_keeps_supported_files_sorted(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.webp", "d.bmp", "e.jpeg", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()

    assert [path.name for path in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.webp", "d.bmp", "e.jpeg"]


def test_read_header_gives_size_and_mode(tmp_path):
    path = save(gradient(6, 4), tmp_path / "x.png")

    header = read_header(path)

    assert (header.path, header.width, header.height, header.mode) == (path, 6, 4, "RGB")


def test_non_image_is_named(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_text("hello")

    with pytest.raises(InvalidImageError, match=re.escape(f"Cannot read image {path}: ") + ".*" + re.escape(SKIP)):
        read_header(path)


def test_truncated_file_is_named(tmp_path):
    path = save(gradient(64, 64), tmp_path / "x.png")
    path.write_bytes(path.read_bytes()[:200])

    read_header(path)  # The header alone is intact.
    with pytest.raises(InvalidImageError, match=re.escape(f"Cannot decode image {path}: ") + ".*" + re.escape(SKIP)):
        check_decodes(path)
    message = re.escape(f"Cannot decode image {path}: ") + ".*" + re.escape(SKIP_AT_LOAD)
    with pytest.raises(InvalidImageError, match=message):
        load_image(path, 3)
    with pytest.raises(
        InvalidImageError, match=re.escape(f"Cannot decode label image {path}: ") + ".*" + re.escape(SKIP_AT_LOAD)
    ):
        load_label_map(path)


def test_sixteen_bit_values_scale_to_eight_bits():
    image = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))

    assert np.asarray(to_8bit(image)).tolist() == [[0, 128, 255]]


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB")])
def test_load_image_gives_the_requested_channels(tmp_path, channels, mode):
    path = save(gradient(4, 4), tmp_path / "x.png")

    assert load_image(path, channels).mode == mode


def test_alpha_is_dropped_and_palettes_expanded(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 90, 0
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    Image.fromarray(np.full((2, 2, 3), 30, np.uint8)).quantize(colors=2).save(tmp_path / "palette.png")

    assert np.asarray(load_image(tmp_path / "alpha.png", 3)).tolist() == [[[90] * 3] * 2] * 2
    assert np.asarray(load_image(tmp_path / "palette.png", 3)).tolist() == [[[30] * 3] * 2] * 2


@pytest.mark.parametrize(
    ("mode", "warns"), [("RGB", False), ("L", False), ("I;16", False), ("RGBA", True), ("P", True)]
)
def test_modes_that_warn(mode, warns):
    assert needs_conversion_warning(mode) is warns


def test_label_maps_keep_integer_ids(tmp_path):
    Image.fromarray(np.array([[0, 3], [7, 1]], np.uint8)).save(tmp_path / "l.png")
    Image.fromarray(np.array([[0, 300]], np.uint16)).save(tmp_path / "wide.png")
    save(gradient(2, 2), tmp_path / "rgb.png")

    assert load_label_map(tmp_path / "l.png").tolist() == [[0, 3], [7, 1]]
    assert load_label_map(tmp_path / "wide.png").tolist() == [[0, 300]]
    with pytest.raises(InvalidImageError, match=re.escape(f"Label image {tmp_path / 'rgb.png'} has mode RGB;")):
        load_label_map(tmp_path / "rgb.png")


def failing_on_odd(value: int) -> int:
    if value % 2:
        raise InvalidImageError(f"item {value} is odd")
    return value * 10


def test_keep_valid_raises_the_first_failure():
    with pytest.raises(InvalidImageError, match="item 1 is odd"):
        keep_valid([0, 1, 2, 3], failing_on_odd, skip_invalid=False, where="here")


def test_keep_valid_skips_and_logs_once(caplog):
    with caplog.at_level(logging.WARNING):
        kept = keep_valid([0, 1, 2, 3], failing_on_odd, skip_invalid=True, where="here")

    assert kept == [(0, 0), (2, 20)]
    assert caplog.messages == ["Skipped 2 invalid file(s) in here (skip_invalid=True); the first: item 1 is odd"]


def write_rgb16_png(path, value: int) -> None:
    """Write a 3x2 16-bit-per-channel RGB PNG of one value (Pillow cannot write this mode itself)."""
    width, height = 3, 2
    rows = b"".join(b"\x00" + np.full((width, 3), value, dtype=">u2").tobytes() for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def test_sixteen_bit_rgb_png_reads_as_eight_bits(tmp_path):
    write_rgb16_png(tmp_path / "rgb16.png", 43690)

    assert np.asarray(load_image(tmp_path / "rgb16.png", 3)).tolist() == [[[170] * 3] * 3] * 2
