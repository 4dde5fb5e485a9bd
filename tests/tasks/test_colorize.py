"""ot-gan colorize: luminance kept exactly, colorings that differ (with the mode-seeking term, and
not without it), chroma that is not gray after a short training on the built-in photos, and the
gray-image and never-overwrite rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from techniques_check import shared_technique_reaches

from ot_gan.color import luminance, rgb_to_yuv
from ot_gan.data import read_image, resize_crop
from ot_gan.engine.trainer import Trainer
from ot_gan.models import VirtualBatchNorm2d
from ot_gan.models.colorize import ColorizationGenerator
from ot_gan.realism import realism_report
from ot_gan.tasks.colorize import ColorizeConfig, ColorizeTask, chroma_statistics, load_color_images, to_rgb
from tests.cli.cli_run import run

FAST = ["--size", "8", "--width", "4", "--critic-width", "16", "--batch-size", "32", "--quiet"]
STEPS = 500



def train_run(out: Path, *args: object) -> Path:
    code, _, err = run("colorize", "train", "--out", out, "--steps", STEPS, "--lr", "1e-3", *FAST, *args)
    assert code == 0, err
    return out


def evaluate(trained: Path) -> dict:
    code, out, err = run("colorize", "eval", trained, "--images", "photos", "--n", "100", "--w1-steps", "300",
                         "--json", "--quiet")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the tiny generator needs more than the default weight (0.1: diversity 0.036) to show it in 500 steps
    return train_run(tmp_path_factory.mktemp("color") / "run", "--diversity", "0.3")


@pytest.mark.slow
def test_chroma_is_not_gray_and_colorings_differ(trained: Path, tmp_path: Path) -> None:
    r = evaluate(trained)
    assert r["diversity"] > 0.06, r  # the mode-seeking term: 0.124 on this seed
    assert 0.1 < r["diversity_real"] < 0.3, r  # the real crops' chroma spread, the reference printed beside it
    assert r["colorfulness"] > 0.5 * r["colorfulness_real"], r
    # without the mode-seeking term the generator ignores most of its noise
    plain = evaluate(train_run(tmp_path / "plain", "--diversity", "0"))
    assert plain["diversity"] < 0.04, plain  # 0.021 on this seed
    # all-gray colorings are far from real photos in chroma statistics; the trained ones much nearer
    real, _ = load_color_images("photos", 8)
    gray = to_rgb(real[:100, :1], torch.zeros_like(real[:100, 1:]))
    chroma = {"chroma": lambda x: chroma_statistics(rgb_to_yuv(x)[:, 1:])}
    gray_row = realism_report({"photos": (gray, to_rgb(real[100:200, :1], real[100:200, 1:]))}, chroma, 300)["photos"]
    assert gray_row["far"] and r["realism"]["photos"]["chroma"]["gap"] < 0.5 * gray_row["chroma"]["gap"], (r, gray_row)


@pytest.mark.slow
def test_apply_keeps_luminance_names_and_sizes(trained: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    Image.fromarray(rng.integers(0, 255, (13, 17), dtype=np.uint8)).save(tmp_path / "in" / "gray.png")
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "in" / "color.jpg")
    code, _, err = run("colorize", "apply", trained, "--input", tmp_path / "in", "--output", tmp_path / "out",
                       "--samples", "3", "--sheet", "--quiet")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([f"{s}_{k}.png" for s in ("color", "gray") for k in range(3)]
                           + ["color_sheet.png", "gray_sheet.png"])
    for stem in ("gray", "color"):
        source = next((tmp_path / "in").glob(f"{stem}.*"))
        y_in = luminance(read_image(source, 3)[None])
        outputs = [read_image(tmp_path / "out" / f"{stem}_{k}.png", 3)[None] for k in range(3)]
        for o in outputs:
            assert o.shape[2:] == y_in.shape[1:]
            assert (luminance(o) - y_in).abs().max() <= 0.51 / 255 + 1e-6  # 8-bit rounding only
        assert not torch.equal(outputs[0], outputs[1])
    code, _, err = run("colorize", "apply", trained, "--input", tmp_path / "in", "--output", tmp_path / "out")
    assert code == 2 and "would overwrite" in err and len(err.strip().splitlines()) == 1


def test_gray_images_are_skipped_or_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "gray").mkdir()
    Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "gray" / "a.png")
    gray_rgb = np.repeat(rng.integers(0, 255, (16, 16, 1), dtype=np.uint8), 3, axis=2)
    Image.fromarray(gray_rgb).save(tmp_path / "gray" / "b.png")
    code, _, err = run("colorize", "train", "--images", tmp_path / "gray", "--out", tmp_path / "run", *FAST)
    assert code == 2 and "no color images (2 gray ones skipped)" in err
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "gray" / "c.png")
    code, _, err = run("colorize", "train", "--images", tmp_path / "gray", "--out", tmp_path / "run", "--steps", "2",
                       "--size", "8", "--width", "4", "--batch-size", "2")
    assert code == 0 and "ot-gan: note: skipped 2 gray images" in err, err


TECHNIQUES = {"feature_matching": dict(feature_matching="added"),
              "minibatch_discrimination": dict(minibatch_discrimination=True, regularizer="sn"),
              "label_smoothing": dict(label_smoothing=True),
              "virtual_batch_norm": dict(virtual_batch_norm=True, reference_batch=4)}


def small_task(**settings: object) -> tuple[ColorizeTask, Trainer]:
    """A colorize task at 8 px on the built-in photos and its engine, seeded as a run is."""
    cfg = ColorizeConfig(size=8, width=4, critic_width=8, batch_size=4, quiet=True, **settings)
    images = load_color_images("photos", 16)[0][:20]
    torch.manual_seed(0)
    task = ColorizeTask(cfg, resize_crop(images[:2], 8), 0.1, resize_crop(images[:4], 8))
    return task, Trainer(task, cfg, {"images": images}, None)


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_each_technique_reaches_the_networks_or_the_loss(technique: str) -> None:
    task, trainer = small_task(**TECHNIQUES[technique])
    if not shared_technique_reaches(technique, task, trainer, lambda: small_task()[0]):  # a gray image's colorings are the same alone and among others: its batch does not set them
        norms = [m for m in task.generator.modules() if isinstance(m, VirtualBatchNorm2d)]
        assert len(norms) == 5 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in task.generator.modules())
        y, z = torch.rand(6, 1, 12, 12) * 2 - 1, torch.rand(6, task.cfg.noise_dim) * 2 - 1
        assert torch.allclose(task.generator(y[:1], z[:1]), task.generator(y, z)[:1], atol=1e-5)


def test_a_run_that_failed_says_so_with_what_to_try(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="The run has failed so far: train it longer"):
        code, _, err = run("colorize", "train", "--out", tmp_path / "run", "--steps", "2", *FAST)
    assert code == 0, err


@torch.no_grad()
def test_colorings_have_no_edge_of_their_own() -> None:
    """A flat gray image gets flat chroma: reflect padding shows the generator no frame to color
    (zero padding did, and its colorings had streaks along the edges)."""
    torch.manual_seed(0)
    flat, z = torch.full((2, 1, 16, 16), 0.3), torch.zeros(2, 8)
    assert ColorizationGenerator(4, 8, 0)(flat, z).flatten(2).std(2).max() < 1e-6
    assert ColorizationGenerator(4, 8, 0, padding="zeros")(flat, z).flatten(2).std(2).max() > 0.01
