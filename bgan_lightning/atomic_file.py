"""Atomic file writes: data appears under its final name all at once, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    # The umask can only be read by setting it, so set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing, and rename it to ``path`` when the block ends.

    A reader never sees a half-written file, because the rename replaces any old file in one step. If the block
    raises (a ``KeyboardInterrupt`` included), the temporary file is removed and ``path`` is left as it was.
    The parent folder is created. The file gets the mode a plain ``open`` would give it (0o666 less the umask),
    not the owner-only mode of ``tempfile.mkstemp``, so images and reports can be shared like any output.

    Args:
        path: Final path of the file.
        mode: Write mode for ``open``, ``"wb"`` or ``"w"``.
        encoding: Text encoding for ``mode="w"``.

    Yields:
        The open temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
        os.chmod(temp_name, 0o666 & ~_umask())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
