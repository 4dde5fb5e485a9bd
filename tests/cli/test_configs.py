"""--print-config writes the settings as a --config file that reads back the same, and every
shipped preset uses known keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.cli_run import run

CONFIGS = Path(__file__).parents[2] / "configs"
TRAIN = {"wdist": ["wdist", "digits:3", "digits:8"], "translate": ["translate", "train", "--out", "r"],
         "colorize": ["colorize", "train", "--out", "r"], "synthesize": ["synthesize", "train", "--out", "r"]}


@pytest.mark.parametrize("app", TRAIN)
def test_print_config_reads_back(app: str, tmp_path: Path) -> None:
    code, out, _ = run(*TRAIN[app], "--seed", "7", "--print-config")
    printed = yaml.safe_load(out)
    assert code == 0 and printed["seed"] == 7 and printed["device"] == "auto"
    (tmp_path / "c.yaml").write_text(out)
    code, again, _ = run(*TRAIN[app], "--config", tmp_path / "c.yaml", "--print-config")
    assert code == 0 and again == out


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*-*.yaml")), ids=lambda p: p.name)
def test_presets_use_known_keys(path: Path) -> None:
    app = path.name.split("-")[0]
    code, out, err = run(*TRAIN[app], "--config", path, "--print-config")
    assert code == 0, err
    printed = yaml.safe_load(out)
    assert {k: printed[k] for k in yaml.safe_load(path.read_text())} == yaml.safe_load(path.read_text())
