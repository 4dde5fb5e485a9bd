import json
import math
import os
import re
import signal
import subprocess
import warnings

import numpy as np
import ot
import pytest
import torch
from PIL import Image

from tests.cli.cli_run import command_line, run


def test_exact_json_matches_pot(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 3)), rng.normal(size=(50, 3)) + 1
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", b)
    code, out, _ = run("wdist", tmp_path / "a.npy", tmp_path / "b.npz", "--method", "exact", "--json")
    assert code == 0
    r = json.loads(out)
    expected = ot.emd2(ot.unif(60), ot.unif(50), ot.dist(a.astype(np.float32), b.astype(np.float32), metric="euclidean"))
    assert r["distance"] == pytest.approx(expected, rel=1e-6)
    assert (r["n_a"], r["n_b"], r["dim"], r["method"]) == (60, 50, 3, "exact")


def test_critic_run_prints_a_table_and_json():
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--quiet")
    assert code == 0
    assert "maxal" in out and "exact (POT)" in out and "95% CI" in out and "all samples" in out
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--quiet", "--json", "--seed", "3")
    r = json.loads(out)
    for key in ("distance", "ci95", "lipschitz", "method", "n_a", "n_b", "dim", "seconds", "all_samples", "basis", "units", "exact"):
        assert key in r
    assert r["n_a"] == 400 and r["dim"] == 2 and len(r["ci95"]) == 2 and r["config"]["seed"] == 3


def test_ctransform_row_and_json():
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--quiet", "--ctransform")
    assert code == 0 and "c-transform" in out
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--quiet", "--ctransform", "--json")
    r = json.loads(out)
    assert 0 < r["ctransform"] <= r["exact"] + 1e-6
    code, out, _ = run("wdist", "digits:3", "digits:8", "--steps", "5", "--quiet", "--ctransform", "--no-exact")
    assert code == 0 and "it and c-transform target the plug-in W1" in out and "biased upward" in out


@pytest.mark.slow
def test_ctrl_c_stops_training_and_prints_the_estimate_so_far():
    proc = subprocess.Popen(command_line("wdist", "gaussians:400", "rings:400", "--steps", "100000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "W1 maxal" not in seen:  # the progress bar: training has begun
        seen += proc.stderr.read(1) or pytest.fail(f"no progress bar: {seen}")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopping the critic's training" in err and "maxal" in out and "exact (POT)" in out
    steps = int(re.search(r"interrupted at step (\d+), before the critic had settled", out).group(1))
    assert 0 < steps < 100000


def test_critic_size_options():
    sizes = []
    for extra in ([], ["--width", "16", "--depth", "2"]):
        code, out, _ = run("wdist", "gaussians:100", "rings:100", "--steps", "5", "--quiet", "--json", *extra)
        assert code == 0
        sizes.append(json.loads(out)["details"]["critic_parameters"])
    assert sizes[1] < sizes[0] / 10


def test_config_file_sets_defaults_and_flags_override(tmp_path):
    (tmp_path / "c.yaml").write_text("method: sliced\nseed: 4\n")
    code, out, _ = run("wdist", "gaussians:200", "rings:200", "--config", tmp_path / "c.yaml", "--json")
    assert code == 0 and json.loads(out)["method"] == "sliced" and json.loads(out)["config"]["seed"] == 4
    code, out, _ = run("wdist", "gaussians:200", "rings:200", "--config", tmp_path / "c.yaml", "--json",
                       "--method", "exact")
    assert json.loads(out)["method"] == "exact"


def test_image_folders(tmp_path):
    rng = np.random.default_rng(0)
    for side, color in (("a", False), ("b", True)):
        (tmp_path / side).mkdir()
        for i in range(6):
            shape = (20, 20, 3) if color else (20, 20)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / side / f"{i}.png")
    code, out, _ = run("wdist", tmp_path / "a", tmp_path / "b", "--method", "exact", "--size", "8", "--json")
    assert code == 0 and json.loads(out)["dim"] == 3 * 8 * 8  # gray widened to RGB


@pytest.fixture
def bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(mixed / "ok.png")
    (mixed / "fake.png").write_text("hello")
    np.save(tmp_path / "w3.npy", np.zeros((10, 3)))
    np.save(tmp_path / "w4.npy", np.zeros((10, 4)))
    np.save(tmp_path / "nan.npy", np.full((10, 3), np.nan))
    np.save(tmp_path / "big.npy", np.zeros((8100, 2)))
    np.save(tmp_path / "huge.npy", np.zeros((50_001, 2)))
    (tmp_path / "bad.yaml").write_text("methd: exact\n")
    return tmp_path


@pytest.mark.parametrize("args,message", [
    (["nowhere", "digits"], "no such file or folder"),
    (["{t}/empty", "digits"], "no images found"),
    (["{t}/mixed", "digits"], "not a readable image"),
    (["{t}/w3.npy", "{t}/w4.npy"], "different sample shapes"),
    (["{t}/nan.npy", "{t}/w3.npy"], "NaN"),
    (["{t}/big.npy", "{t}/big.npy", "--method", "exact"], "use --method maxal"),
    (["digits", "digits", "--config", "{t}/bad.yaml"], "unknown keys methd"),
    (["digits", "digits", "--method", "exact", "--ctransform"], "has none"),
    (["{t}/huge.npy", "{t}/huge.npy", "--ctransform"], "subsample the sets"),
    (["gaussians:50", "rings:50", "--width", "20", "--group-size", "8"], "--width 20 is not a multiple of --group-size 8"),
])
def test_bad_input_is_one_line_and_exit_2(bad_inputs, args, message):
    code, out, err = run("wdist", *[a.format(t=bad_inputs) for a in args])
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_method_is_a_usage_error():
    code, _, err = run("wdist", "digits", "digits", "--method", "emd")
    assert code == 2 and "Invalid value for '--method'" in err


def test_help_explains():
    code, out, _ = run("wdist", "--help")
    assert code == 0 and "Wasserstein-1" in out and "--method" in out and "Examples" in out


def test_the_first_figure_is_the_held_out_estimate_and_cautions_say_why_it_may_be_unreliable(tmp_path):
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--quiet", "--json")
    r = json.loads(out)
    assert r["status"] == "cap" and any("step cap" in c for c in r["cautions"])
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--quiet")
    lines = out.splitlines()
    assert lines[1] == "distance: Euclidean, over the values as given"
    first_row = lines[5].split()
    assert first_row[:2] == ["auto", f"({r['details']['chosen']})"]  # the default, and the critic it kept
    assert float(first_row[2]) == pytest.approx(r["distance"], rel=1e-3)
    assert float(first_row[-4]) == pytest.approx(r["all_samples"], rel=1e-3)
    assert "caution: stopped at the step cap" in out
    rng = np.random.default_rng(0)  # two draws of one distribution: the interval must include 0
    np.save(tmp_path / "a.npy", rng.normal(size=(300, 4)).astype(np.float32))
    np.save(tmp_path / "b.npy", rng.normal(size=(300, 4)).astype(np.float32))
    # one critic (the interval, not auto's choice, is under test here) trained long enough to memorize its
    # 240 samples: all samples 0.20-0.22 on three draws, the interval still around 0 (800 steps; 1,500: 0.25-0.26)
    code, out, _ = run("wdist", tmp_path / "a.npy", tmp_path / "b.npy", "--steps", "800", "--method", "maxal",
                       "--quiet", "--json")
    r = json.loads(out)
    assert r["ci95"][0] <= 0 <= r["ci95"][1]
    assert any("do not tell the two sets apart" in c for c in r["cautions"])
    assert any("only 60 held-out samples" in c for c in r["cautions"])


def test_a_diverged_training_is_one_line_and_exit_1(monkeypatch):
    """A critic driven to divergence (ten times the default learning rate, no warm-up): no NaN printed as a
    distance, one line on stderr that says so and what to try, exit 1; --json carries the status."""
    from ot_gan.tasks import wdist
    from ot_gan.w1 import wasserstein1

    monkeypatch.setattr(wdist, "wasserstein1", lambda x, y, method, **kw: wasserstein1(x, y, method=method, lr=0.01, warmup=0, **kw))
    code, out, err = run("wdist", "gaussians:400", "rings:400", "--steps", "200", "--quiet", "--method", "maxal")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "diverged at step" in err and "--width" in err
    code, out, err = run("wdist", "gaussians:400", "rings:400", "--steps", "200", "--quiet", "--json", "--method",
                         "maxal")
    r = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert code == 1 and r["status"] == "diverged" and not r["converged"] and 0 < r["diverged_at"] < 200


class Features(torch.nn.Module):
    """A feature map with a known effect on W1: x -> 2x, so W1 doubles."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x.flatten(1)


def test_features_are_a_scripted_network_batched_and_cached(tmp_path, monkeypatch):
    """--features FILE measures W1 between the network's features (2x: twice the raw W1), says so in
    the table, caches the features by network and samples, and reads them back on the next run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with warnings.catch_warnings():  # torch 2.9+ calls TorchScript deprecated
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(Features()).save(str(tmp_path / "net.pt"))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(300, 3)).astype(np.float32))
    np.save(tmp_path / "b.npy", (rng.normal(size=(200, 3)) + 1).astype(np.float32))
    raw = json.loads(run("wdist", tmp_path / "a.npy", tmp_path / "b.npy", "--method", "exact", "--json")[1])
    code, out, err = run("wdist", tmp_path / "a.npy", tmp_path / "b.npy", "--method", "exact", "--json",
                         "--features", tmp_path / "net.pt")
    assert code == 0 and json.loads(out)["distance"] == pytest.approx(2 * raw["distance"], rel=1e-6)
    cached = sorted((tmp_path / "cache" / "ot-gan" / "features").glob("*.pt"))
    assert len(cached) == 2 and err.count("are cached in") == 2
    code, out, err = run("wdist", tmp_path / "a.npy", tmp_path / "b.npy", "--method", "exact", "--features",
                         tmp_path / "net.pt")
    assert code == 0 and err.count("read from the cache") == 2 and "over the features of" in out


@pytest.mark.parametrize("spec,message", [
    ("missing.pt", "missing.pt: no such file; --features takes a TorchScript file"),
    ("resnet18:missing.pth", "missing.pth: no such file; --features takes"),
    ("no_such_arch:{a}", "'no_such_arch' is not a torchvision architecture"),
    ("resnet18:{a}", "not a state dict of resnet18")])
def test_a_bad_feature_network_is_one_line(tmp_path, monkeypatch, spec, message):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    np.save(tmp_path / "a.npy", np.zeros((10, 3), np.float32))
    code, out, err = run("wdist", tmp_path / "a.npy", tmp_path / "a.npy", "--method", "exact", "--features",
                         spec.format(a=tmp_path / "a.npy"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_two_gloo_processes_agree_with_one():
    """torchrun with 2 processes: each trains the critic on its half of every global batch, with
    gradients averaged and MaxAL's batch maximum and multiplier shared; the figures, and the
    half gaps of both of auto's critics, are those of one process on the same global batches. 17 s, most of it starting three Pythons with torch."""
    args = ["wdist", "gaussians:300", "rings:300", "--steps", "100", "--batch-size", "32", "--width", "32",
            "--depth", "2", "--json", "--quiet", "--no-exact"]
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    done = subprocess.run(command_line(*args, launcher=torchrun), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads(done.stdout)  # rank 0 alone prints
    code, out, _ = run(*args)
    one = json.loads(out)
    for key in ("distance", "all_samples", "lipschitz"):
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key
    assert two["details"]["chosen"] == one["details"]["chosen"] and two["steps"] == one["steps"]
    for method, gaps in one["details"]["halves"].items():  # the default, auto: both critics agree
        assert two["details"]["halves"][method] == pytest.approx(gaps, rel=1e-5, abs=1e-6), method


def test_features_of_a_torchvision_architecture_with_local_weights(tmp_path, monkeypatch):
    """ARCH:WEIGHTS on folders of uint8 PNGs gives the exact W1 of features made the torchvision way,
    independently of the loader: PIL -> RGB in [0, 1] -> ImageNet normalization -> the network
    without its head. A gray folder is widened to RGB the same way."""
    import torchvision
    from PIL import Image
    from torchvision.transforms.v2 import functional as tvf

    from ot_gan.w1 import exact_w1

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = torchvision.models.squeezenet1_1()
    torch.save(net.state_dict(), tmp_path / "squeeze.pth")
    rng = np.random.default_rng(0)
    for name, n, top in (("a", 12, 255), ("b", 10, 128)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, top, (48, 48, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    code, out, err = run("wdist", tmp_path / "a", tmp_path / "b", "--size", "48", "--method", "exact", "--json",
                         "--quiet", "--features", f"squeezenet1_1:{tmp_path / 'squeeze.pth'}")
    assert code == 0, err
    net.classifier = torch.nn.Identity()

    def features(folder):
        images = [tvf.to_dtype(tvf.pil_to_tensor(Image.open(f).convert("RGB")), torch.float32, scale=True)
                  for f in sorted(folder.iterdir())]
        batch = tvf.normalize(torch.stack(images), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        with torch.no_grad():
            return net.eval()(batch).flatten(1)

    fa, fb = features(tmp_path / "a"), features(tmp_path / "b")
    r = json.loads(out)
    assert r["dim"] == fa.shape[1] and r["distance"] == pytest.approx(exact_w1(fa, fb), rel=1e-3)
    assert r["units"] == f"Euclidean, over the features of squeezenet1_1:{tmp_path / 'squeeze.pth'}"


def test_a_torchscript_feature_network_receives_images_in_minus_one_to_one(tmp_path, monkeypatch):
    """The documented input of a TorchScript network: the images as loaded, in [-1, 1]; a network
    that returns each image's least and greatest value shows it on a black and a white PNG."""
    from PIL import Image

    class Range(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.stack([x.flatten(1).amin(1), x.flatten(1).amax(1)], 1)

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(Range()).save(str(tmp_path / "range.pt"))
    for name, value in (("black", 0), ("white", 255)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (16, 16), (value,) * 3).save(tmp_path / name / f"{i}.png")
    code, out, err = run("wdist", tmp_path / "black", tmp_path / "white", "--size", "16", "--method", "exact",
                         "--json", "--quiet", "--features", tmp_path / "range.pt")
    assert code == 0, err
    assert json.loads(out)["distance"] == pytest.approx(2 * math.sqrt(2), rel=1e-6)  # (-1, -1) to (1, 1)


def test_test_prints_a_p_value_and_needs_a_critic():
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--holdout", "0.5", "--quiet", "--test")
    assert code == 0 and "two-sample test: p = 0.000999 (the smallest these permutations give): the sets differ" in out
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "60", "--holdout", "0.5", "--quiet", "--json",
                       "--test")
    r = json.loads(out)
    assert r["p_value"] < 0.01 and r["permutations"] == 1000
    code, out, _ = run("wdist", "gaussians:400", "rings:400", "--steps", "5", "--quiet", "--json")
    assert json.loads(out)["p_value"] is None
    code, _, err = run("wdist", "gaussians:400", "rings:400", "--method", "exact", "--test")
    assert code == 2 and "--test and --explain read a trained critic" in err


def test_explain_writes_the_witnesses_and_w1_per_class_of_labeled_vectors(tmp_path):
    """Labeled vectors: the CSV of witnesses and no pictures, one line that says where, and the
    table of W1 per class, by class name, with a row without a distance for the class B alone has;
    with --method exact each class's W1 is POT's on that class."""
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(60, 2)), rng.normal(size=(70, 2)) + 1
    ya, yb = np.repeat([0, 1], 30), np.repeat([0, 1, 2], [30, 30, 10])
    np.savez(tmp_path / "a.npz", x=xa.astype(np.float32), y=ya)
    np.savez(tmp_path / "b.npz", x=xb.astype(np.float32), y=yb)
    code, out, err = run("wdist", tmp_path / "a.npz", tmp_path / "b.npz", "--steps", "5", "--quiet", "--explain",
                         tmp_path / "why")
    assert code == 0, err
    said = " ".join(out.split())  # the line wraps at 100 characters, where the path's length puts it
    assert f"witness samples in {tmp_path / 'why'} (witnesses.csv" in said and "W1 per class" in out
    assert sorted(p.name for p in (tmp_path / "why").iterdir()) == ["witnesses.csv"]
    csv = np.genfromtxt(tmp_path / "why" / "witnesses.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert len(csv) == 2 * 12 + 2 * 14 and set(csv["set"]) == {"a", "b"}  # every held-out sample, at both ends
    code, out, err = run("wdist", tmp_path / "a.npz", tmp_path / "b.npz", "--steps", "5", "--quiet", "--json",
                         "--explain", tmp_path / "why")
    rows = json.loads(out)["per_class"]
    assert [(c["class"], c["n_a"], c["n_b"]) for c in rows] == [("0", 30, 30), ("1", 30, 30), ("2", 0, 10)]
    assert rows[2]["distance"] is None and rows[0]["basis"] == "held-out"
    from ot_gan.data import load_source
    from ot_gan.tasks.wdist import WdistConfig, per_class

    cfg = WdistConfig(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), method="exact")
    sources = tuple(load_source(s) for s in (cfg.source_a, cfg.source_b))
    rows = per_class(cfg, sources, tuple(s.data for s in sources), torch.device("cpu"))
    for row, k in zip(rows, (0, 1)):
        exact = ot.emd2([], [], ot.dist(xa[ya == k].astype(np.float32), xb[yb == k].astype(np.float32),
                                        metric="euclidean"))
        assert row["distance"] == pytest.approx(exact, rel=1e-5)


def test_the_lowest_scored_of_a_mix_of_3s_and_8s_against_3s_are_8s(tmp_path):
    """digits: A holds half the 3s, B the other 3s and the 8s. The held-out samples of B that the
    critic scores lowest (what B has that A lacks) are 8s, and the grids are written."""
    from ot_gan.sources import load_digits

    images, labels, _ = load_digits(None)
    threes, eights = images[labels == 3], images[labels == 8]
    np.savez(tmp_path / "a.npz", x=threes[::2].numpy(), y=np.full(len(threes[::2]), 3))
    mix = np.concatenate([threes[1::2].numpy(), eights.numpy()])
    np.savez(tmp_path / "b.npz", x=mix, y=np.repeat([3, 8], [len(threes[1::2]), len(eights)]))
    code, out, err = run("wdist", tmp_path / "a.npz", tmp_path / "b.npz", "--steps", "300", "--holdout", "0.5",
                         "--width", "32", "--depth", "2", "--quiet", "--json", "--test", "--explain", tmp_path / "why",
                         "--no-exact")
    assert code == 0, err
    csv = np.genfromtxt(tmp_path / "why" / "witnesses.csv", delimiter=",", names=True, dtype=None, encoding=None)
    lowest_b = csv["index"][(csv["set"] == "b") & (csv["end"] == "lowest")][:16]
    assert (lowest_b >= len(threes[1::2])).all()  # all 8s
    assert {p.name for p in (tmp_path / "why").iterdir()} == {"witnesses.csv", "a_highest.png", "a_lowest.png",
                                                               "b_highest.png", "b_lowest.png"}
    r = json.loads(out)
    assert r["p_value"] < 0.01 and [c["class"] for c in r["per_class"]] == ["3", "8"]


def test_the_bracket_is_the_held_out_lower_bound_and_exact_ots_upper_bound(tmp_path):
    """Independent draws of two 16-D Gaussians a unit apart (W1 = 1): exact OT on 300 samples is
    far above 1 and the held-out estimate below it; the result brackets the truth with them."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(300, 16)).astype(np.float32))
    np.save(tmp_path / "b.npy", (rng.normal(size=(300, 16)) + np.eye(16)[0]).astype(np.float32))
    code, out, _ = run("wdist", tmp_path / "a.npy", tmp_path / "b.npy", "--steps", "800", "--method", "maxal",
                       "--quiet", "--json")
    r = json.loads(out)
    assert code == 0 and r["bracket"] == [r["distance"], r["exact"]]
    assert r["distance"] < 1.0 < r["exact"]
    code, out, _ = run("wdist", tmp_path / "a.npy", tmp_path / "b.npy", "--method", "exact", "--json")
    assert json.loads(out)["bracket"] is None


def test_auto_trains_both_critics_and_reads_the_kept_one_on_a_split_neither_saw():
    code, out, err = run("wdist", "gaussians:400", "rings:400", "--method", "auto", "--steps", "60", "--quiet",
                         "--json", "--test")
    r = json.loads(out)
    assert code == 0, err
    assert r["basis"] == "held-out" and r["details"]["chosen"] in ("maxal", "bjorck")
    assert set(r["details"]["halves"]) == {"maxal", "bjorck"} and r["n_heldout"] == [80, 80]
    assert r["ci95"][0] < r["distance"] < r["ci95"][1] and 0 <= r["p_value"] <= 1


def test_a_k_off_1_is_cautioned_for_maxal_and_for_auto_when_it_kept_maxal():
    from ot_gan.tasks.wdist import cautions

    def said(method: str, chosen: str | None = None) -> bool:
        r = {"method": method, "lipschitz": 1.05, "status": "settled", "n_heldout": [800, 800],
             "details": {"chosen": chosen} if chosen else {}}
        return any("K = 1.050" in line for line in cautions(r))

    assert said("maxal") and said("auto", "maxal")
    assert not said("auto", "bjorck") and not said("gp")  # bjorck's K is at most 1; gp is divided by its K
