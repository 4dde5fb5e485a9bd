"""best_critic: each half of the held-out samples is read by the candidate with the larger gap on
the other half, and the two-sample test makes that choice again under every relabeling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ot_gan.w1 import two_sample_test, wasserstein1
from ot_gan.w1.select import cap_shares
from ot_gan.w1.two_sample import crossfit_p_value


def test_auto_reads_each_half_with_the_critic_chosen_on_the_other():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 2, generator=g)
    y = torch.randn(1000, 2, generator=g) + torch.tensor([2.0, 0.0])  # W1 = 2
    r = wasserstein1(x, y, method="auto", steps=300, min_steps=300, seed=0)
    halves, read_by = r.details["halves"], r.details["read_by"]
    assert set(halves) == set(r.candidates) == {"maxal", "bjorck"}
    assert read_by == [max(halves, key=lambda m: halves[m][1 - h]) for h in (0, 1)]
    assert r.distance == pytest.approx(2.0, rel=0.1) and r.ci95[0] < r.distance < r.ci95[1]
    assert r.steps == 150 + 150 // 4  # half the cap each, then the annealing
    test_x, test_y = r.heldout_index
    assert len(test_x) == len(test_y) == 200  # the default holdout, 20%: every held-out sample is read
    with torch.no_grad():  # the mean of the two halves, each read by its critic
        readings = [r.candidates[m](x[test_x[h::2]]).mean() - r.candidates[m](y[test_y[h::2]]).mean()
                    for h, m in enumerate(read_by)]
    assert sum(readings).item() / 2 == pytest.approx(r.distance, rel=1e-5)
    assert two_sample_test(r, x, y).statistic == pytest.approx(r.distance, rel=1e-5)


def test_from_16_dimensions_bjorck_gets_two_thirds_of_the_cap():
    """Equal shares in low dimension (above), a third and two thirds from 16 dimensions on: the
    kept critic's steps say which share it trained on."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 16, generator=g), torch.randn(400, 16, generator=g) + 1.0
    r = wasserstein1(x, y, method="auto", steps=300, min_steps=300, seed=0)
    assert r.steps == {"maxal": 100 + 100 // 4, "bjorck": 200 + 200 // 4}[r.details["chosen"]]
    assert cap_shares(("maxal", "bjorck"), 15) == {"maxal": 0.5, "bjorck": 0.5}
    assert cap_shares(("maxal", "gp"), 3072) == {"maxal": 0.5, "gp": 0.5}


def test_the_cross_fitted_test_keeps_its_level_where_choosing_on_the_test_samples_does_not():
    """Three candidates' values on held-out samples of one distribution: the cross-fitted test
    rejects at 0.1 about one time in ten; keeping the candidate with the larger gap on all the
    held-out samples and testing it on them rejects far more often (0.24 to 0.28 of 200 draws, on three seeds; the
    cross-fitted test 0.105 to 0.11)."""
    rng = np.random.default_rng(0)
    crossfit, chosen_on_them = [], []
    for draw in range(200):
        u, v = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
        halves = np.arange(30) % 2
        crossfit.append(crossfit_p_value(u, v, halves, halves, permutations=99, seed=draw)[0])
        best = np.argmax(u.mean(0) - v.mean(0))
        chosen_on_them.append(crossfit_p_value(u[:, [best]], v[:, [best]], halves, halves, permutations=99,
                                               seed=draw)[0])
    assert 0.05 <= np.mean(np.array(crossfit) <= 0.1) <= 0.15
    assert np.mean(np.array(chosen_on_them) <= 0.1) > 0.18


def test_auto_on_sets_too_small_to_hold_out_reads_all_samples():
    """Nothing held out (holdout 0) or one sample a side held out: no held-out figure and no
    interval, the kept critic on all samples instead, as a single critic reports it."""
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    for n, holdout in ((40, 0.0), (5, 0.2)):
        r = wasserstein1(x[:n], x[:n] + 1, method="auto", steps=10, holdout=holdout)
        assert r.basis == "all samples" and r.ci95 is None and r.distance == r.all_samples
