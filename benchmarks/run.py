"""Run every benchmark and assemble BENCHMARKS.md from their result sections.

Each benchmark module (``benchmarks.layers``, ``benchmarks.networks``, ``benchmarks.data_loader``,
``benchmarks.metrics``) measures its ratios side by side in one process and writes a Markdown section under
``benchmarks/results/``. This script runs them one after another, so they do not compete for the
CPU, then joins the sections under a header into ``BENCHMARKS.md`` at the repository root.

Usage:
    python -m benchmarks.run            # full runs (tens of minutes on 2 CPU cores)
    python -m benchmarks.run --quick    # fewer repeats, for a smoke check
    python -m benchmarks.run --only layers networks
    python -m benchmarks.run --assemble-only    # rebuild BENCHMARKS.md from benchmarks/results/
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# Benchmark module -> the result section it writes under benchmarks/results/.
BENCHMARKS = {"layers": "layers.md", "networks": "networks.md", "data_loader": "data.md", "metrics": "metrics.md"}

HEADER = """# Benchmarks

Every number below comes from `python -m benchmarks.run` (or one of its parts, `python -m benchmarks.NAME`).
Each part times the compared variants interleaved in one process and reports medians of repeated timings,
so ratios are fair even on a shared machine. Absolute times depend on the machine each section names.
Goals come from the paper (Wang et al., ICLR 2020, Table A.3 and appendix D) and are marked met or missed.
"""

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller shapes where stated")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--assemble-only", action="store_true", help="rebuild BENCHMARKS.md from existing results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    failed = []
    for name in [] if args.assemble_only else args.only:
        command = [sys.executable, "-m", f"benchmarks.{name}"] + (["--quick"] if args.quick else [])
        log.info("running %s", " ".join(command))
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(name)

    sections = [HEADER]
    for name, result_file in BENCHMARKS.items():
        path = RESULTS / result_file
        if path.exists():
            sections.append(path.read_text().strip() + "\n")
        else:
            sections.append(f"## {name}\n\nNot measured yet: run `python -m benchmarks.{name}`.\n")
    temporary = args.output.with_suffix(".md.tmp")
    temporary.write_text("\n".join(sections))
    temporary.replace(args.output)
    log.info("wrote %s", args.output)

    if failed:
        log.error("benchmarks that failed: %s", ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
