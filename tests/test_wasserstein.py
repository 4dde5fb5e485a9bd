"""Accuracy of the W1 estimators against exact OT and closed forms (fixed seeds, small critics)."""

import math
import signal

import numpy as np
import ot
import pytest
import torch

from bench.funnels import funnel_pair
from ot_gan import CriticEstimator, wasserstein1
from ot_gan.errors import InputError
from ot_gan.lipschitz import GradientPenalty, MaxAL
from ot_gan.sources import toy_2d
from ot_gan.w1 import check_pair, ctransform_w1, exact_w1, mean_difference_interval, method_options, sliced_wasserstein
from ot_gan.w1.training import Plateau


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
    assert sliced_wasserstein(x, y) < exact


def test_weights_are_pots_a_and_b():
    """Weighted exact, Sinkhorn and sliced are POT's emd2, sinkhorn2 and sliced distance with the
    same (normalized) weights; uniform weights change nothing."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 3)), rng.normal(size=(90, 3)) + 0.5
    a, b = rng.random(120), rng.random(90)
    an, bn, cost = a / a.sum(), b / b.sum(), ot.dist(x, y, metric="euclidean")
    assert wasserstein1(x, y, a, b, method="exact").distance == pytest.approx(ot.emd2(an, bn, cost), rel=1e-9)
    sinkhorn = ot.sinkhorn2(an, bn, cost, 0.05 * cost.mean(), method="sinkhorn_log", numItermax=10_000, stopThr=1e-7)
    r = wasserstein1(x, y, a, b, method="sinkhorn", reg=0.05)
    assert r.distance == pytest.approx(float(sinkhorn), rel=1e-9) and r.converged
    assert sliced_wasserstein(x, y, a, b, seed=3) == pytest.approx(
        ot.sliced_wasserstein_distance(x, y, an, bn, n_projections=500, p=1, seed=3), rel=1e-9)
    assert (wasserstein1(x, y, np.ones(120), None, method="exact").distance
            == pytest.approx(wasserstein1(x, y, method="exact").distance, rel=1e-12))


@pytest.mark.parametrize("a,message", [(np.ones(5), "shape \\(120,\\)"), (-np.ones(120), "non-negative"),
                                       (np.zeros(120), "not all 0")])
def test_bad_weights(a, message):
    with pytest.raises(InputError, match=message):
        wasserstein1(np.zeros((120, 2)), np.ones((10, 2)), a, method="exact")


def test_options_are_checked_per_method():
    """An option another method takes is one InputError that lists the method's options; the
    sliced distance is not a W1 method."""
    x = np.zeros((10, 2))
    with pytest.raises(InputError, match="'exact' takes no option steps; its options are max_entries$"):
        wasserstein1(x, x, method="exact", steps=10)
    with pytest.raises(InputError, match="'maxal' takes no option reg; its options are .*steps.*eta"):
        wasserstein1(x, x, reg=0.1)
    assert "c" in method_options("clip") and "eta" not in method_options("gp")
    with pytest.raises(InputError, match="sliced_wasserstein"):
        wasserstein1(x, x, method="sliced")


@pytest.mark.slow
def test_weighted_critic_is_near_the_weighted_exact_value():
    """Weights that move W1 by a quarter: the MaxAL critic with weighted minibatches and means
    lands within 5% of the weighted exact value, on all samples and held out; the potential it
    returns gives the distance back as a weighted mean difference. 5 s."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 2, generator=g)
    y = 0.5 * torch.randn(600, 2, generator=g) + torch.tensor([2.0, 0.0])
    a = torch.where(x[:, 0] > 0, 4.0, 1.0)  # the half nearer y counts 4 times
    exact = wasserstein1(x, y, a, method="exact").distance
    assert wasserstein1(x, y, method="exact").distance > 1.2 * exact
    r = wasserstein1(x, y, a, steps=400, min_steps=400, width=64, batch_size=128)
    assert r.all_samples == pytest.approx(exact, rel=0.05) and r.distance == pytest.approx(exact, rel=0.05)
    assert r.ci95[0] < r.distance < r.ci95[1] and r.status == "cap" and not r.converged
    with torch.no_grad():
        assert (r.potential(x) @ (a / a.sum()) - r.potential(y).mean()).item() == pytest.approx(r.all_samples, rel=1e-5)


@pytest.mark.slow
def test_maxal_matches_exact_on_2d_mixtures():
    """Two 2-D mixtures of 2000 points against each other: the critic within 3% of exact OT, K
    within 0.02 of 1, and its c-transform between the critic and exact. (Gaussians against rings
    at the default cap, whose estimate climbs for thousands of steps, is the README's quick start,
    checked the same way in tests/cli/test_readme.py.) 2,000 steps read 0.982 of exact (seed 1:
    0.978; 3,000 steps 0.985 and 0.984)."""
    x, y = toy_2d("checkerboard", 2000, 0), toy_2d("gaussians", 2000, 1)
    exact = exact_w1(x, y)
    r = wasserstein1(x, y, ctransform=True, steps=2000)
    assert r.all_samples == pytest.approx(exact, rel=0.03)
    assert r.lipschitz == pytest.approx(1.0, abs=0.02)
    assert r.all_samples < r.ctransform <= exact


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
def test_maxal_recovers_a_scaling():
    """W1(N(0, I), N(0, 1.5^2 I)) = 0.5 E||x|| (x -> 1.5x moves each point 0.5||x||, and ||x|| is
    a 1-Lipschitz potential that certifies it) in 64-D: within 5%, with K within 2% of 1, with the
    default critic, whose GroupSort groups of 8 follow the radial potential. (2-D: the mixtures
    and the translation; 16-D and the other cases: bench/wdist.py's accuracy table.)"""
    d = 64
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4000, d, generator=g), 1.5 * torch.randn(4000, d, generator=g)
    truth = 0.5 * math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    r = wasserstein1(x, y, steps=3000)
    assert r.all_samples == pytest.approx(truth, rel=0.05)
    assert r.lipschitz == pytest.approx(1.0, abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("d", [2, 64])
def test_maxal_recovers_a_translation(d):
    """W1(N(0, I), N(v, I)) = ||v|| = 2: within 5%, with K within 2% of 1 (a linear potential:
    600 steps read 1.01 of it in 2-D, 0.996-1.01 on other draws and seeds; 64-D needs 1,500 for
    1.02, 1,000 read 0.95 on another draw)."""
    x, y = translated_gaussians(d, 2000)
    r = wasserstein1(x, y, steps={2: 600, 64: 1500}[d])
    assert r.all_samples == pytest.approx(2.0, rel=0.05)
    assert r.lipschitz == pytest.approx(1.0, abs=0.02)
    lo, hi = r.ci95
    assert lo <= r.distance <= hi and hi - lo < 0.5
    assert r.distance == pytest.approx(2.0, rel=0.1)


@pytest.mark.slow
def test_fitted_critic_generalizes_to_fresh_samples():
    """A critic trained on 2,000 samples a side reads W1 on 17,000 it never saw within 5% (500
    steps: 0.992 of it; seeds 1 and 2, on their own draws, 0.993 and 0.988)."""
    x, y = translated_gaussians(8, 2000)
    est = CriticEstimator("maxal", steps=500).fit(x, y)
    fx, fy = translated_gaussians(8, 20000, seed=0)  # same shift; rows past 2000 are unseen
    assert est.distance(fx[3000:], fy[3000:]) == pytest.approx(2.0, rel=0.05)


def test_a_set_against_a_nudged_copy_of_itself_reads_about_zero_held_out():
    """Each sample and its slightly moved twin at the same position of the other set (the two
    distributions nearly equal: W1 about 0.008) are held out together. Split apart (each set its own
    split), the critic that memorized the training twins read -0.131 held-out here (seed 1: -0.158):
    it scored each held-out sample like its twin. Sets of other sizes keep a split each."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 32, generator=g)
    y = x + 0.3 * torch.randn(400, 32, generator=g) / 32**0.5
    r = wasserstein1(x, y, steps=600, min_steps=600, width=64)
    assert torch.equal(*r.heldout_index) and abs(r.distance) < 0.03, r.distance
    r = wasserstein1(x, y[:300], steps=10, min_steps=10, width=64)
    assert [len(i) for i in r.heldout_index] == [80, 60]


@pytest.mark.slow
def test_bjorck_critic_reads_a_funnel_pair_in_16_d():
    """Orthonormal weights, no penalty: a 16-D cube with 4 funnels within 5% of the truth after
    500 steps (0.967, held-out 0.959 measured; 0.974 and 0.966 before the orthogonal start), K at
    most 1."""
    x, y, truth, _ = funnel_pair("cube", 1000, 4, seed=0, dim=16)
    r = wasserstein1(x, y, method="bjorck", steps=500)
    assert r.all_samples == pytest.approx(truth, rel=0.05) and r.distance == pytest.approx(truth, rel=0.05)
    assert 0.95 < r.lipschitz <= 1.0 + 1e-3


@pytest.mark.slow
def test_maxgp_is_divided_by_its_lipschitz_constant():
    """MaxGP settles above K = 1 (near 1 + W / (2 rho)); dividing by K recovers W1."""
    x, y = translated_gaussians(2, 2000)
    r = wasserstein1(x, y, method="maxgp", rho=2.0, steps=1000)
    assert r.lipschitz > 1.2
    assert r.details["divided_by_K"]
    assert r.all_samples == pytest.approx(2.0, rel=0.05)


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


def test_should_stop_ends_training_and_still_reports_the_critic():
    """The stop callback (the CLI's Ctrl-C) ends training after that step; the critic trained so
    far is measured, and the result says it was interrupted."""
    calls = []  # the SIGINT handler in place at each call: the library installs none of its own
    x, y = translated_gaussians(2, 1000)
    r = CriticEstimator(steps=3000, should_stop=lambda: calls.append(signal.getsignal(signal.SIGINT))
                        or len(calls) == 200).fit(x, y).result_
    assert set(calls) == {signal.getsignal(signal.SIGINT)}
    assert r.interrupted and r.status == "interrupted" and not r.converged and r.steps == 200
    assert 0 < r.all_samples < 2.0 and r.lipschitz > 0 and r.ci95 is not None
    assert not wasserstein1(x, y, steps=40, min_steps=40).interrupted


def test_reduced_precision_is_cuda_only_and_leaves_the_global_setting():
    """``bf16`` and ``tf32`` change nothing on the CPU (the same critic, the same figures), and
    torch's global matrix-product precision is as it was after the fit."""
    x, y = translated_gaussians(2, 600)
    plain = wasserstein1(x, y, steps=200, min_steps=200)
    reduced = wasserstein1(x, y, steps=200, min_steps=200, bf16=True, tf32=True)
    assert (reduced.distance, reduced.all_samples, reduced.lipschitz) == (plain.distance, plain.all_samples,
                                                                          plain.lipschitz)
    assert torch.get_float32_matmul_precision() == "highest"


def test_tiny_sets_get_no_held_out_interval():
    """Five and four samples leave one held-out sample a side: no bootstrap, still an estimate."""
    r = wasserstein1(np.zeros((5, 2)), np.ones((4, 2)), steps=100, progress=False)
    assert r.basis == "all samples" and r.ci95 is None
    assert r.distance == pytest.approx(math.sqrt(2), rel=0.05)  # every pair is (0, 0)-(1, 1)


def plateau(history):
    rule = Plateau(tol=0.005)
    rule.history = history
    return rule.settled()


def test_plateau_watches_the_held_out_gap():
    """K must be flat; the held-out gap must have stopped rising (falling is memorization and
    counts); with no held-out samples the training gap must be flat."""
    flat_k = [(1.0 + 0.1 * i, 1.0, 0.5) for i in range(6)]  # training gap rising, held-out flat
    assert plateau(flat_k)
    assert plateau([(g, k, 0.6 - 0.01 * i) for i, (g, k, _) in enumerate(flat_k)])  # held-out falling
    assert not plateau([(g, k, 0.5 + 0.01 * i) for i, (g, k, _) in enumerate(flat_k)])  # held-out rising
    assert not plateau([(g, 1.0 + 0.01 * i, h) for i, (g, _, h) in enumerate(flat_k)])  # K moving
    assert not plateau([(g, k, float("nan")) for g, k, _ in flat_k])  # no held-out: the training gap
    assert plateau([(1.0, 1.0, float("nan"))] * 6)
    assert not plateau([(1.0, 1.0, 0.5)] * 3)  # too short to compare with halfway


def test_plateau_averages_each_window_and_waits_for_min_steps():
    rule = Plateau(check_every=10, tol=0.005, min_steps=50)
    fired = [rule.record(step, gap=1.0 + step % 2, slope=float("nan") if step % 5 else 1.0,
                         heldout=0.5 if step % rule.probe_every == 0 else None) for step in range(1, 61)]
    assert rule.history[0] == (1.5, 1.0, 0.5) and len(rule.history) == 6
    assert [step for step, f in enumerate(fired, 1) if f] == [50, 60]


@pytest.mark.slow
def test_memorizing_a_small_set_stops_training():
    """Two samples of one 64-D Gaussian (W1 = 0): the training gap grows as the critic memorizes
    300 points, the held-out one does not, and training stops long before the cap of 8,000 (the
    rule on windows of 100 steps, a fifth of the default, to keep the test short: it stops after
    500 steps here, 500-4,500 on the draws of seeds 1-3). The held-out interval (60 samples a side)
    covers the truth, 0, and the memorized all-samples figure lies above it (0.353 here; on seeds
    1-3 the interval held 0 each time and all samples read 0.43-3.1)."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 64, generator=g), torch.randn(300, 64, generator=g)
    r = wasserstein1(x, y, check_every=100, min_steps=200)
    assert r.steps <= 2000 * 5 // 4
    assert r.ci95[0] < 0 < r.ci95[1] < r.all_samples, (r.ci95, r.all_samples)


def test_fit_twice_starts_afresh_and_leaves_the_global_generator_alone():
    """Each fit trains a fresh copy of the critic and of the regularizer (spectral norm applied
    once, MaxAL's multiplier from 0), from the estimator's seed, not torch's global generator."""
    x, y = translated_gaussians(2, 600)
    for method in ("maxal", "sn"):
        est = CriticEstimator(method, steps=60, min_steps=60)
        torch.manual_seed(5)
        expected = torch.rand(3)
        torch.manual_seed(5)
        first = est.fit(x, y).result_
        assert torch.equal(torch.rand(3), expected)
        critic = est.critic
        second = est.fit(x, y).result_
        assert est.critic is not critic
        assert (second.distance, second.lipschitz, second.details) == (first.distance, first.lipschitz, first.details)
    layers = [m for m in est.critic.modules() if isinstance(m, torch.nn.Linear)]
    assert all(len(m.parametrizations.weight) == 1 for m in layers)  # spectral norm once, not once per fit


def test_a_regularizer_that_calibrates_k_is_not_divided_by_it():
    """A MaxAL subclass still reads W1 off the gap (the check is the regularizer's own flag, not
    its name); a custom one that does not calibrate is divided by the measured K."""

    class MyMaxAL(MaxAL):
        pass

    x, y = translated_gaussians(2, 600)
    r = CriticEstimator(MyMaxAL(), steps=40, min_steps=40).fit(x, y).result_
    assert not r.details["divided_by_K"] and r.method == "mymaxal"
    r = CriticEstimator(GradientPenalty(), steps=40, min_steps=40).fit(x, y).result_
    assert r.details["divided_by_K"]


def test_a_huge_learning_rate_diverges_and_is_reported():
    """lr = 0.01 (ten times the default) without the warm-up blows the critic up within a few
    steps: training stops at the first non-finite value, before the first check window, so the
    critic kept is the initial one and the result says so. With the warm-up it survives."""
    x, y = translated_gaussians(2, 1000)
    r = CriticEstimator(steps=400, lr=0.01, warmup=0).fit(x, y).result_
    assert r.status == "diverged" and not r.converged and not r.interrupted
    assert 0 < r.diverged_at < 10 and r.steps == 0
    assert all(math.isfinite(v) for v in (r.all_samples, r.distance, *r.ci95, r.lipschitz, r.details["multiplier"]))
    assert CriticEstimator(steps=400, lr=0.01).fit(x, y).result_.status == "cap"


def test_a_runaway_multiplier_goes_back_to_the_last_check():
    """MaxAL's multiplier driven to infinity after 60 good steps: training stops there, and the
    critic and multiplier kept at step 60 are measured."""

    class Runaway(MaxAL):
        updates = 0

        def after_step(self, critic):
            self.updates += 1
            self.eta = 1e38 if self.updates > 60 else 1.0
            super().after_step(critic)

    x, y = translated_gaussians(2, 1000)
    r = CriticEstimator(Runaway(), steps=400, check_every=20).fit(x, y).result_
    assert r.status == "diverged" and r.steps == 60 and 60 < r.diverged_at <= 63
    assert 0.5 < r.all_samples < 2.5 and 0.5 < r.lipschitz < 2 and abs(r.details["multiplier"]) < 3


@pytest.mark.parametrize("n_a,n_b", [(60, 40), (2500, 2000)])  # the bootstrap, and the normal interval
def test_heldout_interval_covers_the_true_difference_95_percent_of_the_time(n_a, n_b):
    """Over 300 draws of skewed samples (exponential against normal, true difference 0.5), the
    interval holds the true difference in 95% of them (within the binomial spread: 0.91-0.98)."""
    rng = np.random.default_rng(0)
    hits = []
    for draw in range(300):
        a, b = rng.exponential(1.0, n_a), rng.normal(0.5, 2.0, n_b)
        value, (lo, hi) = mean_difference_interval(a, b, resamples=400, seed=draw)
        assert lo < value < hi
        hits.append(lo <= 0.5 <= hi)
    assert 0.91 <= np.mean(hits) <= 0.98


def test_weighted_interval_is_that_of_a_self_normalized_mean():
    """Weights give the weighted means and a normal interval whose variance is sum w^2 (v - mean)^2
    a side; a weight that doubles a value counts as that value twice, variance aside."""
    rng = np.random.default_rng(0)
    a, b, wa = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 2.0, 200), rng.random(300)
    value, (lo, hi) = mean_difference_interval(a, b, wa=wa)
    w = wa / wa.sum()
    mean_a = w @ a
    half = 1.959964 * math.sqrt(w**2 @ (a - mean_a) ** 2 + b.var() / 200)
    assert value == pytest.approx(mean_a - b.mean()) and (lo, hi) == pytest.approx((value - half, value + half))
    twice = mean_difference_interval(np.concatenate([a, a[:1]]), b, wa=np.ones(301))[0]
    assert mean_difference_interval(a, b, wa=np.r_[2.0, np.ones(299)])[0] == pytest.approx(twice)


def test_float32_arrays_are_used_in_place():
    """The data are never copied to float: a float32 array is read where it lies."""
    x = np.zeros((100, 3), np.float32)
    t, _ = check_pair(x, x)
    assert t.data_ptr() == x.ctypes.data
