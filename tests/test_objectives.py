import pytest
import torch

from ot_gan.objectives import OBJECTIVES, get_objective


@pytest.mark.parametrize("name", ["wgan", "log_sigmoid", "sqrt", "exp"])
def test_lgan_conditions(name):
    """phi' > 0, varphi' < 0, both convex, and phi'(a) + varphi'(a) = 0 at some a."""
    o = get_objective(name)
    assert o.lipschitz_gan
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    phi, varphi = o.phi(x), o.varphi(x)
    d_phi, d_varphi = phi.diff(), varphi.diff()  # finite differences
    assert (d_phi > 0).all() and (d_varphi < 0).all()
    assert (d_phi.diff() >= -1e-12).all() and (d_varphi.diff() >= -1e-12).all()
    total = d_phi + d_varphi  # zero, or changing sign, somewhere
    assert (total.abs() < 1e-12).any() or total.min() < 0 < total.max()


def test_values_and_losses():
    o = get_objective("log_sigmoid")
    f_real, f_fake = torch.tensor([2.0]), torch.tensor([-2.0])
    assert o.critic_loss(f_real, f_fake).item() == pytest.approx(2 * torch.nn.functional.softplus(torch.tensor(-2.0)).item())
    assert o.generator_loss(f_fake).item() == pytest.approx(2.0)
    assert get_objective("wgan").critic_loss(f_real, f_fake).item() == pytest.approx(-4.0)
    assert get_objective("lsgan").critic_loss(torch.tensor([1.0]), torch.tensor([-1.0])).item() == 0.0
    assert get_objective("hinge").critic_loss(torch.tensor([1.0]), torch.tensor([-1.0])).item() == 0.0
    assert not OBJECTIVES["lsgan"].lipschitz_gan and not OBJECTIVES["hinge"].lipschitz_gan


def test_unknown_objective():
    with pytest.raises(ValueError, match="choose one of"):
        get_objective("nsgan")
