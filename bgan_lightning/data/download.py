"""Downloading and safely extracting dataset archives.

A download goes to ``<file>.part`` and is renamed only when complete, so an interrupted download never
looks like a finished one. Extraction first checks every member of the archive: no absolute paths, no
``..``, no links that point outside the target folder, no device files. It then unpacks into a temporary
folder beside the target and checks that the expected folders are there. Only then does it move the result
into place. On any error the partial files are removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.error import URLError
from urllib.request import urlopen

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20


def download_file(url: str, destination: str | Path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``destination`` through ``<destination>.part``, with a progress bar.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        destination: Final path of the file; its folder is created.
        timeout: Seconds to wait for the server before giving up.
        progress: Show a tqdm progress bar.

    Returns:
        ``destination``.

    Raises:
        RuntimeError: The download failed or ended early; the message names the URL and where to put the file
            when fetching it by hand. No ``.part`` file is left behind.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    logger.info("Downloading %s to %s", url, destination)
    try:
        with urlopen(url, timeout=timeout) as response, open(part, "wb") as file:
            length = response.headers.get("Content-Length")
            expected = int(length) if length else None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=destination.name, disable=not progress) as bar:
                received = 0
                while chunk := response.read(_CHUNK_BYTES):
                    file.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if expected is not None and received != expected:
            raise OSError(f"received {received} of {expected} bytes")
        part.replace(destination)
    except (URLError, OSError, TimeoutError) as error:
        part.unlink(missing_ok=True)
        raise RuntimeError(
            f"Could not download {url} ({error}). Without network access, fetch that file by hand and save it as "
            f"{destination}, then run again."
        ) from error
    return destination


def _is_inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def check_members(archive: tarfile.TarFile, target: Path) -> list[tarfile.TarInfo]:
    """Return the members of ``archive`` after checking that each stays inside ``target`` when extracted.

    Raises:
        RuntimeError: A member has an absolute path, a ``..`` component, is a link pointing outside
            ``target``, or is a device or FIFO; the message names the member.
    """
    root = os.path.normpath(os.path.abspath(target))
    members = archive.getmembers()
    for member in members:
        name = PurePosixPath(member.name)
        drive = bool(name.parts) and ":" in name.parts[0]
        if name.is_absolute() or member.name.startswith(("/", "\\")) or drive:
            raise RuntimeError(f"Rejected archive {archive.name}: member {member.name!r} has an absolute path.")
        if ".." in name.parts:
            raise RuntimeError(f"Rejected archive {archive.name}: member {member.name!r} contains '..'.")
        destination = os.path.normpath(os.path.join(root, *name.parts))
        if member.issym() or member.islnk():
            # Symbolic links resolve against their own folder, and hard links against the archive root.
            base = os.path.dirname(destination) if member.issym() else root
            link = os.path.normpath(os.path.join(base, member.linkname))
            if os.path.isabs(member.linkname) or not _is_inside(link, root):
                raise RuntimeError(
                    f"Rejected archive {archive.name}: link {member.name!r} -> {member.linkname!r} points outside "
                    f"{target}."
                )
        elif not (member.isfile() or member.isdir()):
            raise RuntimeError(f"Rejected archive {archive.name}: member {member.name!r} is not a file or folder.")
    return members


def extract_archive(archive_path: str | Path, target: str | Path, required: Sequence[str] = ()) -> None:
    """Check and extract a tar archive (any compression) into ``target``, all or nothing.

    Args:
        archive_path: The ``.tar``, ``.tar.gz`` or ``.tgz`` file.
        target: Folder to extract into; created if needed. Existing entries of the same name are replaced.
        required: Folders (relative to ``target``, ``/``-separated) the archive must contain, such as
            ``"facades/train"``.

    Raises:
        RuntimeError: The archive cannot be read, contains an unsafe member, or lacks a required folder. Nothing
            is left in ``target`` then.
    """
    archive_path, target = Path(archive_path), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = target / f".{archive_path.name}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        try:
            with tarfile.open(archive_path) as archive:
                members = check_members(archive, staging)
                names = {PurePosixPath(member.name).as_posix().rstrip("/") for member in members}
                missing = [
                    folder
                    for folder in required
                    if folder not in names and not any(name.startswith(folder + "/") for name in names)
                ]
                if missing:
                    raise RuntimeError(
                        f"Archive {archive_path} lacks the folders {missing}; it is not the expected dataset. "
                        "Delete it and download it again."
                    )
                logger.info("Extracting %d entries of %s into %s", len(members), archive_path, target)
                if hasattr(tarfile, "data_filter"):
                    archive.extractall(staging, members=members, filter="data")
                else:
                    archive.extractall(staging, members=members)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise RuntimeError(
                f"Archive {archive_path} cannot be read ({error}); it is damaged or incomplete. Delete it and "
                "download it again."
            ) from error

        for entry in staging.iterdir():
            destination = target / entry.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            elif destination.exists() or destination.is_symlink():
                destination.unlink()
            entry.replace(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
