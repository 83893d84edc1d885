"""Image files on disk: listing, header checks and decoding into 8-bit PIL images with clear errors.

Every dataset in this package opens files through :func:`load_image` or :func:`load_label_map`, so a bad
file always fails with the same message (the file name and the reason) and never as a bare PIL error deep
inside a DataLoader worker.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Checked = TypeVar("Checked")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

# Modes PIL uses for 16- and 32-bit integer images (16-bit PNGs open as "I;16" or "I").
_WIDE_INTEGER_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
# Modes that are converted without a warning; any other mode (RGBA, LA, P, CMYK, ...) is reported once.
_PLAIN_MODES = ("L", "RGB", *_WIDE_INTEGER_MODES)

# Errors PIL raises for unreadable, truncated or corrupt files.
_DECODE_ERRORS = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError)


# The fix for an unreadable file, appended to every read or decode error.
SKIP_HINT = (
    "Replace or delete the file, or set skip_invalid=True (data.init_args.skip_invalid: true) to skip unreadable files."
)
# The same for a file that fails while a batch is loaded: only setup can skip files, and it finds truncated
# files only when it decodes every file.
SKIP_HINT_AT_LOAD = (
    "Replace or delete the file, or set skip_invalid=True (data.init_args.skip_invalid: true) with "
    "verify_images=True to skip unreadable files at setup."
)


class InvalidImageError(ValueError):
    """An image file that cannot be opened or decoded; the message names the file and the reason."""


@dataclass(frozen=True)
class ImageHeader:
    """Size and PIL mode of an image file, read from its header without decoding the pixels."""

    path: Path
    width: int
    height: int
    mode: str


def list_images(folder: Path) -> list[Path]:
    """List the image files (JPEG, PNG, BMP, WebP) directly inside ``folder``, sorted by name.

    Hidden files (names starting with a dot) are ignored. Subfolders are not searched.
    """
    return sorted(
        path
        for path in Path(folder).iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
    )


def read_header(path: Path) -> ImageHeader:
    """Read the size and mode of an image without decoding it.

    Raises:
        InvalidImageError: The file is missing, not an image, or has a corrupt header.
    """
    try:
        with Image.open(path) as image:
            return ImageHeader(Path(path), image.width, image.height, image.mode)
    except _DECODE_ERRORS as error:
        raise InvalidImageError(f"Cannot read image {path}: {error}. {SKIP_HINT}") from error


def check_decodes(path: Path) -> None:
    """Decode every pixel of an image once, so truncated files are found before training.

    Raises:
        InvalidImageError: The file cannot be decoded completely.
    """
    try:
        with Image.open(path) as image:
            image.load()
    except _DECODE_ERRORS as error:
        raise InvalidImageError(f"Cannot decode image {path}: {error}. {SKIP_HINT}") from error


def needs_conversion_warning(mode: str) -> bool:
    """Return whether an image of this PIL mode is converted in a way the user should hear about.

    Alpha channels are dropped and palette images are expanded to their colours, which changes what the
    model sees, so datasets warn once when they meet such files.
    """
    return mode not in _PLAIN_MODES


def warn_converted_modes(headers: list[ImageHeader], folder: Path) -> None:
    """Warn once if any image has an alpha channel, a palette or another mode that is converted on loading."""
    converted = [header for header in headers if needs_conversion_warning(header.mode)]
    if not converted:
        return
    modes = sorted({header.mode for header in converted})
    warnings.warn(
        f"{len(converted)} image(s) in {folder} have mode(s) {modes} (for example {converted[0].path.name}); "
        "they are converted to RGB or grayscale, which drops alpha channels and expands palettes.",
        stacklevel=3,
    )


def to_8bit(image: Image.Image) -> Image.Image:
    """Convert a 16-bit integer image (PIL modes "I;16*" and "I") to 8-bit grayscale, mapping 0..65535 to 0..255."""
    array = np.asarray(image).astype(np.float64)
    scaled = np.clip(array * (255.0 / 65535.0), 0, 255).round().astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def load_image(path: Path, channels: int) -> Image.Image:
    """Decode an image file into an 8-bit grayscale (``channels=1``) or RGB (``channels=3``) PIL image.

    16-bit images are scaled to 8 bits; RGBA, palette and other modes are converted with PIL's rules.

    Raises:
        InvalidImageError: The file cannot be read or decoded.
    """
    assert channels in (1, 3), channels
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in _WIDE_INTEGER_MODES:
                image = to_8bit(image)
            elif image.mode not in ("L", "RGB"):
                image = image.convert("RGB")
            return image.convert("L" if channels == 1 else "RGB")
    except _DECODE_ERRORS as error:
        raise InvalidImageError(f"Cannot decode image {path}: {error}. {SKIP_HINT_AT_LOAD}") from error


def load_label_map(path: Path) -> np.ndarray:
    """Decode an integer label or instance-id image into an (H, W) int64 array.

    Palette ("P") images give their palette indices, 8- and 16-bit grayscale images their values.

    Raises:
        InvalidImageError: The file cannot be decoded or holds colour (RGB) values instead of integer ids.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ("L", "P", *_WIDE_INTEGER_MODES, "1"):
                raise InvalidImageError(
                    f"Label image {path} has mode {image.mode}; label and instance maps must be single-channel "
                    "integer images (8- or 16-bit grayscale or palette PNG), not colour images."
                )
            return np.asarray(image).astype(np.int64)
    except InvalidImageError:
        raise
    except _DECODE_ERRORS as error:
        raise InvalidImageError(f"Cannot decode label image {path}: {error}. {SKIP_HINT_AT_LOAD}") from error


def keep_valid(
    items: Sequence[Item], check: Callable[[Item], Checked], skip_invalid: bool, where: Path | str
) -> list[tuple[Item, Checked]]:
    """Run ``check`` on every item in the main process and keep the items that pass.

    Args:
        items: Files or records of files (for example the two files of a pair).
        check: Raises :class:`InvalidImageError` for an unusable item, otherwise returns what it learnt
            (for example the image headers).
        skip_invalid: Skip failing items and log their count once; otherwise the first failure is raised.
        where: Folder named in the log message.

    Returns:
        ``(item, check(item))`` for every valid item, in the order of ``items``.

    Raises:
        InvalidImageError: An item failed its check and ``skip_invalid`` is False.
    """
    valid, skipped = [], []
    for item in items:
        try:
            valid.append((item, check(item)))
        except InvalidImageError as error:
            if not skip_invalid:
                raise
            skipped.append(str(error))

    if skipped:
        logger.warning(
            "Skipped %d invalid file(s) in %s (skip_invalid=True); the first: %s", len(skipped), where, skipped[0]
        )
    return valid
