"""The training engine on a tiny digit GAN (tests/engine_toy.py): it learns, it writes its run
directory, it resumes bit for bit after Ctrl-C or kill -9, it stops on NaN, it refuses what it
must not touch, and two gloo processes agree with one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import engine_toy
import ot
import pytest
import torch
from engine_toy import NOISE, ToyConfig, ToyGAN, run
from torch import Tensor

from ot_gan.data import load_source
from ot_gan.engine import TrainingDiverged, check_fits, load_checkpoint, save_checkpoint
from ot_gan.engine.pace import Pace, duration
from ot_gan.engine.trainer import lr_factor
from ot_gan.errors import InputError

TOY = Path(__file__).with_name("engine_toy.py")


def leaves(tree: object, prefix: str = "") -> dict[str, object]:
    """Every leaf of nested dicts and lists, keyed by its path."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in leaves(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, sub in enumerate(tree) for k, v in leaves(sub, f"{prefix}/{i}").items()}
    return {prefix: tree}


def assert_same_training(a: dict, b: dict) -> None:
    """Same step, weights, optimizer and scheduler state, EMA and RNG, bit for bit."""
    assert a["step"] == b["step"]
    for part in ("task", "ema", "optimizers", "schedulers", "rng"):
        la, lb = leaves(a[part]), leaves(b[part])
        assert la.keys() == lb.keys(), part
        for key, va in la.items():
            if isinstance(va, Tensor):
                assert torch.equal(va, lb[key]), f"{part}{key} differs"
            else:
                assert va == lb[key], f"{part}{key}: {va} != {lb[key]}"


def latest(out: Path) -> dict:
    return load_checkpoint(out / "checkpoints" / "latest.pt", "toy")


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def metric_steps(out: Path) -> list[int]:
    return [record["step"] for record in metrics(out)]


def assert_same_metrics(a: Path, b: Path) -> None:
    assert [{**r, "seconds": 0} for r in metrics(a)] == [{**r, "seconds": 0} for r in metrics(b)]


def w1_to_real(generator: torch.nn.Module) -> float:
    real = load_source("digits:0").data.flatten(1).double()
    with torch.no_grad():
        fake = generator(torch.randn(len(real), NOISE, generator=torch.Generator().manual_seed(1))).flatten(1)
    return float(ot.emd2([], [], ot.dist(fake.double(), real, metric="euclidean")))


@pytest.mark.slow
def test_learns_the_digits_and_fills_the_run_directory(tmp_path: Path) -> None:
    torch.manual_seed(0)
    before = w1_to_real(ToyGAN(ToyConfig()).generator)
    result = run(tmp_path, steps=300, lr=1e-3)
    trained = ToyGAN(ToyConfig())
    trained.load_state_dict(latest(tmp_path)["task"])
    after = w1_to_real(trained.generator)
    assert after < 0.5 * before, (before, after)  # 6.5 -> 2.7 on this seed
    assert result.step == 300 and not result.interrupted
    assert (tmp_path / "config.yaml").read_text().count("app: toy") == 1
    assert metric_steps(tmp_path) == list(range(10, 301, 10))
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [f"step_{s:07d}.png" for s in range(50, 301, 50)]
    assert latest(tmp_path)["architecture"] == {"width": 64}


def test_lr_decays_to_zero_and_ema_follows(tmp_path: Path) -> None:
    run(tmp_path, steps=40, decay_steps=20, ema=0.9)
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([2e-4, 2e-4, 1e-4, 0.0])
    ck = latest(tmp_path)
    assert int(ck["ema"]["n_averaged"]) == 40
    assert not torch.equal(ck["ema"]["module.0.weight"], ck["task"]["generator.0.weight"])


def test_a_decay_longer_than_the_run_covers_the_whole_run() -> None:
    """200 steps with translate's default 50,000 decay steps: full rate at the start, half on
    average (it was (200 - step) / 50000, below 0.004 throughout)."""
    factors = [lr_factor(step, 200, 50_000) for step in range(200)]
    assert factors[0] == 1.0 and factors[100] == 0.5
    assert sum(factors) / len(factors) == pytest.approx(0.5, abs=0.01)
    assert [lr_factor(s, 200, 50) for s in (0, 150, 175)] == [1.0, 1.0, 0.5]


def test_the_pace_is_announced_once_after_the_first_steps() -> None:
    now = [0.0]
    pace = Pace(budget=600, clock=lambda: now[0])
    notes = []
    for _ in range(7):
        now[0] += 10.0 if pace.steps == 0 else 2.0  # a slow first step, then 2 s a step
        pace.step()
        notes.append(pace.announcement(1000 - pace.steps))
    assert notes[:5] == [None] * 5 and notes[6] is None  # after 5 steps past the first, and once
    assert notes[5] == ("about 33 min for the remaining 994 steps at this pace (2 s a step); the time budget "
                        "stops it after about 290 more steps (run the same command again to go on)")
    assert not pace.spent() and duration(59) == "under a minute" and duration(26 * 3600) == "about 26 h"


def test_max_time_stops_with_a_checkpoint_and_an_estimate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = run(tmp_path, steps=1_000_000, max_time=0.01)  # 0.6 s
    err = capsys.readouterr().err
    assert result.interrupted and 0 < result.step < 1_000_000 and latest(tmp_path)["step"] == result.step
    assert f"stopped at the time budget of 0.01 min at step {result.step} of 1000000" in err
    assert "The rest takes about" in err and "note: about" in err, err
    assert run(tmp_path, steps=result.step + 2).step == result.step + 2


def test_ctrl_c_in_process_then_rerun_is_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dict(steps=60, regularizer="maxal", ema=0.99, decay_steps=30, checkpoint_every=25)
    run(tmp_path / "straight", **settings)
    monkeypatch.setattr(engine_toy, "INTERRUPT_AT", 37)
    stopped = run(tmp_path / "resumed", **settings)
    assert stopped.interrupted and stopped.step == 37
    assert latest(tmp_path / "resumed")["step"] == 37
    monkeypatch.setattr(engine_toy, "INTERRUPT_AT", 0)
    assert run(tmp_path / "resumed", **settings).step == 60
    assert_same_training(latest(tmp_path / "straight"), latest(tmp_path / "resumed"))
    assert_same_metrics(tmp_path / "resumed", tmp_path / "straight")


def start_toy(out: Path, *settings: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOY.parent), str(TOY.parent.parent)])}
    return subprocess.Popen([sys.executable, str(TOY), str(out), "steps=100000", *settings],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_checkpoint(out: Path, proc: subprocess.Popen, step: int) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "checkpoints" / "latest.pt").exists() and latest(out)["step"] >= step:
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint at step {step}: {proc.communicate()}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_stopped_process_resumes_to_the_same_weights(tmp_path: Path, sig: signal.Signals) -> None:
    proc = start_toy(tmp_path / "run", "checkpoint_every=20", "log_every=5")
    wait_for_checkpoint(tmp_path / "run", proc, 40)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    ck = latest(tmp_path / "run")
    if sig == signal.SIGINT:
        assert proc.returncode == 0, stderr
        assert f"interrupted at step {ck['step']}" in stderr and f"step={ck['step']} interrupted=True" in stdout
    else:
        assert proc.returncode == -signal.SIGKILL
        assert max(metric_steps(tmp_path / "run")) - ck["step"] <= 20  # at most one checkpoint interval lost
    end = ck["step"] + 20
    run(tmp_path / "run", steps=end, log_every=5)
    run(tmp_path / "straight", steps=end, log_every=5)
    assert_same_training(latest(tmp_path / "straight"), latest(tmp_path / "run"))
    assert_same_metrics(tmp_path / "run", tmp_path / "straight")


def test_nan_stops_with_the_last_good_checkpoint_kept(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match=r"critic loss became nan at step 25;.*latest.pt \(step 20\) is kept"):
        run(tmp_path, steps=100, nan_at=25)
    ck = latest(tmp_path)
    assert ck["step"] == 20
    assert all(torch.isfinite(t).all() for t in ck["task"].values() if isinstance(t, Tensor))


def test_refuses_what_it_must_not_touch(tmp_path: Path) -> None:
    run(tmp_path / "run", steps=20)
    with pytest.raises(InputError, match="trained with width 64 \\(now 32\\)"):
        run(tmp_path / "run", steps=40, width=32)
    assert latest(tmp_path / "run")["step"] == 20
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.yaml").write_text("app: translate\n")
    with pytest.raises(InputError, match="a run of `ot-gan translate train`"):
        run(tmp_path / "other", steps=20, overwrite=True)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(b"meow")
    with pytest.raises(InputError, match="not an ot-gan run"):
        run(tmp_path / "photos", steps=20)
    assert (tmp_path / "photos" / "cat.png").read_bytes() == b"meow"


def test_a_checkpoint_of_other_networks_is_refused_in_one_line(tmp_path: Path) -> None:
    """A run saved by a version of ot-gan that built its networks otherwise (the CycleGAN before
    resize-convolutions) would not load its weights: one line instead of a state-dict error."""
    run(tmp_path, steps=20)
    older = latest(tmp_path)
    older["architecture"] = {"width": 99, "upsample": "transpose"}
    save_checkpoint(older, tmp_path / "checkpoints" / "latest.pt")
    with pytest.raises(InputError, match="its networks differ .*width 99 \\(now 64\\).*start afresh"):
        run(tmp_path, steps=40)
    assert latest(tmp_path)["step"] == 20
    assert run(tmp_path, steps=20, overwrite=True).step == 20


def test_overwrite_starts_afresh(tmp_path: Path) -> None:
    run(tmp_path, steps=40)
    run(tmp_path, steps=20, width=32, overwrite=True)
    assert latest(tmp_path)["step"] == 20 and latest(tmp_path)["architecture"] == {"width": 32}


class Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("content", ["text", "foreign", "code", "other-app"])
def test_foreign_checkpoints_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "model.pt"
    if content == "text":
        path.write_text("not a checkpoint")
    elif content == "foreign":
        torch.save({"state_dict": torch.zeros(3)}, path)
    elif content == "code":
        torch.save({"format": "ot-gan checkpoint", "evil": Evil()}, path)
    else:
        save_checkpoint({"app": "colorize"}, path)
    message = {"text": "not a readable checkpoint", "foreign": "not an ot-gan checkpoint",
               "code": "would run code", "other-app": "of `ot-gan colorize`"}[content]
    with pytest.raises(InputError, match=message):
        load_checkpoint(path, "toy")


@pytest.mark.slow
def test_two_gloo_processes_agree_with_one(tmp_path: Path) -> None:
    """MaxAL: its multiplier and batch maximum are regularizer state, which every rank must share."""
    settings = ["steps=30", "regularizer=maxal", "batch_size=32"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOY.parent), str(TOY.parent.parent)]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(TOY), str(tmp_path / "ddp"), *settings], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run(tmp_path / "one", steps=30, regularizer="maxal", batch_size=32)
    two, one = latest(tmp_path / "ddp")["task"], latest(tmp_path / "one")["task"]
    for key, value in one.items():
        if isinstance(value, Tensor) and value.is_floating_point():
            torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert abs(one["regularizer.multiplier"]) > 0.01  # the multiplier has moved, and the same way on 2 ranks
    assert latest(tmp_path / "ddp")["step"] == 30


def test_check_fits_refuses_other_channels_and_classes() -> None:
    images = torch.zeros(2, 3, 4, 4)
    check_fits("x", images, 3, ["a", "b"], ["a", "b"])
    check_fits("x", images, 3, ["a", "c"])  # an unconditional run takes any classes
    with pytest.raises(InputError, match=r"^x: images with 3 channels, but the run's domain A has 1 \(gray 1"):
        check_fits("x", images, 1, part="the run's domain A")
    with pytest.raises(InputError, match="^x: classes a, c, but the run has classes a, b$"):
        check_fits("x", images, 3, ["a", "c"], ["a", "b"])
