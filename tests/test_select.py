"""best_critic: the candidate with the larger validation gap is kept, and the headline is its gap
on test samples that neither training nor the choice saw."""

from __future__ import annotations

import pytest
import torch

from ot_gan.errors import InputError
from ot_gan.w1 import wasserstein1


def test_auto_keeps_the_better_validation_gap_and_reads_the_test_split():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 2, generator=g)
    y = torch.randn(1000, 2, generator=g) + torch.tensor([2.0, 0.0])  # W1 = 2
    r = wasserstein1(x, y, method="auto", steps=300, min_steps=300, seed=0)
    validation = r.details["validation"]
    assert set(validation) == {"maxal", "bjorck"} and r.details["chosen"] == max(validation, key=validation.get)
    assert r.distance == pytest.approx(2.0, rel=0.1) and r.ci95[0] < r.distance < r.ci95[1]
    assert r.steps == 150 + 150 // 4  # half the cap each, then the annealing
    test_x, test_y = r.heldout_index
    assert len(test_x) == len(test_y) == 200  # the default holdout, 20%
    with torch.no_grad():
        assert (r.potential(x[test_x]).mean() - r.potential(y[test_y]).mean()).item() == pytest.approx(r.distance, rel=1e-5)
    assert r.details["test"][r.details["chosen"]] == pytest.approx(r.distance, rel=1e-5)


def test_auto_refuses_a_validation_split_that_leaves_nothing_to_train_on():
    x = torch.randn(50, 2)
    with pytest.raises(InputError, match="validation"):
        wasserstein1(x, x + 1, method="auto", validation=0.8)


def test_auto_on_sets_too_small_to_hold_out_reads_all_samples():
    """Nothing held out (holdout 0) or one sample a side held out: no held-out figure and no
    interval, the kept critic on all samples instead, as a single critic reports it."""
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    for n, holdout in ((40, 0.0), (5, 0.2)):
        r = wasserstein1(x[:n], x[:n] + 1, method="auto", steps=10, holdout=holdout)
        assert r.basis == "all samples" and r.ci95 is None and r.distance == r.all_samples
