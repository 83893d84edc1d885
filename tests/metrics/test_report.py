from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from bgan_lightning.metrics.report import (
    STRIP_NAME_PATTERN,
    markdown_table,
    remove_strips,
    strip_name,
    write_report,
    write_strip,
)


def test_strip_shows_condition_target_and_samples(tmp_path):
    condition = torch.full((1, 8, 8), -1.0)
    target = torch.full((3, 8, 8), 1.0)
    samples = torch.zeros(2, 3, 8, 8)

    entry = write_strip(tmp_path, 7, condition, target, samples, path="data/test/12 a|b.jpg")
    image = np.asarray(Image.open(tmp_path / entry["strip"]))

    assert entry == {"index": 7, "name": "data/test/12 a|b.jpg", "strip": "strips/00007_12_a_b.png"}
    # Four 8x8 tiles with 2-pixel white padding.
    assert image.shape == (12, 42, 3)
    assert (image[2:10, 2:10] == 0).all()
    assert (image[2:10, 12:20] == 255).all()
    assert (image[2:10, 22:30] == 128).all()


def test_strip_without_target_has_one_tile_less(tmp_path):
    entry = write_strip(tmp_path, 0, torch.zeros(3, 4, 4), None, torch.zeros(3, 3, 4, 4))
    assert entry["strip"] == "strips/00000_input.png"
    assert Image.open(tmp_path / entry["strip"]).size == (4 * 6 + 2, 8)


def test_strip_name_pads_the_index():
    assert strip_name(3, "a/b/photo.v2.png") == "00003_photo.v2.png"


def test_markdown_table_states_metrics_and_protocol():
    table = markdown_table({"fid": 88.7, "lpips_diversity": 0.26481}, {"pairs": "consecutive", "checkpoint": None})
    assert table == (
        "| quantity | value |\n"
        "|---|---|\n"
        "| FID (lower is better) | 88.7000 |\n"
        "| LPIPS diversity (mean over trials, higher is more diverse) | 0.2648 |\n"
        "| LPIPS pairs | consecutive |\n"
        "| Checkpoint | - |\n"
    )


def test_report_files_hold_every_setting_and_every_input(tmp_path):
    inputs = [
        write_strip(tmp_path, i, torch.zeros(3, 4, 4), None, torch.zeros(2, 3, 4, 4), f"<{i}>.png") for i in (1, 0)
    ]
    metrics = {"lpips_diversity": 0.25, "fid": 12.5}
    protocol = {"split": "test", "num_samples": 2, "lpips_weights": {"alexnet": "offline build"}, "custom": "x|y"}

    paths = write_report(tmp_path, metrics, protocol, inputs)

    record = json.loads(paths["json"].read_text())
    assert record["metrics"] == metrics
    assert record["protocol"] == protocol
    assert [entry["index"] for entry in record["inputs"]] == [0, 1]
    markdown = paths["markdown"].read_text()
    assert "| Samples per input | 2 |" in markdown
    assert "| LPIPS weights | alexnet: offline build |" in markdown
    assert "| custom | x\\|y |" in markdown
    page = paths["html"].read_text()
    assert page.count("<img ") == 2
    assert '<img src="strips/00000__0_.png"' in page
    assert "&lt;1&gt;.png" in page
    assert not list(tmp_path.rglob(".*.tmp"))


def test_remove_strips_deletes_only_strip_names(tmp_path):
    strips = tmp_path / "strips"
    strips.mkdir()
    written = [
        write_strip(tmp_path, index, torch.zeros(3, 2, 2), None, torch.zeros(1, 3, 2, 2))["strip"]
        for index in (3, 123456)
    ]
    (strips / "00001_a b.png").write_bytes(b"")  # a space is never in a strip name
    (strips / "notes.png").write_bytes(b"")
    (strips / "00002_dir.png").mkdir()
    (tmp_path / "00004_top.png").write_bytes(b"")

    assert written == ["strips/00003_input.png", "strips/123456_input.png"]
    assert all(STRIP_NAME_PATTERN.fullmatch(strip_name(index, path)) for index, path in [(0, None), (7, "x/a|b.jpg")])
    assert remove_strips(tmp_path) == 2
    assert sorted(path.name for path in strips.iterdir()) == ["00001_a b.png", "00002_dir.png", "notes.png"]
    assert (tmp_path / "00004_top.png").is_file()
    assert remove_strips(tmp_path / "absent") == 0
