"""GAN objectives by name: the Lipschitz GAN family and two baselines.

Zhou et al., "Lipschitz Generative Adversarial Nets", arXiv 1902.05687 (docs/algorithms.md
section 4). The critic minimizes E phi(f(x_g)) + E varphi(f(x_r)); the generator minimizes
E psi(f(G(z))). With a Lipschitz critic, phi' > 0, varphi' < 0, both convex and
phi'(a) + varphi'(a) = 0 somewhere, the critic's gradient at every fake sample points toward
real ones. ``lsgan``, ``hinge`` and ``nsgan`` (the non-saturating GAN of Goodfellow et al.) are
baselines that are not LGAN objectives. The AM-GAN losses (arXiv 1703.02000, section 9) are at
the end.

One-sided label smoothing (Salimans et al., arXiv 1606.03498, section 3.4) replaces the target 1 of
real samples with ``real_target`` (0.9 in the paper) and leaves the fakes' target 0. It needs an
objective with labels: the sigmoid cross-entropy ones (``log_sigmoid`` and ``nsgan``, whose phi and
varphi are -log(1 - sigmoid) and -log sigmoid) and AM-GAN's softmax cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ot_gan.errors import InputError

Fn = Callable[[Tensor], Tensor]


def _neg(x: Tensor) -> Tensor:
    return -x


@dataclass(frozen=True)
class Objective:
    """phi (on fakes), varphi (on reals) and psi (the generator's) of one GAN objective."""

    name: str
    phi: Fn
    varphi: Fn
    psi: Fn = _neg
    lipschitz_gan: bool = True
    labels: bool = False  # sigmoid cross-entropy: varphi(x) = -log sigmoid(x), phi(x) = -log(1 - sigmoid(x))

    def require_labels(self) -> None:
        """Refuse one-sided label smoothing unless this objective has labels."""
        if not self.labels:
            raise InputError("{label_smoothing} needs an objective with labels (the sigmoid cross-entropy of "
                             "log_sigmoid or nsgan, or AM-GAN's classes), not {objective}",
                             label_smoothing=None, objective=self.name)

    def critic_loss(self, f_real: Tensor, f_fake: Tensor, real_target: float = 1.0) -> Tensor:
        """E varphi(f(x_r)) + E phi(f(x_g)), minimized by the critic. With ``real_target`` t < 1
        (one-sided label smoothing) the reals' term is the cross-entropy with target t,
        E [t varphi(f(x_r)) + (1 - t) phi(f(x_r))]."""
        real = self.varphi(f_real)
        if real_target != 1:
            self.require_labels()
            real = real_target * real + (1 - real_target) * self.phi(f_real)
        return real.mean() + self.phi(f_fake).mean()

    def generator_loss(self, f_fake: Tensor) -> Tensor:
        """E psi(f(G(z))), minimized by the generator."""
        return self.psi(f_fake).mean()


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in [
        Objective("wgan", phi=lambda x: x, varphi=_neg),
        Objective("log_sigmoid", phi=F.softplus, varphi=lambda x: F.softplus(-x), labels=True),
        Objective("sqrt", phi=lambda x: x + torch.sqrt(x * x + 1), varphi=lambda x: -x + torch.sqrt(x * x + 1)),
        Objective("exp", phi=torch.exp, varphi=lambda x: torch.exp(-x)),
        Objective("lsgan", phi=lambda x: (x + 1).square(), varphi=lambda x: (x - 1).square(),
                  psi=lambda x: (x - 1).square(), lipschitz_gan=False),
        Objective("hinge", phi=lambda x: F.relu(1 + x), varphi=lambda x: F.relu(1 - x), lipschitz_gan=False),
        Objective("nsgan", phi=F.softplus, varphi=lambda x: F.softplus(-x), psi=lambda x: F.softplus(-x),
                  lipschitz_gan=False, labels=True),
    ]
}


def get_objective(name: str) -> Objective:
    """The objective called ``name`` (one of ``OBJECTIVES``)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def amgan_discriminator_loss(logits_real: Tensor, labels: Tensor, logits_fake: Tensor,
                             fake_labels: Tensor | None = None, real_target: float = 1.0) -> Tensor:
    """CE(D(x_r), y) + CE(D(G(z)), fake). With K+1 logits per image the last one is "fake"; with
    2K logits (``fake_labels`` given) a fake drawn for class y is "fake y", logit K + y, one fake
    class per real class as in ADC-GAN (Hou et al., arXiv 2107.10060). With ``real_target`` t < 1
    (one-sided label smoothing) a real image's target is t on its class and 1 - t on its fake class."""
    if fake_labels is None:
        fake = torch.full((len(logits_fake),), logits_fake.shape[1] - 1, device=logits_fake.device)
        real_fake = torch.full_like(labels, logits_real.shape[1] - 1)
    else:
        fake = fake_labels + logits_fake.shape[1] // 2
        real_fake = labels + logits_real.shape[1] // 2
    if real_target == 1.0:
        return F.cross_entropy(logits_real, labels) + F.cross_entropy(logits_fake, fake)
    target = F.one_hot(labels, logits_real.shape[1]).to(logits_real.dtype) * real_target
    target[torch.arange(len(labels)), real_fake] += 1 - real_target
    return F.cross_entropy(logits_real, target) + F.cross_entropy(logits_fake, fake)


def amgan_generator_loss(logits_fake: Tensor, target: Tensor | None = None) -> Tensor:
    """CE(D(G(z)), target): the class the sample was drawn for, or without one the dynamic label
    argmax_{k<K} D(G(z))_k, which is not differentiated."""
    if target is None:
        target = logits_fake[:, :-1].detach().argmax(dim=1)
    return F.cross_entropy(logits_fake, target)


def mode_seeking_loss(out: Tensor, z: Tensor, bound: float) -> Tensor:
    """Minus the bounded mode-seeking ratio, for a batch whose rows i and i + ceil(n / 2) were made
    from one condition c_i (``paired``) with different noise: -mean_i min(|G(c_i, z_i) -
    G(c_i, z'_i)|_1 / |z_i - z'_i|_1, bound), each norm a mean over entries. The ratio is Mao et
    al.'s (MSGAN, CVPR 2019, arXiv 1903.05628); the bound per pair is Yang et al.'s (DSGAN, ICLR
    2019, arXiv 1901.09024), so that pairs already as far apart as ``bound`` asks are not pushed
    further."""
    half, first = len(out) // 2, len(out) - len(out) // 2
    ratio = ((out[:half] - out[first:]).abs().flatten(1).mean(1)
             / (z[:half] - z[first:]).abs().flatten(1).mean(1))
    return -ratio.clamp(max=bound).mean()


def paired(conditions: Tensor) -> Tensor:
    """The first ceil(n / 2) rows of ``conditions``, then again its first n // 2 (n rows in all):
    rows i and i + ceil(n / 2) share a condition, as ``mode_seeking_loss`` expects."""
    n = len(conditions)
    return torch.cat([conditions[:n - n // 2], conditions[:n // 2]])
