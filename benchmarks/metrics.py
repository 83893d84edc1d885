"""Metric throughput on the CPU: LPIPS (AlexNet, v0.1) pairs per second and FID Inception images per second.

Both run at 256x256, the size of the paper's pix2pix outputs: LPIPS compares pairs of (3, 256, 256) images in
[-1, 1]; the FID Inception takes uint8 (3, 256, 256) images and resizes them to 299 inside. One batch runs before
the clock starts, and the median over repeats is reported. The full run also times one FID ``compute`` (the
2048x2048 matrix square root), which is paid once per evaluation. The weights come from the project cache (run
``bgan weights fetch`` first); nothing is downloaded.

Usage:
    python -m benchmarks.metrics            # 3 repeats, batches of 16, plus one FID compute
    python -m benchmarks.metrics --quick    # 1 repeat of small batches, under a minute
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from bgan_lightning.metrics import build_fid, build_inception, build_lpips

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "results" / "metrics.md"
SIZE = 256

log = logging.getLogger(__name__)


def cpu_name() -> str:
    """Return the CPU model from /proc/cpuinfo, else what ``platform`` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """Describe the CPU, core count, torch threads, load average and software versions in one line."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"Python {platform.python_version()}, load average {load} at the start"
    )


def median_rate(step, items_per_step: int, repeats: int) -> float:
    """Measure items per second of ``step()``, median over ``repeats`` after one warm-up call."""
    step()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        rates.append(items_per_step / (time.perf_counter() - start))
    return statistics.median(rates)


@torch.no_grad()
def lpips_pairs_per_second(batch: int, repeats: int) -> float:
    """Measure LPIPS (alex, v0.1) pairs per second on (batch, 3, 256, 256) pairs in [-1, 1]."""
    model = build_lpips("alex", "0.1", allow_download=False, allow_build=False)
    generator = torch.Generator().manual_seed(0)
    images_0 = torch.rand(batch, 3, SIZE, SIZE, generator=generator) * 2 - 1
    images_1 = torch.rand(batch, 3, SIZE, SIZE, generator=generator) * 2 - 1
    return median_rate(lambda: model(images_0, images_1), batch, repeats)


@torch.no_grad()
def inception_images_per_second(batch: int, repeats: int) -> float:
    """Measure FID Inception images per second on uint8 (batch, 3, 256, 256) images (resized to 299 inside)."""
    model = build_inception(allow_download=False, allow_build=False)
    images = torch.randint(
        0, 256, (batch, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )
    return median_rate(lambda: model(images), batch, repeats)


def fid_compute_seconds() -> float:
    """Time one ``FrechetInceptionDistance.compute`` on 2048-d statistics of random features.

    The metric's sums are filled directly, so no image goes through the Inception.
    """
    fid = build_fid(allow_download=False, allow_build=False)
    generator = torch.Generator().manual_seed(2)
    for state, shift in (("real", 0.0), ("fake", 0.5)):
        features = torch.randn(64, 2048, generator=generator, dtype=torch.float64) + shift
        setattr(fid, f"{state}_features_sum", features.sum(dim=0))
        setattr(fid, f"{state}_features_cov_sum", features.t() @ features)
        setattr(fid, f"{state}_features_num_samples", torch.tensor(64))
    fid.orig_dtype = torch.float32  # set by ``update``, which this shortcut skips
    start = time.perf_counter()
    fid.compute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write benchmarks/results/metrics.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat of small batches (under a minute)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    repeats = 1 if args.quick else 3
    lpips_batch, inception_batch = (4, 2) if args.quick else (16, 16)
    host = machine()
    lpips_rate = lpips_pairs_per_second(lpips_batch, repeats)
    log.info("LPIPS alex: %.1f pairs/s", lpips_rate)
    inception_rate = inception_images_per_second(inception_batch, repeats)
    log.info("FID Inception: %.2f images/s", inception_rate)
    compute = None if args.quick else fid_compute_seconds()

    rows = [
        f"| LPIPS (AlexNet, v0.1), pairs of 3x256x256 in [-1, 1] | {lpips_batch} | {lpips_rate:.1f} pairs/s |",
        f"| FID Inception-v3 features, uint8 3x256x256 resized to 299 | {inception_batch} "
        f"| {inception_rate:.2f} images/s |",
    ]
    if compute is not None:
        rows.append(f"| FID compute (2048x2048 matrix square root), once per evaluation | - | {compute:.1f} s |")
    lines = [
        "## Metric throughput on the CPU",
        "",
        f"Machine: {host}.",
        f"Run: `python -m benchmarks.metrics{' --quick' if args.quick else ''}` ({repeats} repeat(s), median, "
        "after one warm-up batch).",
        "",
        "| what | batch | throughput |",
        "|---|---|---|",
        *rows,
        "",
        "One evaluation by the default protocol (100 inputs x 20 samples, 19 consecutive pairs each) computes 1,900 "
        "LPIPS pairs and Inception features of 2,000 samples plus the real targets (106 for the facades test split): "
        f"about {1900 / lpips_rate / 60:.0f} min of LPIPS and {2106 / inception_rate / 60:.0f} min of Inception at "
        "these rates, which makes a GPU the practical choice for full evaluations.",
        "",
    ]
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        lines.insert(
            3,
            "Other jobs shared the CPU during the run (load average above the core count), so an idle "
            "machine of this kind is faster.",
        )
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines))
    log.info("Wrote %s", OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
