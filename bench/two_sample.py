"""The critic's two-sample test (``ot_gan.w1.two_sample_test``) beside two classical permutation
tests on the same pairs and sample sizes: the rejection rate at level 0.05 on pairs drawn from one
distribution (the target: within [0.02, 0.08] over 200 seeds), and the power on pairs that differ,
by sample size, with the smallest size at which each test rejects 80% of the time.

    python bench/two_sample.py [--seeds 200] [--n 50] [--power-seeds 20] [--sizes 50,100,200] [--write]

The tests, n samples a side:
- critic: a MaxAL critic trained on half of each set, then a permutation test of its values on the
  other half (Lopez-Paz and Oquab, ICLR 2017; docs/algorithms.md section 13); a short critic for
  the level (its validity does not depend on the critic), a larger one for the power;
- MMD: the biased MMD^2 with a Gaussian kernel at the median pairwise distance of the pooled
  samples (Gretton et al., JMLR 2012), permuted over all 2n samples;
- exact OT: the plug-in W1 of the two sets (POT's ``ot.emd2``, Euclidean cost), permuted over all
  2n samples.
Each p-value is (1 + relabelings at least as extreme) / (1 + relabelings). Finite data sets
(digits, photo crops) are split at random into disjoint halves, one per set. Seconds are CPU
seconds per test on one thread (the critic's include its training).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import ot
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.report, run as a script

from bench.report import add_write_flag
from ot_gan.sources import PALETTE, load_digits, photo_patches, toy_2d
from ot_gan.w1 import two_sample_test, wasserstein1

LEVEL = 0.05
SHORT_CRITIC = {"steps": 100, "min_steps": 50, "check_every": 25, "width": 32, "depth": 2, "batch_size": 64,
                "holdout": 0.5}  # the stopping rule, which probes the held-out gap, may fire: its effect is measured
POWER_CRITIC = {"steps": 200, "min_steps": 100, "check_every": 50, "width": 128, "depth": 3, "batch_size": 64,
                "holdout": 0.5}
MMD_PERMUTATIONS, OT_PERMUTATIONS = 200, 100
Pair = Callable[[int, np.random.Generator], tuple[torch.Tensor, torch.Tensor]]


@functools.cache
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels, _ = load_digits(None)
    return images, labels


@functools.cache
def photos() -> torch.Tensor:
    return photo_patches(None, 8)[0]  # 488 crops of 8 x 8 RGB (192-D)


def halves(data: torch.Tensor, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random subsets of n samples."""
    pick = torch.as_tensor(rng.permutation(len(data))[:2 * n])
    return data[pick[:n]], data[pick[n:]]


def mixtures(n: int, rng: np.random.Generator, drop_mode: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """8 Gaussians on a circle against 8 Gaussians, or with ``drop_mode`` against the 7 left when
    the mode at angle 0 is dropped (a GAN's missed mode: 1/8 of the mass moves to the others)."""
    seed = int(rng.integers(2**31))
    x, y = toy_2d("gaussians", n, seed), toy_2d("gaussians", 2 * n, seed + 1)
    if drop_mode:
        y = y[torch.atan2(y[:, 1], y[:, 0]).abs() > np.pi / 8]
    return x, y[:n]


def gaussians(n: int, rng: np.random.Generator, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """N(0, I) against N(shift e_1, I) in 64 dimensions."""
    x, y = (torch.as_tensor(rng.normal(size=(n, 64)), dtype=torch.float32) for _ in range(2))
    y[:, 0] += shift
    return x, y


def digit_classes(n: int, rng: np.random.Generator, drop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint halves of the digits; with ``drop`` the second set has no digit of that class."""
    images, labels = digits()
    x, y = halves(torch.arange(len(images)), len(images) // 2, rng)
    if drop is not None:
        y = y[labels[y] != drop]
    return images[x[:n]], images[y[:n]]


def photo_crops(n: int, rng: np.random.Generator, fade: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint halves of the photo crops; the second set's contrast cut by ``fade`` (x -> (1 - fade) x)."""
    x, y = halves(photos(), n, rng)
    return x, y * (1 - fade)


def colordigits(n: int, rng: np.random.Generator, green: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint halves of the digits, stroked in the colordigits palette at random; the second set's
    red strokes, (1, 0.1, 0.1), get ``green`` in their green channel (orange at 0.5)."""
    x, y = halves(digits()[0], n, rng)
    palette = torch.tensor(PALETTE)
    picks = [torch.as_tensor(rng.integers(len(palette), size=n)) for _ in range(2)]
    colors = [palette[p] for p in picks]
    colors[1] = torch.where((picks[1] == 0)[:, None], torch.tensor([1.0, green, 0.1]), colors[1])
    return tuple((g + 1) / 2 * c[:, :, None, None] * 2 - 1 for g, c in zip((x, y), colors))


SAME: dict[str, Pair] = {
    "2-D mixtures (8 Gaussians)": mixtures,
    "64-D Gaussians": gaussians,
    "digits, halves": digit_classes,
    "photo crops 8x8, halves": photo_crops,
}
DIFFERENT: dict[str, Pair] = {
    "photo crops vs contrast -15%": functools.partial(photo_crops, fade=0.15),
    "colordigits vs red strokes orange": functools.partial(colordigits, green=0.5),
    "64-D: mean shift 1": functools.partial(gaussians, shift=1.0),
    "2-D: 8 Gaussians vs a mode dropped": functools.partial(mixtures, drop_mode=True),
    "digits vs digits without 0s": functools.partial(digit_classes, drop=0),
}


def critic_test(x: torch.Tensor, y: torch.Tensor, seed: int, critic: dict) -> float:
    return two_sample_test(wasserstein1(x, y, seed=seed, **critic), x, y, seed=seed).p_value


def p_value(observed: float, permuted: np.ndarray) -> float:
    return float((1 + np.sum(permuted >= observed - 1e-12 * abs(observed))) / (1 + len(permuted)))


def relabelings(n: int, m: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random relabelings of n + m pooled samples: rows of pooled indices, the first n
    of each the first set's."""
    return np.argsort(rng.random((count, n + m)), axis=1)


def mmd_test(x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    z = torch.cat([x, y]).flatten(1).double()
    d2 = torch.cdist(z, z).square()
    bandwidth2 = d2[tuple(torch.triu_indices(len(z), len(z), 1))].median()
    kernel = torch.exp(-d2 / (2 * bandwidth2)).numpy()
    n, m = len(x), len(y)
    signs = np.concatenate([np.full(n, 1 / n), np.full(m, -1 / m)])  # MMD^2 = s K s
    s = signs[np.argsort(relabelings(n, m, MMD_PERMUTATIONS, np.random.default_rng(seed)), axis=1)]
    return p_value(signs @ kernel @ signs, np.einsum("rn,nk,rk->r", s, kernel, s))


def ot_test(x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    z = torch.cat([x, y]).flatten(1).double().numpy()
    cost = ot.dist(z, z, metric="euclidean")
    n, m = len(x), len(y)
    a, b = ot.unif(n), ot.unif(m)
    perms = relabelings(n, m, OT_PERMUTATIONS, np.random.default_rng(seed))
    return p_value(ot.emd2(a, b, cost[:n, n:]), np.array([ot.emd2(a, b, cost[p[:n]][:, p[n:]]) for p in perms]))


def rates(pair: Pair, n: int, seeds: range, critic: dict) -> dict[str, tuple[float, float]]:
    """Each test's rejection rate at LEVEL over the seeds' draws of ``pair``, and its CPU seconds per test."""
    tests = {"critic": functools.partial(critic_test, critic=critic), "MMD": mmd_test, "exact OT": ot_test}
    draws = [pair(n, np.random.default_rng(seed)) for seed in seeds]
    out = {}
    for name, test in tests.items():
        start = time.process_time()
        p = np.array([test(x, y, seed) for seed, (x, y) in zip(seeds, draws)])
        out[name] = (float(np.mean(p <= LEVEL)), (time.process_time() - start) / len(seeds))
    return out


TESTS = ("critic", "MMD", "exact OT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="draws of each same-distribution pair")
    parser.add_argument("--n", type=int, default=50, help="samples a side of the same-distribution pairs")
    parser.add_argument("--power-seeds", type=int, default=20, help="draws of each different pair and size")
    parser.add_argument("--sizes", default="50,100,200", help="samples a side of the different pairs")
    parser.add_argument("--pairs", default="", help="comma-separated substrings: only the pairs named by one")
    add_write_flag(parser, "Two-sample test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    chosen = [s for s in args.pairs.split(",") if s]

    def keep(name: str) -> bool:
        return not chosen or any(s in name for s in chosen)

    print(f"Rejection rate at level {LEVEL} on pairs from one distribution ({args.seeds} seeds, {args.n} samples a "
          f"side; target [0.02, 0.08]), and CPU seconds per test. Critic: {SHORT_CRITIC}.\n")
    print("| pair | " + " | ".join(TESTS) + " | " + " | ".join(f"s {t}" for t in TESTS) + " |")
    print("|---" * (1 + 2 * len(TESTS)) + "|")
    for label, pair in SAME.items():
        if keep(label):
            r = rates(pair, args.n, range(args.seeds), SHORT_CRITIC)
            print(f"| {label} | " + " | ".join(f"{r[t][0]:.3f}" for t in TESTS) + " | "
                  + " | ".join(f"{r[t][1]:.2f}" for t in TESTS) + " |", flush=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"\nPower: rejection rate at level {LEVEL} ({args.power_seeds} seeds) by samples a side, CPU seconds per "
          f"test at the largest size, and the smallest of these sizes at which the test reaches 0.8. Critic: "
          f"{POWER_CRITIC}.\n")
    print("| pair | test | " + " | ".join(f"n = {n}" for n in sizes) + " | s | n for 0.8 |")
    print("|---" * (4 + len(sizes)) + "|")
    for label, pair in DIFFERENT.items():
        if not keep(label):
            continue
        by_size = {n: rates(pair, n, range(args.power_seeds), POWER_CRITIC) for n in sizes}
        for t in TESTS:
            power = [by_size[n][t][0] for n in sizes]
            reach = next((str(n) for n, p in zip(sizes, power) if p >= 0.8), f"> {sizes[-1]}")
            print(f"| {label} | {t} | " + " | ".join(f"{p:.2f}" for p in power)
                  + f" | {by_size[sizes[-1]][t][1]:.2f} | {reach} |", flush=True)


if __name__ == "__main__":
    main()
