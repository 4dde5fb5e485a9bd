import numpy as np
import pytest
import torch

from ot_gan.diversity import _balls_containing, density_coverage, mean_pairwise_distance, precision_recall


def test_mean_pairwise_distance():
    x = torch.tensor([[0.0, 0.0], [1.0, 3.0], [2.0, 2.0]])  # pairs: 2, 2, 1 (means over the 2 entries)
    assert mean_pairwise_distance(x) == pytest.approx(5 / 3)
    assert mean_pairwise_distance(x[:1].expand(4, 2)) == 0.0
    with pytest.raises(ValueError, match="two samples"):
        mean_pairwise_distance(x[:1])


def test_precision_recall_see_collapse_and_misses():
    gen = torch.Generator().manual_seed(0)
    real, other = torch.randn(300, 4, generator=gen), torch.randn(300, 4, generator=gen)
    precision, recall = precision_recall(real, other)
    assert precision > 0.85 and recall > 0.85  # two draws of one distribution
    collapsed = real[:1] + 0.01 * torch.randn(300, 4, generator=gen)  # one mode, many copies
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.05
    precision, recall = precision_recall(real, other + 10)  # diverse, but nowhere near the reals
    assert precision == 0.0 and recall == 0.0


def test_density_and_coverage_are_about_one_for_real_and_not_fooled_by_outliers():
    gen = torch.Generator().manual_seed(0)
    real, other = torch.randn(400, 4, generator=gen), torch.randn(400, 4, generator=gen)
    density, coverage = density_coverage(real, other)
    assert 0.8 < density < 1.2 and coverage > 0.9  # two draws of one distribution (expected density 1)
    collapsed = real[:1] + 0.01 * torch.randn(400, 4, generator=gen)
    density, coverage = density_coverage(real, collapsed)
    assert coverage < 0.05  # one mode covers the few real balls around it
    # Outliers (Naeem et al.'s point): five scattered fakes next to the collapsed ones get huge balls
    # that hold most reals, so recall calls the set diverse; coverage counts the real balls only.
    outliers = torch.cat([collapsed[:395], 8 * torch.randn(5, 4, generator=gen)])
    _, recall = precision_recall(real, outliers)
    density, coverage = density_coverage(real, outliers)
    assert recall > 0.9 and coverage < 0.1, (recall, coverage)
    moved = torch.cat([other[:200], other[200:] + 20])  # half the fakes out of the data: half the density
    density, coverage = density_coverage(real, moved)
    assert 0.4 < density < 0.6 and coverage > 0.8, (density, coverage)


def test_balls_are_counted_with_their_own_radius():
    # Centers 0 and 10 on a line with radii 1 and 5: 0.5 is in one ball, 6 in one, 3 in none.
    centers, radii = np.array([[0.0], [10.0]]), np.array([1.0, 5.0])
    assert _balls_containing(np.array([[0.5], [6.0], [3.0]]), centers, radii).tolist() == [1, 1, 0]
