"""Critics without batch normalization: it couples the samples of a batch, so per-sample gradient
norms, which every Lipschitz regularizer measures, would no longer be per sample. (Minibatch
discrimination, an option of ConvCritic and PairCritic, couples them on purpose; the engine
refuses it with the regularizers that measure those norms.)"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ot_gan.errors import InputError
from ot_gan.models.techniques import MinibatchDiscrimination


class GroupSort(nn.Module):
    """GroupSort (Anil, Lucas, Grosse, "Sorting out Lipschitz function approximation", arXiv
    1811.05381): the features split into ``group`` equal parts, and each tuple of features at one
    position of the parts is sorted in decreasing order. A per-sample permutation, so it keeps the
    gradient norm that ReLU-type activations lose, and a critic with K = 1 can still fit the ridges
    of a Kantorovich potential (on 8 Gaussians vs 3 rings, LeakyReLU critics plateau at 0.86 of the
    exact W1, groups of 2 reach 0.98).

    Groups of 2 (MaxMin) are the default and do best in 2-D. Larger groups fit curved potentials in
    high dimension: on N(0, I) vs N(0, 1.5^2 I) in 64-D (potential ||x||, 4,000 points, 3,000
    steps) groups of 8 read 0.970 of the truth with K = 1.015, pairs 0.923 with K = 1.019."""

    def __init__(self, group: int = 2) -> None:
        super().__init__()
        if group < 2:
            raise ValueError(f"a GroupSort group has at least 2 features, got {group}")
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        if self.group == 2:
            a, b = x.chunk(2, dim=1)
            d = torch.relu(a - b)  # max = b + d, min = a - d: a ReLU's backward is one op, maximum's is six
            return torch.cat([b + d, a - d], dim=1)
        return x.unflatten(1, (self.group, -1)).sort(dim=1, descending=True).values.flatten(1)

    def extra_repr(self) -> str:
        return f"group={self.group}"


class MLPCritic(nn.Module):
    """f: R^d -> R, ``depth`` hidden layers of ``width`` units (a multiple of ``group``) with
    GroupSort activations; inputs are flattened."""

    def __init__(self, in_dim: int, width: int = 128, depth: int = 4, group: int = 2) -> None:
        super().__init__()
        if width % group:  # an InputError: the user chooses both
            raise InputError(f"the MLP critic's width {width} is not a multiple of its GroupSort group {group}")
        layers: list[nn.Module] = [nn.Flatten()]
        for i in range(depth):
            layers += [nn.Linear(in_dim if i == 0 else width, width), GroupSort(group)]
        layers.append(nn.Linear(width if depth else in_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


class ConvCritic(nn.Module):
    """f: images (C, H, W) -> R: 4x4 stride-2 convolutions doubling the width down to about 4x4,
    LeakyReLU, then a linear layer (a DCGAN discriminator without batch norm). With
    ``outputs`` > 1 it returns that many logits per image (AM-GAN's K+1 classes).

    ``features`` is the flattened output of the convolutions (what feature matching matches);
    ``minibatch`` = (B, C) puts a ``MinibatchDiscrimination`` layer of B kernels of C entries
    between it and the linear layer.

    With ``group_std`` the linear layer also sees, as one more 4x4 channel, the minibatch standard
    deviation of Karras et al. (ICLR 2018, arXiv 1710.10196): the standard deviation of the last
    feature maps over the images of a group, averaged over features and positions. ``forward``
    then takes each image's group (its class, so that a class drawn as copies of one image shows)."""

    def __init__(self, channels: int, size: int, width: int = 64, max_width: int = 512, outputs: int = 1,
                 minibatch: tuple[int, int] | None = None, group_std: bool = False) -> None:
        super().__init__()
        self.outputs, self.group_std = outputs, group_std
        layers: list[nn.Module] = []
        c_in, c_out = channels, width
        while size > 4:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in, c_out, size = c_out, min(2 * c_out, max_width), size // 2
        self.convolutions = len(layers)
        layers.append(nn.Flatten())
        features = (c_in + group_std) * size * size
        if minibatch:
            layers.append(MinibatchDiscrimination(features, *minibatch))
            features += minibatch[0]
        layers.append(nn.Linear(features, outputs))
        self.net = nn.Sequential(*layers)

    def features(self, x: Tensor) -> Tensor:
        """The flattened output of the convolutions, one row per image."""
        return self.net[:self.convolutions](x).flatten(1)

    def forward(self, x: Tensor, groups: Tensor | None = None) -> Tensor:
        h = self.net[:self.convolutions](x)
        if self.group_std:
            if groups is None:
                raise ValueError("this critic compares the images of a group: pass the groups")
            h = torch.cat([h, group_std(h, groups)], dim=1)
        out = self.net[self.convolutions:](h)
        return out.squeeze(1) if self.outputs == 1 else out


def group_std(h: Tensor, groups: Tensor) -> Tensor:
    """(n, 1, H, W): for each row, the standard deviation over the rows of its group of ``h``
    (n, C, H, W), averaged over channels and positions (0 for a group of one)."""
    out = h.new_zeros(len(h))
    for g in groups.unique():
        members = groups == g
        out[members] = (h[members].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    return out[:, None, None, None].expand(-1, 1, *h.shape[2:])


class PairCritic(nn.Module):
    """f: (x, z) -> R, the BiGAN discriminator (Donahue et al., arXiv 1605.09782), on x and z
    packed into one vector [x flattened, z] so that the Lipschitz regularizers measure the gradient
    over both: h = LeakyReLU(A conv(x) + B z) with ``hidden`` units (the ``ConvCritic`` with
    ``hidden`` outputs on x), then a linear layer; ``features`` is h, ``minibatch`` as in
    ``ConvCritic``."""

    def __init__(self, channels: int, size: int, noise_dim: int, width: int = 64, hidden: int = 256,
                 minibatch: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.image_shape = (channels, size, size)
        self.image = ConvCritic(channels, size, width, outputs=hidden)
        self.latent = nn.Linear(noise_dim, hidden, bias=False)
        self.head = nn.Sequential(*([MinibatchDiscrimination(hidden, *minibatch)] if minibatch else []),
                                  nn.Linear(hidden + (minibatch[0] if minibatch else 0), 1))

    def pack(self, x: Tensor, z: Tensor) -> Tensor:
        """The critic's input for images ``x`` and codes ``z``."""
        return torch.cat([x.flatten(1), z], dim=1)

    def features(self, xz: Tensor) -> Tensor:
        """The hidden layer h of packed pairs."""
        d = math.prod(self.image_shape)
        x = xz[:, :d].view(-1, *self.image_shape)
        return nn.functional.leaky_relu(self.image(x) + self.latent(xz[:, d:]), 0.2)

    def forward(self, xz: Tensor) -> Tensor:
        return self.head(self.features(xz)).squeeze(1)


def default_group(dim: int, width: int) -> int:
    """The GroupSort group size ``critic_for`` picks for inputs of ``dim`` entries: pairs (MaxMin)
    in low dimension, where they fit the kinks of 2-D potentials best, groups of 8 from 16
    entries on, where the potentials are curved (docs/algorithms.md section 3); pairs again when
    ``width`` is not a multiple of 8."""
    return 8 if dim >= 16 and width % 8 == 0 else 2


def critic_for(shape: tuple[int, ...], width: int = 128, depth: int = 4, group: int | None = None) -> nn.Module:
    """The W1 estimator's critic for samples of ``shape``: a GroupSort MLP on the flattened sample,
    images included, with ``default_group`` when ``group`` is None.

    Images get the MLP too: on 32 x 32 photo crops moved along a known potential (3,072-D) the
    LeakyReLU conv critic read 0.49 of the true W1 at 332 ms a step (one CPU thread), the MLP with
    groups of 8 0.77-0.87 (16 or 4 funnels) at 28 ms; a GroupSort conv critic was slower still on a
    CPU and no better in its first steps."""
    dim = math.prod(shape)
    return MLPCritic(dim, width=width, depth=depth, group=default_group(dim, width) if group is None else group)
