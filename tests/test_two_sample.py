"""The critic's two-sample test and witness samples (ot_gan/w1/two_sample.py, witness.py)."""

import numpy as np
import pytest
import torch

from ot_gan.errors import InputError
from ot_gan.sources import PALETTE, load_digits
from ot_gan.w1 import exact_w1, two_sample_test, wasserstein1, witness_samples
from ot_gan.w1.two_sample import permutation_p_value

SHORT = {"steps": 300, "width": 32, "depth": 2, "batch_size": 64, "holdout": 0.5}  # seconds on one thread


@pytest.mark.parametrize("weighted", [False, True])
def test_the_permutation_p_value_keeps_its_level_on_fixed_values(weighted):
    """Under the null (both value sets from one law, weights drawn by one rule) p <= 0.05 about 5% of
    the time, and p is uniform: its mean is 1/2."""
    rng = np.random.default_rng(0)
    p = []
    for seed in range(400):
        u, v = rng.exponential(size=30), rng.exponential(size=50)
        wu, wv = (rng.random(30), rng.random(50)) if weighted else (None, None)
        p.append(permutation_p_value(u, v, wu, wv, permutations=200, seed=seed))
    p = np.array(p)
    assert 0.025 <= (p <= 0.05).mean() <= 0.08 and abs(p.mean() - 0.5) < 0.05


def test_tiny_sets_get_the_exact_test():
    """Fewer relabelings than permutations: all of them are enumerated. Of the 6 ways to split
    {0, 1, 3, 4} in two pairs, the observed {3, 4} | {0, 1} has the largest gap: p = 1/6."""
    assert permutation_p_value(np.array([3.0, 4.0]), np.array([0.0, 1.0])) == pytest.approx(1 / 6)
    assert permutation_p_value(np.array([3.0, 4.0]), np.array([0.0, 1.0]), np.array([1.0, 0.5]),
                               np.array([1.0, 1.0])) == pytest.approx(1 / 6)


def test_two_sets_that_differ_are_rejected_and_the_statistic_is_the_held_out_estimate():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2)) + [1.0, 0.0]
    r = wasserstein1(x, y, **SHORT)
    test = two_sample_test(r, x, y)
    assert test.p_value < 0.01 and test.n_heldout == (200, 200)
    assert test.statistic == pytest.approx(r.distance, rel=1e-6)
    a, b = rng.random(400), rng.random(400)
    a[:50] = 0  # weight 0: out of the minibatches and out of the test
    r = wasserstein1(x, y, a, b, **SHORT)
    test = two_sample_test(r, x, y, a, b)
    held_zero = np.isin(r.heldout_index[0].numpy(), np.arange(50)).sum()
    assert test.p_value < 0.01 and test.n_heldout == (200 - held_zero, 200) and held_zero > 0
    assert test.statistic == pytest.approx(r.distance, rel=1e-6)


def test_a_test_needs_a_critic_and_held_out_samples():
    x = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(InputError, match="no trained critic"):
        two_sample_test(wasserstein1(x, x + 1, method="exact"), x, x + 1)
    with pytest.raises(InputError, match="holdout=0.5"):
        two_sample_test(wasserstein1(x, x + 1, steps=5, holdout=0.0), x, x + 1)


def strokes(gray: torch.Tensor, color: tuple[float, float, float]) -> torch.Tensor:
    """Gray digits in [-1, 1] stroked in ``color`` on black, as colordigits draws them."""
    return (gray + 1) / 2 * torch.tensor(color)[None, :, None, None] * 2 - 1


def test_the_witnesses_of_red_and_blue_digits_against_blue_ones_are_the_red_digits():
    """colordigits' red and blue strokes: A holds the first 900 digits, half red and half blue, B
    the others in blue. What A has that B lacks is red, so A's top-scored held-out digits are red
    and its lowest-scored are blue; B's lowest-scored are blue too (B is all blue)."""
    gray = load_digits(None)[0]
    red, blue = PALETTE[0], PALETTE[2]
    is_red = torch.arange(900) % 2 == 0
    x = torch.where(is_red[:, None, None, None], strokes(gray[:900], red), strokes(gray[:900], blue))
    y = strokes(gray[900:], blue)
    r = wasserstein1(x, y, seed=0, **SHORT)
    top, _, low, _ = witness_samples(r, x, y, count=16)
    assert (top.set, top.end, low.set, low.end) == ("a", "highest", "a", "lowest")
    assert is_red[top.index].all() and not is_red[low.index].any()
    assert np.all(np.diff(top.value) <= 0) and np.all(np.diff(low.value) >= 0)
    assert set(top.index) <= set(r.heldout_index[0].tolist())


def test_w1_per_class_is_each_class_s_w1():
    """Two labeled 2-D sets whose classes are translated by 2 and 3: the per-class table's held-out
    estimates are within 7% of the exact W1 of each class."""
    from ot_gan.data import Samples
    from ot_gan.tasks.wdist import WdistConfig, per_class

    rng = np.random.default_rng(0)
    xa = rng.normal(size=(2000, 2))
    xb = rng.normal(size=(2000, 2)) + np.repeat([[0, 2], [3, 0]], 1000, axis=0)
    labels = torch.arange(2).repeat_interleave(1000)
    sets = torch.tensor(xa, dtype=torch.float32), torch.tensor(xb, dtype=torch.float32)
    sources = tuple(Samples(x, labels, ["left", "right"]) for x in sets)
    cfg = WdistConfig("a", "b", steps=500, width=32, depth=2, batch_size=128, holdout=0.5)
    rows = per_class(cfg, sources, sets, torch.device("cpu"))
    assert [r["class"] for r in rows] == ["left", "right"]
    for row, half in zip(rows, (slice(0, 1000), slice(1000, 2000))):
        exact = exact_w1(sets[0][half], sets[1][half])
        assert row["distance"] == pytest.approx(exact, rel=0.07) and row["basis"] == "held-out"
