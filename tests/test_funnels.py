"""The funnel pairs have the W1 they claim, and the critic reads it (fixed seeds, small sets)."""

import pytest
import torch

from bench.funnels import Funnels, cube, funnel_pair, photo_crops
from ot_gan import CriticEstimator
from ot_gan.w1 import exact_w1


@pytest.mark.parametrize("source, dim, k", [("cube", 8, 1), ("cube", 8, 16), ("photos", 4, 4)])
def test_paired_funnel_sets_have_plug_in_w1_equal_to_the_mean_displacement(source, dim, k):
    x, y, truth, funnels = funnel_pair(source, 300, k, seed=1, size=dim, dim=dim)
    assert (funnels(y) - funnels(x)).mean().item() == pytest.approx(truth, rel=1e-4)
    assert exact_w1(x, y) == pytest.approx(truth, rel=1e-4)  # the pairing is an optimal plan


def test_independent_draws_have_a_larger_plug_in_w1_than_the_population_value():
    x, y, truth, _ = funnel_pair("cube", 400, 4, paired=False, seed=0, dim=32)
    assert exact_w1(x, y) > 1.3 * truth


def test_funnel_gradient_is_the_unit_direction_away_from_the_active_apex():
    gen = torch.Generator().manual_seed(0)
    funnels = Funnels.random(cube(64, 5, gen), 3, gen)
    x = cube(50, 5, gen).requires_grad_(True)
    (grad,) = torch.autograd.grad(funnels(x).sum(), x)
    assert torch.allclose(grad, funnels.gradient(x.detach()), atol=1e-5)


def test_photo_crops_are_images_in_range():
    crops = photo_crops(20, 16, torch.Generator().manual_seed(0))
    assert crops.shape == (20, 3, 16, 16) and crops.min() >= -1 and crops.max() <= 1
    assert crops.flatten(1).std(0).mean() > 0.1  # crops from different places, not one patch


@pytest.mark.slow
def test_maxal_reads_a_funnel_pair_of_photo_crops_at_its_defaults():
    """8x8 photo crops (192-D) with 2 funnels: the estimate and the held-out one within 10% of the
    truth (0.951, held-out 0.922 measured), K within 2% of 1. (2-D potentials: the mixtures in test_wasserstein.)"""
    x, y, truth, _ = funnel_pair("photos", 1000, 2, seed=0, size=8, dim=8)
    r = CriticEstimator("maxal", steps=2000, seed=0).fit(x, y).result_
    assert r.all_samples == pytest.approx(truth, rel=0.1) and r.all_samples < truth
    assert r.distance == pytest.approx(truth, rel=0.15)
    assert r.lipschitz == pytest.approx(1.0, abs=0.02)
