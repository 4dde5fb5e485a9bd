import pytest
import torch

from ot_gan.diversity import mean_pairwise_distance, precision_recall


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
