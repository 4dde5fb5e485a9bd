"""Realism of generated images: are the outputs as close to real images as other real images are?

Per group (a class, a translation direction) the real images are split in two halves A and B. The
outputs are measured against A by the held-out W1 of ``ot_gan.w1`` (a critic's gap on samples it
never trained on), beside the same figure for B against A at the same sample size: the floor that
a perfect generator would reach. Their difference over the real images' mean distance to their
mean (the W1 of a generator that always draws that mean) is the gap: about 0 for real images,
about 1 for one image repeated. Each figure is taken in several spaces: pixels (or the features of
a network the user gives), where noise and repeated images stand out, and texture, the contrast of
each band of a Laplacian pyramid (Burt and Adelson 1983), where blur and checkerboards do. Density
and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative Models", ICML
2020, arXiv 2002.09797) on the k-NN balls of A stand beside them, with B's as the reference.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2.functional import gaussian_blur

from ot_gan.diversity import density_coverage, mean_pairwise_distance
from ot_gan.features import embed, load_feature_network
from ot_gan.w1 import wasserstein1

log = logging.getLogger(__name__)

FAR = 0.5  # a gap above this (with W1's interval above the floor's) is far: half-way to one repeated image
COLLAPSED = 0.25  # outputs that differ among themselves less than this fraction of what real images do
K = 5  # the k of density and coverage (Naeem et al.'s choice)
# The least spread a gap is divided by, per space: in texture a band's log contrast; the images of one
# class can differ by less than a perceptible 0.25 (28%), and the critic's noise would then read as a gap.
LEAST_SPREAD = {"texture": 0.25}
MIN_IMAGES = 4 * (K + 1)  # the real images a group needs: two halves with k-NN balls and held-out parts
# A small critic (many groups, seconds each) of GroupSort pairs (on a shift of 0.3 per entry in 64-D
# they read 1.51 of the true 2.4 in 300 steps, groups of 8 0.52), evaluated on half of each set:
# classes of a few hundred images leave 20% too few samples for an interval that tells a gap from noise.
W1_SETTINGS = {"method": "maxal", "width": 64, "group": 2, "batch_size": 64, "holdout": 0.5}

Features = Callable[[Tensor], Tensor]
FEATURES_HELP = ("Measure realism on the features of this network instead of pixels: a TorchScript module "
                 "(torch.jit.save) that receives images as (n, C, H, W) in [-1, 1], or ARCH:WEIGHTS, a torchvision "
                 "architecture with a local state dict (nothing is downloaded).")


@dataclass
class Realism:
    """One group's realism in one space (see the module docstring): ``w1`` and ``floor`` are held-out
    W1 estimates (``W1Result.distance``) with their 95% intervals, ``n`` outputs and real images a side."""

    n: int
    w1: float
    w1_ci95: tuple[float, float] | None
    floor: float
    floor_ci95: tuple[float, float] | None
    scale: float  # the real images' mean distance to their mean (at least the space's LEAST_SPREAD)
    density: float
    coverage: float
    density_real: float
    coverage_real: float
    gap: float = dataclasses.field(init=False)
    far: bool = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.gap = (self.w1 - self.floor) / max(self.scale, 1e-12)
        apart = self.w1_ci95 is None or self.floor_ci95 is None or self.w1_ci95[0] > self.floor_ci95[1]
        self.far = self.gap > FAR and apart


def texture_statistics(images: Tensor, smallest: int = 4) -> Tensor:
    """Per image (n, C, H, W): the log standard deviation of each channel of each band of a
    Laplacian pyramid (Burt and Adelson 1983), the image minus its blurred, halved and re-enlarged
    self, down to bands of ``smallest`` pixels: how much detail the image has at each scale."""
    bands = []
    x = images.float()
    while min(x.shape[-2:]) >= smallest:
        low = F.avg_pool2d(gaussian_blur(x, [3, 3], [1.0, 1.0]), 2)
        band = x - F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(band.flatten(2).std(2).clamp_min(1e-3).log())
        x = low
    return torch.cat(bands, dim=1)


def feature_map(spec: str | None, device: torch.device = torch.device("cpu")) -> Features | None:
    """The features of the network file ``spec`` (see ``ot_gan.features.load_feature_network``;
    a TorchScript module receives images in [-1, 1]), or None for pixels."""
    if spec is None:
        return None
    net = load_feature_network(spec)
    return lambda x: embed(net, x, device=device)


def spaces(features: Features | None = None) -> dict[str, Features | None]:
    """The spaces every eval measures realism in: pixels (or ``features``) and texture."""
    return {"features" if features else "pixels": features, "texture": texture_statistics}


def realism(outputs: Tensor, real: Tensor, features: Features | None = None, steps: int = 300, seed: int = 0,
            device: torch.device = torch.device("cpu"), least_spread: float = 0.0) -> Realism:
    """The realism of ``outputs`` (n, ...) against the real images ``real`` (at least
    ``MIN_IMAGES``), in pixels or ``features``: held-out W1 to a random half A of the real images
    beside its floor (the other half B, with as many outputs as B has images), and density and
    coverage against A; ``steps`` per W1 critic; the gap divided by at least ``least_spread``."""
    if len(real) < MIN_IMAGES or len(outputs) <= K:
        raise ValueError(f"realism needs {MIN_IMAGES} real images and {K + 1} outputs, got {len(real)} and "
                         f"{len(outputs)}")
    gen = torch.Generator().manual_seed(seed)
    real = real[torch.randperm(len(real), generator=gen)]
    a, b = real[:len(real) // 2], real[len(real) // 2:]
    n = min(len(outputs), len(b))
    sets = [a, b[:n], outputs[torch.randperm(len(outputs), generator=gen)[:n]]]
    a, b, fakes = ((features(x) if features else x).flatten(1).float() for x in sets)
    settings = {**W1_SETTINGS, "steps": steps, "min_steps": min(steps, 1000), "seed": seed, "device": device,
                "check_every": max(1, min(500, steps // 4))}
    w1, floor = wasserstein1(fakes, a, **settings), wasserstein1(b, a, **settings)
    fit, reference = density_coverage(a, fakes, K), density_coverage(a, b, K)
    spread = max(float((a - a.mean(0)).norm(dim=1).mean()), least_spread)
    return Realism(n, w1.distance, w1.ci95, floor.distance, floor.ci95, spread, *fit, *reference)


def realism_report(groups: dict[str, tuple[Tensor, Tensor]], measured: dict[str, Features | None] | None = None,
                   steps: int = 300, seed: int = 0, device: torch.device = torch.device("cpu")
                   ) -> dict[str, dict[str, Any]]:
    """The realism of each group's (outputs, real images) in each space of ``measured`` (by
    default ``spaces()``), as JSON-ready dicts, with ``far`` when any space is far. A group with
    too few real images is left out (with a note); one with too few outputs counts as far (an
    unconditional generator that draws no image of a class)."""
    measured = spaces() if measured is None else measured
    report: dict[str, dict[str, Any]] = {}
    for name, (outputs, real) in groups.items():
        if len(real) < MIN_IMAGES:
            log.info(f"realism of {name} left out: {len(real)} real images, it needs {MIN_IMAGES}")
            continue
        row: dict[str, Any] = {"outputs": len(outputs), "far": len(outputs) <= K}
        if not row["far"]:
            for space, features in measured.items():
                figures = realism(outputs, real, features, steps, seed, device, LEAST_SPREAD.get(space, 0.0))
                row[space] = dataclasses.asdict(figures)
            row["far"] = any(row[space]["far"] for space in measured)
        report[name] = row
    return report


def _measured(report: dict[str, dict[str, Any]]) -> list[str]:
    """The spaces of ``realism_report``'s result (none when no group had enough outputs)."""
    rows = [row for row in report.values() if len(row) > 2]
    return [key for key in rows[0] if key not in ("outputs", "far")] if rows else []


def realism_lines(report: dict[str, dict[str, Any]], group: str) -> list[str]:
    """``realism_report``'s result as a table under a header, and a caution line naming the
    groups far from their floor; ``group`` names a row (class, direction)."""
    if not report:
        return [f"realism: no {group} has the {MIN_IMAGES} real images it needs"]
    measured = _measured(report)
    first = measured[0] if measured else "pixels"
    lines = [f"realism per {group}: held-out W1 from outputs to real images, its floor (real vs real at the same size) "
             "in brackets, and gap = (W1 - floor) / the real images' mean distance to their mean: 0 like real images, "
             f"about 1 one image repeated, far above {FAR}; in {', '.join(measured)} (texture: the contrast of each "
             f"Laplacian-pyramid band); density and coverage (Naeem et al. 2020, k = {K}) in {first}, real vs real "
             "in brackets",
             f"{group:>10} {'n':>5}" + "".join(f" {'W1 ' + s:>22}  {'gap':>5}" for s in measured)
             + "  density      coverage"]
    for name, row in report.items():
        if first not in row:
            lines.append(f"{name:>10} {row['outputs']:>5}  too few outputs of this {group}")
            continue
        cells = "".join(f" {row[s]['w1']:>10.3f} ({row[s]['floor']:>8.3f})  {row[s]['gap']:>5.2f}" for s in measured)
        r = row[first]
        lines.append(f"{name:>10} {r['n']:>5}{cells}  {r['density']:.2f} ({r['density_real']:.2f})  "
                     f"{r['coverage']:.2f} ({r['coverage_real']:.2f})")
    far = [name for name, row in report.items() if row["far"]]
    if far:
        lines.append(f"caution: the outputs of {group} {', '.join(far)} are far from real images (gap above {FAR}); "
                     "the other figures cannot call this run good")
    return lines


def spread_ratio(outputs: Tensor, reference: Tensor, most: int = 500) -> float:
    """How much (at most ``most`` of) the ``outputs`` differ among themselves over how much the
    ``reference`` images do (mean pairwise distances): about 1 for outputs as varied as real images,
    near 0 for near-identical ones."""
    return mean_pairwise_distance(outputs[:most]) / max(mean_pairwise_distance(reference[:most]), 1e-12)


def output_problems(groups: dict[str, tuple[Tensor, Tensor]], group: str, pooled: bool = False, steps: int = 100,
                    seed: int = 0, device: torch.device = torch.device("cpu")) -> list[str]:
    """What is wrong with a run's outputs, one phrase each (none: nothing seen): the groups (name ->
    outputs, real images) whose outputs are near-identical (``spread_ratio`` under ``COLLAPSED``),
    and the ones far from real images (``realism`` in each of ``spaces()``), or all groups together
    when ``pooled`` (groups of one domain, such as classes: fewer and larger sets, so faster)."""
    problems = []
    ratios = {name: spread_ratio(out, real) for name, (out, real) in groups.items() if min(len(out), len(real)) > 1}
    collapsed = [name for name, ratio in ratios.items() if ratio < COLLAPSED]
    if collapsed:
        worst = min(ratios[name] for name in collapsed)
        problems.append(f"near-identical outputs for {group} {', '.join(collapsed)} (they differ {worst:.2f}x as much "
                        "as real images do)")
    if pooled:
        groups = {"": tuple(torch.cat([pair[i] for pair in groups.values()]) for i in (0, 1))}
    for name, (outputs, real) in groups.items():
        if len(real) < MIN_IMAGES or len(outputs) <= K:
            continue
        gaps = {space: realism(outputs, real, features, steps, seed, device, LEAST_SPREAD.get(space, 0.0))
                for space, features in spaces().items()}
        far = [f"{space} gap {r.gap:.2f}" for space, r in gaps.items() if r.far]
        if far:
            whose = f" of {group} {name}" if name else ""
            problems.append(f"outputs{whose} far from the real images ({', '.join(far)}; above {FAR} is far)")
    return problems


def realism_summary(report: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``realism_report``'s groups in one row: the mean gap of each space over the groups measured,
    and the names of the groups far from their floor."""
    rows = [row for row in report.values() if len(row) > 2]
    return {**{space: sum(row[space]["gap"] for row in rows) / len(rows) for space in _measured(report)},
            "far": [name for name, row in report.items() if row["far"]]}
