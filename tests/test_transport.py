"""Task costs and discrete OT plans (ot_gan/transport.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ot_gan.errors import InputError
from ot_gan.transport import COSTS, TaskCost, barycentric_targets, transport_plan


def images(n: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_color_cost_is_the_mean_channel_difference() -> None:
    x, y = images(4), images(4, seed=1)
    expected = (x.mean(dim=(2, 3)) - y.mean(dim=(2, 3))).square().sum(1) / 3
    torch.testing.assert_close(TaskCost("color")(x, y), expected)


@pytest.mark.parametrize("name", COSTS)
def test_matrix_matches_paired_costs_and_gray_meets_rgb(name: str) -> None:
    x, y = images(5), images(4, channels=1, seed=1)
    cost = TaskCost(name)
    matrix = cost.matrix(x, y)
    paired = [[cost(x[[i]], y[[j]]).item() for j in range(4)] for i in range(5)]
    np.testing.assert_allclose(matrix, paired, rtol=1e-5)
    assert cost(x, x).abs().max() < 1e-6


def test_plan_between_a_set_and_its_shuffle_recovers_the_permutation() -> None:
    x = images(30)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(2))
    plan = transport_plan(TaskCost("l2").matrix(x, x[perm]))
    assert (plan.argmax(axis=1) == perm.argsort().numpy()).all()
    torch.testing.assert_close(barycentric_targets(plan, x[perm]), x)
    soft = transport_plan(TaskCost("l2").matrix(x, x[perm]), "sinkhorn", reg=0.01)
    assert np.allclose(soft.sum(axis=1), 1 / 30, atol=1e-4) and (soft.argmax(axis=1) == perm.argsort().numpy()).all()


def test_user_cost_and_unknown_names(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mycosts.py").write_text("def brightness(x, y):\n    return (x.mean((1, 2, 3)) - y.mean((1, 2, 3))).abs()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cost = TaskCost("mycosts:brightness")
    x, y = images(3), images(2, seed=1)
    assert cost.matrix(x, y)[2, 1] == pytest.approx(cost(x[[2]], y[[1]]).item(), rel=1e-6)
    for bad in ("sharpness", "mycosts:missing", "nomodule:f"):
        with pytest.raises(InputError):
            TaskCost(bad)
