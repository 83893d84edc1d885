from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bgan_lightning.cli import build_cli, main

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
# Complete experiment configs; configs/parts/ holds fragments that are added to one of them.
EXPERIMENT_CONFIGS = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if "parts" not in p.parts)
PART_CONFIGS = sorted((CONFIG_DIR / "parts").rglob("*.yaml"))


def test_configs_exist():
    names = {path.name for path in EXPERIMENT_CONFIGS}
    assert {"quickstart.yaml", "facades.yaml"} <= names


@pytest.mark.parametrize("config", EXPERIMENT_CONFIGS, ids=lambda path: str(path.relative_to(CONFIG_DIR)))
def test_every_config_parses_and_instantiates(config, tmp_path):
    cli = build_cli(
        ["--config", str(config), "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false"],
        run=False,
    )
    assert cli.model.generator is not None
    assert cli.datamodule is not None


@pytest.mark.parametrize("part", PART_CONFIGS, ids=lambda path: path.stem)
def test_every_part_parses_after_quickstart(part, capsys):
    # --print_config validates the merged config and exits, so parts for GPUs parse on a CPU-only machine.
    with pytest.raises(SystemExit) as exit_info:
        build_cli(["fit", "--config", str(CONFIG_DIR / "quickstart.yaml"), "--config", str(part), "--print_config"])
    assert exit_info.value.code == 0
    merged = yaml.safe_load(capsys.readouterr().out)
    expected = yaml.safe_load(part.read_text())["trainer"]
    for key, value in expected.items():
        if isinstance(value, dict):
            # A class given in a part keeps compatible init_args of the config before it, so compare a subset.
            assert merged["trainer"][key]["class_path"] == value["class_path"]
            assert value["init_args"].items() <= merged["trainer"][key]["init_args"].items()
        else:
            assert merged["trainer"][key] == value


def test_unknown_subcommand_exits_with_usage(capsys):
    with pytest.raises(SystemExit):
        main(["train"])
    assert "invalid choice: 'train'" in capsys.readouterr().err


def test_constructor_error_is_reported_in_one_line(tmp_path, capsys):
    arguments = [
        "fit",
        "--config",
        str(CONFIG_DIR / "quickstart.yaml"),
        "--model.init_args.generator.init_args.n_blocks",
        "-1",
        "--trainer.default_root_dir",
        str(tmp_path),
        "--trainer.logger",
        "false",
    ]
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == "bgan: error: n_blocks and n_downsampling must be >= 0, got -1 and 2."
