"""ot-gan colorize: luminance kept exactly, colorings that differ (with the mode-seeking term, and
not without it), chroma that is not gray after a short training on the built-in photos, and the
gray-image and never-overwrite rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_run import run
from PIL import Image

from ot_gan.color import luminance
from ot_gan.data import read_image

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
    # all-gray colorings would have chroma statistics (0, 0, 0, 0): their W1 to the photos' is the
    # mean norm of the photos' statistics; the trained ones must be much closer
    from ot_gan.tasks.colorize import chroma_statistics, load_color_images

    real, _ = load_color_images("photos", 8)
    gray_w1 = float(chroma_statistics(real[:, 1:]).norm(dim=1).mean())
    assert r["w1_chroma_statistics"] < 0.5 * gray_w1, (r, gray_w1)


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
