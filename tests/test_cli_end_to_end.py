"""The whole command-line path on a tiny model: fit, predict (split and condition folder) and test with a report."""

from __future__ import annotations

import json

import pytest
import yaml
from PIL import Image

from bgan_lightning.cli import main
from tests.metrics.test_lpips_net import require_cached

TINY_CONFIG = {
    "seed_everything": 0,
    "trainer": {
        "accelerator": "cpu",
        "max_epochs": 1,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
    },
    "model": {
        "class_path": "bgan_lightning.modules.ConditionalGAN",
        "init_args": {
            "generator": {
                "class_path": "bgan_lightning.networks.ResnetGenerator",
                "init_args": {"ngf": 4, "n_blocks": 2, "stochastic": "alternate", "latent_dim": 8, "hidden_dim": 8},
            },
            "discriminator": {
                "class_path": "bgan_lightning.networks.NLayerDiscriminator",
                "init_args": {"input_nc": 6, "ndf": 4, "n_layers": 2},
            },
            "num_val_samples": 3,
        },
    },
    "data": {
        "class_path": "bgan_lightning.data.EdgesToPhotoDataModule",
        "init_args": {"size": 32, "num_train": 8, "num_val": 2, "num_test": 3, "batch_size": 2},
    },
    "sample_grid": {"num_inputs": 2, "num_samples": 3},
}


@pytest.fixture()
def trained_run(tmp_path, monkeypatch):
    """Fit the tiny config once; return (config path, checkpoint path, run folder)."""
    monkeypatch.setenv("BGAN_DATA_DIR", str(tmp_path / "datasets"))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))
    root = tmp_path / "run"
    assert main(["fit", "--config", str(config), "--trainer.default_root_dir", str(root)]) == 0
    checkpoints = sorted(root.rglob("*.ckpt"))
    assert len(checkpoints) == 1
    return config, checkpoints[0], root


def test_fit_writes_checkpoint_and_sample_grid(trained_run):
    _, checkpoint, root = trained_run

    grids = sorted((root / "samples").glob("epoch_*.png"))

    assert checkpoint.stat().st_size > 0
    assert [grid.name for grid in grids] == ["epoch_0000.png"]
    # Two rows of condition, target and three samples, 32 px tiles with 2 px padding.
    assert Image.open(grids[0]).size == (2 + 5 * 34, 2 + 2 * 34)


def test_predict_writes_samples_for_split_and_folder(trained_run, tmp_path):
    config, checkpoint, _ = trained_run
    conditions = tmp_path / "conditions"
    conditions.mkdir()
    for name in ("door", "window"):
        Image.new("RGB", (40, 40), "white").save(conditions / f"{name}.png")

    split_out, folder_out = tmp_path / "split_predictions", tmp_path / "folder_predictions"
    base = [
        "predict",
        "--config",
        str(config),
        "--ckpt_path",
        str(checkpoint),
        "--trainer.default_root_dir",
        str(tmp_path),
    ]
    assert main([*base, "--predict_writer.output_dir", str(split_out)]) == 0
    assert main([*base, "--predict_writer.output_dir", str(folder_out), "--data.predict_dir", str(conditions)]) == 0

    assert len(list(split_out.glob("*_grid.png"))) == 3
    assert sorted(p.name for p in folder_out.glob("*_grid.png")) == ["door_grid.png", "window_grid.png"]
    assert sorted(p.name for p in (folder_out / "door").iterdir()) == [
        "sample_00.png",
        "sample_01.png",
        "sample_02.png",
    ]


def test_test_writes_report_for_every_input(trained_run, tmp_path):
    require_cached("alexnet", "lpips-alex-v0.1")
    config, checkpoint, _ = trained_run
    report = tmp_path / "report"

    code = main(
        [
            "test",
            "--config",
            str(config),
            "--ckpt_path",
            str(checkpoint),
            "--test_report.output_dir",
            str(report),
            "--test_report.num_samples",
            "3",
            "--test_report.fid",
            "false",
            "--trainer.default_root_dir",
            str(tmp_path),
        ]
    )

    metrics = json.loads((report / "metrics.json").read_text())
    assert code == 0
    assert metrics["metrics"]["lpips_diversity"] > 0
    assert len(list((report / "strips").glob("*.png"))) == 3
    assert "| Samples per input | 3 |" in (report / "report.md").read_text()
    assert (report / "index.html").is_file()


def test_model_options_override_checkpoint(trained_run, tmp_path):
    config, checkpoint, _ = trained_run
    outputs = {}
    for name, options in {
        "default": [],
        "seed": ["--model.init_args.sample_seed", "5"],
        "two_samples": ["--model.num_val_samples=2"],
    }.items():
        outputs[name] = tmp_path / name
        arguments = ["predict", "--config", str(config), "--ckpt_path", str(checkpoint), *options]
        arguments += ["--trainer.default_root_dir", str(tmp_path), "--predict_writer.output_dir", str(outputs[name])]
        assert main(arguments) == 0

    first = sorted(outputs["default"].glob("*/sample_00.png"))[0]
    reseeded = outputs["seed"] / first.parent.name / first.name
    assert first.read_bytes() != reseeded.read_bytes()
    assert len(list((outputs["two_samples"] / first.parent.name).iterdir())) == 2


def test_unloadable_checkpoint_names_file(trained_run, tmp_path):
    config, _, _ = trained_run
    bad = tmp_path / "notes.ckpt"
    bad.write_text("not a checkpoint")

    with pytest.raises(ValueError, match=f"--ckpt_path {bad} is not a checkpoint that can be loaded safely"):
        main(["predict", "--config", str(config), "--ckpt_path", str(bad)])
