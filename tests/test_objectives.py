import pytest
import torch
import torch.nn.functional as F

from ot_gan.objectives import (
    OBJECTIVES,
    amgan_discriminator_loss,
    amgan_generator_loss,
    get_objective,
    mode_seeking_loss,
    paired,
)


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
    nsgan = get_objective("nsgan")  # the generator maximizes log D(G(z)): softplus(-f)
    assert nsgan.generator_loss(f_fake).item() == pytest.approx(F.softplus(torch.tensor(2.0)).item())
    assert not nsgan.lipschitz_gan


def test_amgan_losses():
    """K = 2 classes plus "fake": reals are scored against their class, fakes against "fake"."""
    real = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    fake = torch.tensor([[0.0, 3.0, 1.0]])
    expected = (F.cross_entropy(real, torch.tensor([0, 1])) + F.cross_entropy(fake, torch.tensor([2]))).item()
    assert amgan_discriminator_loss(real, torch.tensor([0, 1]), fake).item() == pytest.approx(expected)
    # dynamic labeling picks class 1, the most likely non-fake class, and is not differentiated
    logits = fake.clone().requires_grad_(True)
    amgan_generator_loss(logits).backward()
    assert logits.grad[0].argmin().item() == 1
    assert amgan_generator_loss(fake).item() == pytest.approx(F.cross_entropy(fake, torch.tensor([1])).item())
    assert amgan_generator_loss(fake, torch.tensor([0])).item() == pytest.approx(
        F.cross_entropy(fake, torch.tensor([0])).item())


def test_unknown_objective():
    with pytest.raises(ValueError, match="choose one of"):
        get_objective("minimax")


def test_mode_seeking_loss_pairs_rows_and_stops_at_its_bound():
    """Rows i and i + ceil(n / 2) are the pairs; each ratio |dG| / |dz| is capped at the bound."""
    out = torch.tensor([[0.0, 0.0], [0.0, 0.0], [9.0, 9.0], [1.0, 3.0], [0.5, 0.5]])  # rows 0-3, 1-4 pair up
    z = torch.tensor([[0.0], [0.0], [5.0], [1.0], [2.0]])
    assert mode_seeking_loss(out, z, bound=10.0).item() == pytest.approx(-(2.0 / 1 + 0.5 / 2) / 2)
    assert mode_seeking_loss(out, z, bound=1.0).item() == pytest.approx(-(1.0 + 0.25) / 2)
    # minimizing it pushes an uncapped pair apart and leaves a capped one alone
    moved = out.clone().requires_grad_(True)
    mode_seeking_loss(moved, z, bound=1.0).backward()
    assert moved.grad[0].abs().sum() == 0 and moved.grad[4].abs().sum() > 0
    assert torch.equal(paired(torch.arange(5)), torch.tensor([0, 1, 2, 0, 1]))


def test_amgan_per_class_fake_logits():
    """ADC-GAN's 2K logits: a fake drawn for class y is scored against "fake y", logit K + y."""
    fake = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    real = torch.tensor([[5.0, 0.0, 0.0, 0.0]])
    expected = (F.cross_entropy(real, torch.tensor([0])) + F.cross_entropy(fake, torch.tensor([3]))).item()
    assert amgan_discriminator_loss(real, torch.tensor([0]), fake, torch.tensor([1])).item() == pytest.approx(expected)
