"""What a new user met in their first hour (issue 17): every case that was a traceback or was
accepted silently is now one line and exit code 2, or a run that works, or a clear warning."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import ot
import pytest
import torch
from PIL import Image

from ot_gan.data import load_source
from tests.cli.cli_run import ENV, command_line, run

TINY_SYNTH = ["--size", "8", "--width", "4", "--noise-dim", "4", "--batch-size", "8",
              "--sample-every", "0", "--quiet"]
TINY_TRANSLATE = ["--size", "8", "--width", "4", "--blocks", "1", "--critic-width", "4", "--critic-layers", "1",
                  "--batch-size", "2", "--ot-subset", "20", "--sample-every", "0", "--quiet"]



@pytest.fixture(scope="module")
def synth_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step AM-GAN run on the digits."""
    out = tmp_path_factory.mktemp("synth") / "run"
    code, _, err = run("synthesize", "train", "--images", "digits", "--out", out, "--steps", "2", *TINY_SYNTH)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def gray_translate_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-step translate run between gray digits."""
    out = tmp_path_factory.mktemp("translate") / "run"
    code, _, err = run("translate", "train", "--a", "digits:0", "--b", "digits:1", "--out", out, "--steps", "1",
                       *TINY_TRANSLATE)
    assert code == 0, err
    return out


def write_cases(t: Path) -> None:
    """The files the cases below point to."""
    (t / "file").write_text("not a folder")
    (t / "wrong-type.yaml").write_text("size: [16]\n")
    (t / "betas.yaml").write_text("betas: 0.9\n")
    (t / "ema.yaml").write_text("ema: 2\n")
    (t / "not-yaml.yaml").write_text("steps: 5\n- x\n")
    (t / "one").mkdir()
    Image.new("RGB", (8, 8), "red").save(t / "one" / "a.png")
    (t / "two").mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (i * 100, 0, 0)).save(t / "two" / f"{i}.png")
    x = np.random.default_rng(0).uniform(-1, 1, (20, 1, 8, 8)).astype(np.float32)
    np.savez(t / "short-y.npz", x=x, y=np.zeros(19, dtype=np.int64))
    np.savez(t / "float-y.npz", x=x, y=np.zeros(20))


CASES = {
    # point 4: tracebacks
    "train-out-unwritable": (["synthesize", "train", "--out", "{t}/file/run", "--steps", "1", *TINY_SYNTH],
                             "file/run: Not a directory"),
    "sample-output-unwritable": (["synthesize", "sample", "{synth}", "--output", "{t}/file/out"],
                                 "file: exists and is not a folder"),
    "apply-output-unwritable": (["translate", "apply", "{translate}", "--input", "{t}/two", "--output",
                                 "{t}/file/out", "--quiet"], "file: exists and is not a folder"),
    "yaml-wrong-type": (["synthesize", "train", "--config", "{t}/wrong-type.yaml", "--out", "{t}/run"],
                        "wrong-type.yaml: size: [16] is not a valid integer range"),
    "yaml-syntax": (["synthesize", "train", "--config", "{t}/not-yaml.yaml", "--out", "{t}/run"],
                    "not-yaml.yaml: not valid YAML: expected <block end>, but found '-' (line 2, column 1)"),
    "yaml-betas-not-a-pair": (["synthesize", "train", "--config", "{t}/betas.yaml", "--out", "{t}/run"],
                              "betas.yaml: betas: 0.9 is not a list of 2 values"),
    "yaml-ema-2": (["synthesize", "train", "--config", "{t}/ema.yaml", "--out", "{t}/run"],
                   "ema.yaml: ema: 2.0 is not in the range 0<=x<1"),
    "ema-2": (["synthesize", "train", "--out", "{t}/run", "--ema", "2"], "'--ema': 2.0 is not in the range 0<=x<1"),
    "betas-1": (["synthesize", "train", "--out", "{t}/run", "--betas", "1.0", "0.999"],
                "'--betas': 1.0 is not in the range 0<=x<1"),
    "eval-gray-run-on-color": (["translate", "eval", "{translate}", "--a", "colordigits:0", "--b", "colordigits:1",
                                "--quiet"], "colordigits:0: images with 3 channels, but the run's domain A has 1"),
    "unicode-digit-count": (["wdist", "rings:²", "gaussians"], "rings:²: expected a positive integer"),
    "unicode-digit-class": (["wdist", "digits:²", "digits"], "digits:²: the digit class must be 0-9"),
    "wdist-too-deep": (["wdist", "gaussians", "rings", "--depth", "12"], "'--depth': 12 is not in the range 1<=x<=8"),
    "negative-seed": (["wdist", "gaussians", "rings", "--seed", "-1"], "'--seed': -1 is not in the range x>=0"),
    "negative-seed-of-sample": (["synthesize", "sample", "{synth}", "--seed", "-1", "--output", "{t}/o"],
                                "'--seed': -1 is not in the range x>=0"),
    "unicode-digit-sample-class": (["synthesize", "sample", "{synth}", "--class", "²", "--output", "{t}/o"],
                                   "--class ²: the run's classes are 0, 1"),
    # point 5: accepted silently
    "colorize-size-3": (["colorize", "train", "--size", "3", "--out", "{t}/run"], "3 is not in the range x>=8"),
    "photos-argument": (["wdist", "photos:xyz", "photos"], "photos takes no ':' argument"),
    "steps-below-a-finished-run": (["synthesize", "train", "--images", "digits", "--out", "{synth}", "--steps", "1",
                                    *TINY_SYNTH], "already trained for 2 steps, more than the 1 asked for"),
    "one-image-folder": (["wdist", "{t}/one", "{t}/two", "--size", "8"],
                         "one: 1 samples are too few for a critic estimate"),
    "two-image-folder": (["wdist", "{t}/two", "{t}/two", "--size", "8"], "two: 2 samples are too few"),
    "npz-labels-of-another-length": (["wdist", "{t}/short-y.npz", "digits"], "y must hold one label 0..K-1 per"),
    "npz-float-labels": (["wdist", "{t}/float-y.npz", "digits"], "got shape (20,), dtype float64"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path, synth_run: Path,
                                          gray_translate_run: Path) -> None:
    write_cases(tmp_path)
    args, message = CASES[case]
    values = {"t": tmp_path, "synth": synth_run, "translate": gray_translate_run}
    code, _, err = run(*[a.format(**values) for a in args])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("ot-gan: error: ")


def test_exact_ot_that_does_not_converge_is_one_line_or_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """POT's network simplex stopping early: an error for --method exact, a warning and no exact
    figure when it is only the check printed next to a critic estimate."""
    monkeypatch.setattr(ot, "emd2", lambda *args, **kwargs: (1.0, {"warning": "numItermax reached before optimality"}))
    code, _, err = run("wdist", "gaussians:50", "rings:50", "--method", "exact")
    assert code == 2 and "did not converge: numItermax reached" in err and len(err.strip().splitlines()) == 1, err
    with pytest.warns(UserWarning, match="did not converge.*the exact W1 is left out"):
        code, out, err = run("wdist", "gaussians:50", "rings:50", "--steps", "5", "--json", "--quiet")
    assert code == 0 and json.loads(out)["exact"] is None, err


def test_a_metrics_line_cut_by_kill_9_does_not_stop_the_resume(synth_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, err = run("synthesize", "train", "--images", "digits", "--out", out, "--steps", "2", "--log-every", "1",
                       *TINY_SYNTH)
    assert code == 0, err
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "critic/lo')
    code, _, err = run("synthesize", "train", "--images", "digits", "--out", out, "--steps", "3", "--log-every", "1",
                       *TINY_SYNTH)
    assert code == 0, err
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]


def test_a_labeled_npz_trains_synthesize(tmp_path: Path) -> None:
    digits = load_source("digits")
    np.savez(tmp_path / "d.npz", x=digits.data.numpy(), y=digits.labels.numpy())
    loaded = load_source(str(tmp_path / "d.npz"))
    assert loaded.classes == [str(k) for k in range(10)] and torch.equal(loaded.labels, digits.labels)
    code, _, err = run("synthesize", "train", "--images", tmp_path / "d.npz", "--out", tmp_path / "run",
                       "--steps", "1", *TINY_SYNTH)  # AM-GAN: needs the labels
    assert code == 0, err


def test_integer_images_are_scaled_and_other_ranges_warned(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "u8.npy", pixels)
    data = load_source(str(tmp_path / "u8.npy")).data
    assert torch.allclose(data, torch.as_tensor(pixels / 127.5 - 1, dtype=torch.float32), atol=1e-6)
    np.save(tmp_path / "i32.npy", pixels.astype(np.int32))
    with pytest.warns(UserWarning, match=r"image values span \[0, 255\], not \[-1, 1\]"):
        load_source(str(tmp_path / "i32.npy"))
    np.save(tmp_path / "vectors.npy", pixels.reshape(5, -1).astype(np.int64))  # integer vectors: kept as they are
    assert float(load_source(str(tmp_path / "vectors.npy")).data.max()) == float(pixels.max())


def test_warnings_are_one_line_each(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(tmp_path / name / f"{i}.png")
    proc = subprocess.run(command_line("wdist", tmp_path / "a", tmp_path / "b", "--size", "16", "--steps", "5", "--quiet"),
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"ot-gan: warning: {tmp_path / name}: 4 of 4 images are smaller than 16 px "
                                        "and were upscaled" for name in ("a", "b")]


def test_a_float32_npy_becomes_a_tensor_without_a_warning(tmp_path: Path) -> None:
    """The memory map is copy-on-write, so torch shares it without its "not writable" warning."""
    np.save(tmp_path / "x.npy", np.ones((4, 2), dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_source(str(tmp_path / "x.npy")).data
        assert isinstance(data, torch.Tensor) and data.sum() == 8
    assert np.load(tmp_path / "x.npy").sum() == 8  # nothing written back


def test_a_five_image_folder_says_it_has_no_held_out_estimate(tmp_path: Path) -> None:
    """One image a side is held out, too few for the held-out figure: the output said 'nothing was
    held out' and cautioned that the (absent) interval was wide."""
    (tmp_path / "five").mkdir()
    for i in range(5):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / "five" / f"{i}.png")
    code, out, err = run("wdist", tmp_path / "five", tmp_path / "five", "--size", "8", "--steps", "5", "--quiet")
    text = " ".join(out.split())
    assert code == 0 and "(no held-out estimate)" in text, err
    assert "caution: only 1 held-out sample in the smaller set, too few for a held-out estimate" in text
    assert "interval is wide" not in text
    code, out, err = run("wdist", "gaussians:50", "rings:50", "--holdout", "0", "--steps", "5", "--quiet")
    assert code == 0 and "held-out sample" not in out, out  # --holdout 0: none held out, by choice
