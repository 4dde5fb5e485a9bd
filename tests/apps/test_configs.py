"""The shipped configs: each app's holds exactly its defaults, and every demo config loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest
import yaml

from ot_gan.apps import wdist
from ot_gan.apps.colorize import ColorizeConfig
from ot_gan.apps.synthesize import SynthConfig
from ot_gan.apps.translate import TranslateConfig

CONFIGS = Path(__file__).parents[2] / "configs"
APPS = {"synthesize": SynthConfig, "translate": TranslateConfig, "colorize": ColorizeConfig, "wdist": wdist.WdistConfig}


def defaults(cls: type) -> dict:
    values = {f.name: f.default for f in dataclasses.fields(cls) if f.metadata}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@pytest.mark.parametrize("app", APPS)
def test_app_config_holds_the_defaults(app: str) -> None:
    assert yaml.safe_load((CONFIGS / f"{app}.yaml").read_text()) == defaults(APPS[app])


def known_keys(app: str) -> set[str]:
    if app == "wdist":
        return {max(p.opts, key=len).lstrip("-").replace("-", "_") for p in wdist.command.params
                if isinstance(p, click.Option)}
    return set(defaults(APPS[app]))


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*-*.yaml")), ids=lambda p: p.name)
def test_demo_configs_use_known_keys(path: Path) -> None:
    assert set(yaml.safe_load(path.read_text())) <= known_keys(path.name.split("-")[0])
