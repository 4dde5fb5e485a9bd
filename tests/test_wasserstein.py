"""Accuracy of the W1 estimators against exact OT and closed forms (fixed seeds, small critics)."""

import math
import os
import signal

import numpy as np
import ot
import pytest
import torch

from ot_gan import CriticEstimator, wasserstein1
from ot_gan.data import toy_2d
from ot_gan.errors import InputError
from ot_gan.lipschitz import MaxAL
from ot_gan.wasserstein import ctransform_w1, exact_w1


def translated_gaussians(d: int, n: int, shift: float = 2.0, seed: int = 0):
    """N(0, I) against N(v, I): W1 = ||v||."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(d, generator=g)
    v = shift * v / v.norm()
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) + v


def test_exact_is_pot_emd2_with_euclidean_cost():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 5)), rng.normal(size=(90, 5)) + 0.5
    expected = ot.emd2(ot.unif(120), ot.unif(90), ot.dist(x, y, metric="euclidean"))
    assert wasserstein1(x, y, method="exact").distance == pytest.approx(expected, rel=1e-9)


def test_exact_refuses_sets_too_large_and_points_to_maxal():
    x = np.zeros((300, 2))
    with pytest.raises(InputError, match="maxal"):
        exact_w1(x, x, max_entries=300 * 299)


@pytest.mark.slow
def test_sinkhorn_and_sliced_bracket():
    x, y = toy_2d("gaussians", 400, 0), toy_2d("rings", 400, 1)
    exact = wasserstein1(x, y, method="exact").distance
    sinkhorn = wasserstein1(x, y, method="sinkhorn").distance
    assert exact <= sinkhorn <= 1.05 * exact
    assert wasserstein1(x, y, method="sliced").distance < exact


@pytest.mark.slow
@pytest.mark.parametrize("a,b,steps", [
    ("checkerboard", "gaussians", 3000),
    # The rings estimate climbs in small steps for thousands of steps (0.96 of exact at 5,000):
    # the stopping rule must wait for it, and the default cap must leave it room.
    ("gaussians", "rings", None),
])
def test_maxal_matches_exact_on_2d_mixtures(a, b, steps):
    """Two 2-D mixtures of 2000 points against each other: the critic within 3% of exact OT, K
    within 0.02 of 1, and its c-transform between the critic and exact."""
    x, y = toy_2d(a, 2000, 0), toy_2d(b, 2000, 1)
    exact = exact_w1(x, y)
    r = wasserstein1(x, y, ctransform=True, **({"steps": steps} if steps else {}))
    assert r.distance == pytest.approx(exact, rel=0.03)
    assert r.lipschitz == pytest.approx(1.0, abs=0.02)
    assert r.distance < r.ctransform <= exact


def test_ctransform_bounds_exact_from_below_and_the_critic_from_above():
    """Any values give a lower bound of exact; the exact dual potential gives exact itself; a
    1-Lipschitz f gives at least its own gap."""
    x, y = toy_2d("checkerboard", 300, 0), toy_2d("gaussians", 250, 1)
    cost = ot.dist(x.double().numpy(), y.double().numpy(), metric="euclidean")
    exact, log = ot.emd2(ot.unif(300), ot.unif(250), cost, log=True)
    assert ctransform_w1(log["u"], x, y) == pytest.approx(exact, rel=1e-5)
    assert ctransform_w1(torch.randn(300), x, y) <= exact
    u = torch.tensor([0.6, -0.8])  # f(z) = <u, z>, 1-Lipschitz
    gap = (x @ u).mean() - (y @ u).mean()
    assert gap < ctransform_w1(x @ u, x, y) <= exact
    with pytest.raises(InputError, match="subsample"):
        ctransform_w1(x @ u, x, y, max_entries=1000)


@pytest.mark.slow
@pytest.mark.parametrize("d,group", [(2, 2), (16, 2), (64, 8)])
def test_maxal_recovers_a_scaling(d, group):
    """W1(N(0, I), N(0, 1.5^2 I)) = 0.5 E||x|| (x -> 1.5x moves each point 0.5||x||, and ||x|| is
    a 1-Lipschitz potential that certifies it): within 5%, with K within 2% of 1. In 64-D the
    critic needs GroupSort groups of 8 to follow the radial potential."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4000, d, generator=g), 1.5 * torch.randn(4000, d, generator=g)
    truth = 0.5 * math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    r = wasserstein1(x, y, steps=3000, group=group)
    assert r.distance == pytest.approx(truth, rel=0.05)
    assert r.lipschitz == pytest.approx(1.0, abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("d", [2, 16, 64])
def test_maxal_recovers_a_translation(d):
    """W1(N(0, I), N(v, I)) = ||v|| = 2: within 5%, with K within 2% of 1."""
    x, y = translated_gaussians(d, 4000)
    r = wasserstein1(x, y, steps=3000)
    assert r.distance == pytest.approx(2.0, rel=0.05)
    assert r.lipschitz == pytest.approx(1.0, abs=0.02)
    lo, hi = r.ci95
    assert lo <= r.heldout <= hi and hi - lo < 0.5
    assert r.heldout == pytest.approx(2.0, rel=0.1)


@pytest.mark.slow
def test_fitted_critic_generalizes_to_fresh_samples():
    x, y = translated_gaussians(8, 3000)
    est = CriticEstimator("maxal", steps=2000).fit(x, y)
    fx, fy = translated_gaussians(8, 20000, seed=0)  # same shift; rows past 3000 are unseen
    assert est.distance(fx[3000:], fy[3000:]) == pytest.approx(2.0, rel=0.05)


@pytest.mark.slow
def test_maxgp_is_divided_by_its_lipschitz_constant():
    """MaxGP settles above K = 1 (near 1 + W / (2 rho)); dividing by K recovers W1."""
    x, y = translated_gaussians(2, 3000)
    r = wasserstein1(x, y, method="maxgp", rho=2.0, steps=2000)
    assert r.lipschitz > 1.2
    assert r.details["divided_by_K"]
    assert r.distance == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("x,y,message", [
    (np.zeros((10, 3)), np.zeros((10, 4)), "different sample shapes"),
    (np.full((10, 2), np.nan), np.zeros((10, 2)), "NaN"),
    (np.zeros(10), np.zeros(10), "expected an array of samples")])
def test_bad_input(x, y, message):
    with pytest.raises(InputError, match=message):
        wasserstein1(x, y, method="exact")
    with pytest.raises(InputError):
        wasserstein1(x, y, steps=1)


def test_unknown_method():
    with pytest.raises(InputError, match="choose one of"):
        wasserstein1(np.zeros((3, 2)), np.zeros((3, 2)), method="emd")


@pytest.mark.slow
def test_ctrl_c_stops_training_and_still_reports_the_critic():
    """A Ctrl-C during training ends it after that step; the critic trained so far is measured."""

    class CtrlCAtStep40(MaxAL):
        steps = 0

        def after_step(self, critic):
            super().after_step(critic)
            self.steps += 1
            if self.steps == 40:
                os.kill(os.getpid(), signal.SIGINT)

    x, y = translated_gaussians(2, 1000)
    r = CriticEstimator(CtrlCAtStep40(), steps=3000, interruptible=True).fit(x, y).result_
    assert r.interrupted and r.steps == 40
    assert 0 < r.distance < 2.0 and r.ci95 is not None  # 1.62 of the true 2 at step 40
    assert r.lipschitz == pytest.approx(1.0, abs=0.15)  # 1.06: MaxAL holds K near 1 from the start
    assert not wasserstein1(x, y, steps=40, min_steps=40).interrupted
    with pytest.raises(KeyboardInterrupt):  # not asked for: Ctrl-C quits as usual
        CriticEstimator(CtrlCAtStep40(), steps=3000).fit(x, y)


def test_tiny_sets_get_no_held_out_interval():
    """Five and four samples leave one held-out sample a side: no bootstrap, still an estimate."""
    r = wasserstein1(np.zeros((5, 2)), np.ones((4, 2)), steps=20, progress=False)
    assert r.heldout is None and r.ci95 is None
    assert r.distance == pytest.approx(math.sqrt(2), rel=0.05)  # every pair is (0, 0)-(1, 1); 1.366 after 25 steps


def test_settled_watches_the_held_out_gap():
    """K must be flat; the held-out gap must have stopped rising (falling is memorization and
    counts); with no held-out samples the training gap must be flat."""
    est = CriticEstimator()
    flat_k = [(1.0 + 0.1 * i, 1.0, 0.5) for i in range(6)]  # training gap rising, held-out flat
    assert est._settled(flat_k)
    assert est._settled([(g, k, 0.6 - 0.01 * i) for i, (g, k, _) in enumerate(flat_k)])  # held-out falling
    assert not est._settled([(g, k, 0.5 + 0.01 * i) for i, (g, k, _) in enumerate(flat_k)])  # held-out rising
    assert not est._settled([(g, 1.0 + 0.01 * i, h) for i, (g, _, h) in enumerate(flat_k)])  # K moving
    assert not est._settled([(g, k, float("nan")) for g, k, _ in flat_k])  # no held-out: the training gap
    assert est._settled([(1.0, 1.0, float("nan"))] * 6)


@pytest.mark.slow
def test_memorizing_a_small_set_stops_training():
    """Two samples of one 64-D Gaussian (W1 = 0): the training gap grows as the critic memorizes
    300 points, the held-out one does not, and training stops long before the cap."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 64, generator=g), torch.randn(300, 64, generator=g)
    r = wasserstein1(x, y)
    assert r.steps <= 4000 * 5 // 4
    assert abs(r.heldout) < 0.1 * r.distance
