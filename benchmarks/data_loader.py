"""Loader throughput of PairedImageDataModule on the real facades pairs, with 0 and 2 worker processes.

Each setting reads training pairs the way pix2pix trains on facades (labels to photo, resize to 286, random
256x256 crop, random flip, batch size 1). The settings take turns within each repeat, so both see the same
machine load, and the median over repeats is reported in pairs per second. The first batches of each pass
are read before the clock starts, so worker start-up is not counted. Setup (finding and decoding every file
once to check it) is timed separately.

Usage:
    python -m benchmarks.data_loader            # 3 repeats of 300 pairs per setting
    python -m benchmarks.data_loader --quick    # 1 repeat of 60 pairs per setting, under a minute
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from itertools import islice
from pathlib import Path

import PIL
import torch

from bgan_lightning.data import PairedImageDataModule

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "results" / "data.md"
WORKERS = (0, 2)
# Each setting is (workers, torch threads of the main process), where None keeps torch's default. The extra
# 0-worker setting with one thread shows how much collating in the main process loses to torch's intra-op
# threads on a busy machine.
SETTINGS = ((0, None), (0, 1), (2, None))
WARMUP_BATCHES = 5
# Table A.3 of Wang et al. (ICLR 2020): the BasisGAN pix2pix generator takes 0.01025 s per test image on a
# GTX 1080 Ti, so a loader feeding fewer than about 98 pairs/s would hold that GPU back.
GOAL_PAIRS_PER_SECOND = 1 / 0.01025

log = logging.getLogger(__name__)


def facades_folder() -> Path:
    """Return the facades folder: $BGAN_SHARED_DATA/facades, else ../shared/data/facades beside the repository."""
    return Path(os.environ.get("BGAN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "facades"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line naming the CPU, cores visible to this process and library versions."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", 1-minute load average {os.getloadavg()[0]:.1f} when the run started" if hasattr(os, "getloadavg") else ""
    return (
        f"{cpu_name()}, {cores} cores visible{load}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"Pillow {PIL.__version__}, {platform.system()} {platform.release()}"
    )


def make_datamodule(root: Path, num_workers: int) -> PairedImageDataModule:
    return PairedImageDataModule(
        root,
        direction="BtoA",
        load_size=286,
        crop_size=256,
        batch_size=1,
        num_workers=num_workers,
        val_fraction=0,
    )


def time_pass(datamodule: PairedImageDataModule, num_pairs: int) -> float:
    """Read ``num_pairs`` training pairs after a warm-up; return pairs per second."""
    loader = datamodule.train_dataloader()
    batches = iter(loader)
    for batch in islice(batches, WARMUP_BATCHES):
        assert batch["A"].shape == (1, 3, 256, 256)

    start = time.perf_counter()
    count = 0
    while count < num_pairs:
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            continue
        count += batch["A"].shape[0]
    elapsed = time.perf_counter() - start

    del batches
    return count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat of 60 pairs per setting")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    repeats, num_pairs = (1, 60) if args.quick else (3, 300)
    description = machine()

    root = facades_folder()
    if not (root / "train").is_dir():
        log.error("The facades folder %s is absent; set BGAN_SHARED_DATA to the folder that contains facades/.", root)
        return 1

    # Setup: find and decode every file once (what PairedImageDataModule.setup does before training).
    datamodules = {}
    setup_seconds = {}
    for workers in WORKERS:
        start = time.perf_counter()
        datamodules[workers] = make_datamodule(root, workers)
        datamodules[workers].setup("fit")
        setup_seconds[workers] = time.perf_counter() - start
    num_files = len(datamodules[0].train_dataset)

    # Timed passes, the settings taking turns.
    default_threads = torch.get_num_threads()
    rates: dict[tuple[int, int | None], list[float]] = {setting: [] for setting in SETTINGS}
    for repeat in range(repeats):
        for workers, threads in SETTINGS:
            torch.set_num_threads(threads or default_threads)
            rates[workers, threads].append(time_pass(datamodules[workers], num_pairs))
            torch.set_num_threads(default_threads)
            log.info(
                "repeat %d, %d workers, %s threads: %.1f pairs/s",
                repeat + 1,
                workers,
                threads,
                rates[workers, threads][-1],
            )

    medians = {setting: statistics.median(values) for setting, values in rates.items()}
    lines = [
        "## Data loading",
        "",
        f"Machine: {description}.",
        "",
        f"`python -m benchmarks.data_loader{' --quick' if args.quick else ''}`: training pairs of the real facades "
        f"folder ({num_files} side-by-side JPEGs of 512x256), labels to photo, resized to 286 and randomly cropped "
        f"to 256x256 with random flips, batch size 1. Median of {repeats} pass(es) of {num_pairs} pairs per "
        f"setting, after {WARMUP_BATCHES} warm-up batches.",
        "",
        "| workers | torch threads in the main process | pairs/s | goal | met |",
        "|---|---|---|---|---|",
    ]
    for workers, threads in SETTINGS:
        rate = medians[workers, threads]
        met = "yes" if rate >= GOAL_PAIRS_PER_SECOND else "no"
        threads_shown = threads or f"{default_threads} (default)"
        lines.append(f"| {workers} | {threads_shown} | {rate:.1f} | {GOAL_PAIRS_PER_SECOND:.1f} | {met} |")
    lines += [
        "",
        f"Goal: {GOAL_PAIRS_PER_SECOND:.1f} pairs/s, the rate at which the BasisGAN pix2pix generator consumes test "
        "images on a GTX 1080 Ti (0.01025 s per image, Wang et al., ICLR 2020, Table A.3).",
        "Each DataLoader worker runs torch with one thread (PyTorch sets this in every worker). "
        "In the main process, torch's default intra-op threads "
        "make collating a batch slow when other processes share the cores.",
        f"Setup, which finds and decodes all {num_files} files once to check them, took {setup_seconds[0]:.2f} s.",
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    log.info("wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
