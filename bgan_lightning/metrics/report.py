"""Evaluation reports: numbers with the protocol that produced them, and one image strip per input.

A report folder contains ``metrics.json`` (metrics, protocol and the list of inputs), ``report.md`` (one Markdown
table with every metric and every protocol setting), ``index.html`` (the same table and every strip) and
``strips/<index>_<name>.png`` (condition, target, then the S samples of one input). Every file is written
atomically, so an interrupted run never leaves a half-written report.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from bgan_lightning.atomic_file import atomic_file
from bgan_lightning.images import make_grid, save_png

log = logging.getLogger(__name__)

# Row labels of the known metrics and protocol settings; other keys are shown as they are.
LABELS = {
    "lpips_diversity": "LPIPS diversity (mean over trials, higher is more diverse)",
    "lpips_diversity_std": "LPIPS diversity standard deviation over trials",
    "fid": "FID (lower is better)",
    "mode_coverage": "Mode coverage (fraction of the M modes among the samples of an input)",
    "mode_jsd": "Mode Jensen-Shannon divergence from uniform (bits)",
    "shape_iou": "Shape IoU of filled pixels against the true region",
    "dataset": "Dataset",
    "direction": "Direction (AtoB: left half is the condition)",
    "split": "Split",
    "checkpoint": "Checkpoint",
    "num_inputs": "Inputs evaluated",
    "diversity_inputs": "Inputs in LPIPS diversity",
    "num_samples": "Samples per input",
    "pairs": "LPIPS pairs",
    "num_pairs": "Pairs per input",
    "lpips_net": "LPIPS network",
    "lpips_version": "LPIPS version",
    "lpips_weights": "LPIPS weights",
    "trials": "Trials",
    "fid_feature": "FID feature dimension",
    "fid_real_images": "FID real images",
    "fid_fake_images": "FID generated images",
    "fid_real_statistics": "FID real statistics",
    "fid_weights": "FID weights",
    "image_size": "Image size (H x W)",
    "seed": "Seed (input i, trial 0 uses seed + i)",
}


def _atomic_write_text(path: Path, text: str) -> Path:
    with atomic_file(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_format(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(item) for item in value)
    return str(value)


# Every name strip_name can return, and nothing else a user is likely to keep in strips/.
STRIP_NAME_PATTERN = re.compile(r"\d{5,}_[A-Za-z0-9_.-]*\.png")


def strip_name(index: int, path: str | None = None) -> str:
    """File name of the strip of input ``index``: ``<index:05d>_<stem of path>.png`` (stem made file-safe)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem) if path else "input"
    return f"{index:05d}_{stem}.png"


def remove_strips(folder: str | Path) -> int:
    """Delete the strips of an earlier report in ``folder``, so a new report never shows stale ones beside its own.

    Only files of ``<folder>/strips/`` whose names match :data:`STRIP_NAME_PATTERN` are deleted; other files and
    sub-folders stay.

    Args:
        folder: Report folder (it may not exist yet).

    Returns:
        The number of files deleted.
    """
    strips = Path(folder) / "strips"
    if not strips.is_dir():
        return 0

    removed = 0
    for path in strips.iterdir():
        if path.is_file() and not path.is_symlink() and STRIP_NAME_PATTERN.fullmatch(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("Removed %d strips of an earlier report from %s", removed, strips)
    return removed


def write_strip(
    folder: str | Path,
    index: int,
    condition: Tensor,
    target: Tensor | None,
    samples: Tensor,
    path: str | None = None,
) -> dict[str, Any]:
    """Write the strip of one input: its condition, its target when there is one, then its samples.

    Args:
        folder: Report folder; the strip goes to ``<folder>/strips/``.
        index: Position of the input in the split.
        condition: (C_a, H, W) in [-1, 1]; label maps and masks are shown through ``to_display``.
        target: (C_b, H, W) in [-1, 1], or None.
        samples: (S, C_b, H, W) in [-1, 1].
        path: The input's source path, used in the file name and caption.

    Returns:
        ``{"index", "name", "strip"}`` with the strip's path relative to ``folder``.
    """
    row = [condition.cpu()] + ([target.cpu()] if target is not None else []) + list(samples.cpu())
    relative = Path("strips") / strip_name(index, path)
    save_png(make_grid([row]), Path(folder) / relative)
    return {"index": index, "name": path or f"input {index}", "strip": relative.as_posix()}


def markdown_table(metrics: Mapping[str, Any], protocol: Mapping[str, Any]) -> str:
    """Format one Markdown table with every metric followed by every protocol setting."""
    lines = ["| quantity | value |", "|---|---|"]
    for key, value in [*metrics.items(), *protocol.items()]:
        label, text = (cell.replace("|", "\\|") for cell in (LABELS.get(key, key), _format(value)))
        lines.append(f"| {label} | {text} |")
    return "\n".join(lines) + "\n"


def _html_page(metrics: Mapping[str, Any], protocol: Mapping[str, Any], inputs: Sequence[Mapping[str, Any]]) -> str:
    rows = "\n".join(
        f"<tr><th>{html.escape(LABELS.get(key, key))}</th><td>{html.escape(_format(value))}</td></tr>"
        for key, value in [*metrics.items(), *protocol.items()]
    )
    figures = "\n".join(
        f'<figure><img src="{html.escape(entry["strip"])}" loading="lazy" alt="input {entry["index"]}">'
        f"<figcaption>{entry['index']}: {html.escape(str(entry['name']))}</figcaption></figure>"
        for entry in inputs
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Evaluation report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
figure {{ margin: 0 0 1em 0; }}
img {{ image-rendering: pixelated; max-width: 100%; }}
</style>
</head>
<body>
<h1>Evaluation report</h1>
<p>Each strip shows the input, its target, then its samples.</p>
<table>
{rows}
</table>
{figures}
</body>
</html>
"""


def write_report(
    folder: str | Path,
    metrics: Mapping[str, Any],
    protocol: Mapping[str, Any],
    inputs: Sequence[Mapping[str, Any]],
) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md`` and ``index.html`` into ``folder``.

    Args:
        folder: Report folder; strips are expected under ``<folder>/strips`` (see :func:`write_strip`).
        metrics: Metric name to number.
        protocol: Setting name to value; every setting that decides the numbers belongs here.
        inputs: ``{"index", "name", "strip"}`` per input, as returned by :func:`write_strip`.

    Returns:
        Paths of the three files by kind: ``"json"``, ``"markdown"``, ``"html"``.
    """
    folder = Path(folder)
    inputs = sorted(inputs, key=lambda entry: entry["index"])
    record = {"metrics": dict(metrics), "protocol": dict(protocol), "inputs": list(inputs)}
    paths = {
        "json": _atomic_write_text(folder / "metrics.json", json.dumps(record, indent=2, default=str) + "\n"),
        "markdown": _atomic_write_text(
            folder / "report.md", "# Evaluation report\n\n" + markdown_table(metrics, protocol)
        ),
        "html": _atomic_write_text(folder / "index.html", _html_page(metrics, protocol, inputs)),
    }
    log.info("Wrote the evaluation report of %d inputs to %s", len(inputs), folder)
    return paths
