"""Image folders as a user has them: every unreadable file is named, --skip-bad goes on without
them, and apply/sample write all their outputs or none, so that a rerun works."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ot_gan.tasks.translate
from ot_gan.data import load_source
from ot_gan.errors import UnreadableImages
from ot_gan.tasks.colorize import load_color_images
from tests.cli.cli_run import run


def photo_folder(folder: Path, good: int, bad: int) -> Path:
    """``good`` random 8x8 RGB PNGs and ``bad`` files with an image suffix that are not images."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(good):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"good{i}.png")
    for i in range(bad):
        (folder / f"bad{i}.jpg").write_bytes(b"\xff\xd8 cut short")
    return folder


@pytest.fixture(scope="module")
def translate_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("translate") / "run"
    code, _, err = run("translate", "train", "--a", "colordigits:0", "--b", "colordigits:1", "--out", out,
                       "--steps", "1", "--size", "8", "--width", "4", "--blocks", "1", "--critic-width", "4",
                       "--critic-layers", "1", "--batch-size", "2", "--ot-subset", "20", "--sample-every", "0",
                       "--quiet")
    assert code == 0, err
    return out


def test_every_unreadable_file_is_named_or_skipped(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "photos", good=3, bad=7)
    with pytest.raises(UnreadableImages, match=r"7 of 10 image files cannot be read: bad0.jpg, bad1.jpg, bad2.jpg, "
                                               r"bad3.jpg, bad4.jpg and 2 more \(bad0.jpg: not a readable image"):
        load_source(str(folder), size=8)
    with pytest.warns(UserWarning, match="skipped 7 of 10 image files that cannot be read: bad0.jpg"):
        assert len(load_source(str(folder), size=8, skip_bad=True)) == 3


def test_wdist_names_the_bad_files_and_skip_bad_goes_on(tmp_path: Path) -> None:
    folder = photo_folder(tmp_path / "photos", good=4, bad=2)
    code, _, err = run("wdist", folder, folder, "--size", "8", "--steps", "5", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "2 of 6 image files cannot be read: bad0.jpg, bad1.jpg" in err and "--skip-bad goes on without them" in err
    with pytest.warns(UserWarning, match="skipped 2 of 6"):
        code, out, err = run("wdist", folder, folder, "--size", "8", "--steps", "5", "--quiet", "--skip-bad")
    assert code == 0 and "(4 samples)" in out, err


def test_apply_writes_everything_or_nothing(translate_run: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = photo_folder(tmp_path / "in", good=5, bad=1)
    output = tmp_path / "out"
    code, _, err = run("translate", "apply", translate_run, "--input", inputs, "--output", output, "--quiet")
    assert code == 2 and "1 of 6 image files cannot be read: bad0.jpg" in err, err
    assert os.listdir(tmp_path) == ["in"]  # no output folder, no staging folder

    saved = []

    def fail_on_the_third(image: object, path: Path) -> None:
        if len(saved) == 2:
            raise OSError(28, "No space left on device", str(path))
        saved.append(path)
        Image.new("RGB", (8, 8)).save(path)

    with monkeypatch.context() as m:
        m.setattr(ot_gan.tasks.translate, "save_image", fail_on_the_third)
        with pytest.warns(UserWarning, match="skipped 1 of 6"):
            code, _, err = run("translate", "apply", translate_run, "--input", inputs, "--output", output,
                               "--quiet", "--skip-bad")
    assert code == 2 and "No space left on device" in err and len(saved) == 2, err
    assert os.listdir(tmp_path) == ["in"]  # the two written files went with the staging folder

    with pytest.warns(UserWarning, match="skipped 1 of 6"):
        code, out, err = run("translate", "apply", translate_run, "--input", inputs, "--output", output, "--quiet",
                             "--skip-bad")
    assert code == 0 and "translated 5 images" in out, err
    assert sorted(os.listdir(output)) == [f"good{i}.png" for i in range(5)]
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]


def test_sample_into_an_existing_folder_keeps_its_files(tmp_path: Path) -> None:
    code, _, err = run("synthesize", "train", "--out", tmp_path / "run", "--mode", "lgan", "--size", "8",
                       "--width", "4", "--noise-dim", "4", "--batch-size", "8", "--steps", "1", "--quiet")
    assert code == 0, err
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "notes.txt").write_text("mine")
    code, out, err = run("synthesize", "sample", tmp_path / "run", "--n", "3", "--output", tmp_path / "samples")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "samples")) == ["notes.txt"] + [f"sample_{i:04d}.png" for i in range(3)]
    assert sorted(os.listdir(tmp_path)) == ["run", "samples"]


def test_colorize_counts_gray_files_apart_from_unreadable_ones(tmp_path: Path) -> None:
    """The unreadable files were also counted as 'gray images skipped'."""
    folder = photo_folder(tmp_path / "photos", good=2, bad=1)
    Image.new("L", (8, 8), 90).save(folder / "gray.png")
    Image.new("RGB", (8, 8), (90, 90, 90)).save(folder / "gray-rgb.png")
    with pytest.warns(UserWarning, match="skipped 1 of 4 image files that cannot be read: bad0.jpg"):
        data, gray = load_color_images(str(folder), 8, skip_bad=True)
    assert len(data) == 2 and gray == 2
