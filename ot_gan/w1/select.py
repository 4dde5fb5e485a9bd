"""W1 from the better of several critics, chosen by cross-fitting on the held-out samples.

Each candidate critic (MaxAL and the orthonormal one by default) trains as one critic does, on the
same training split. The held-out samples are cut in two halves; each half is read by the
candidate with the larger gap on the other half, and the headline is their mean. A 1-Lipschitz
critic fixed before a half is drawn gives, in expectation, a lower bound of the population W1 on
it (docs/algorithms.md section 1), whichever critic it is: the critic reading a half was chosen
on the training samples and the other half only, so the choice cannot bias the figure. The larger
gap on a half marks the critic nearer the optimal potential, since every candidate's expected gap
is below W1. Cross-fitting keeps the training split and every held-out sample of one critic,
where a separate validation split took 10% of the samples from training (on the faintest 768-D
fade measured auto read 0.566 of the truth that way, and 0.617 cross-fitted).

The candidates share the step cap, so that choosing costs about what one critic costs, not the
sum (on 3,072-D photo crops both run to the cap): halves in low dimension, where MaxAL climbs for
thousands of steps (in 2-D its all-samples figure read 0.949 of exact OT instead of 0.976 on the
whole cap), and from 16 dimensions on a third for MaxAL and two thirds for bjorck, which read
every pair measured there but a 128-D translation, where MaxAL on its third read 0.998 (``cap_shares``;
on that fade 0.638 instead of 0.617 at halves, bjorck alone on the whole cap 0.703).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import Tensor

from ot_gan.errors import InputError
from ot_gan.w1.checks import Array, check_pair, check_weights, weighted_mean
from ot_gan.w1.critic import CriticEstimator
from ot_gan.w1.discrete import CTRANSFORM_MAX_ENTRIES, check_ctransform_size, ctransform_w1
from ot_gan.w1.result import W1Result
from ot_gan.w1.settings import CriticSettings
from ot_gan.w1.stats import held_out_interval

CANDIDATES = ("maxal", "bjorck")


def _part(w: Tensor | None, idx: Tensor) -> Tensor | None:
    return None if w is None else w[idx]


HIGH_DIMENSION = 16  # from here on bjorck gets two thirds of the cap (``cap_shares``)


def cap_shares(candidates: tuple[str, ...], dim: int) -> dict[str, float]:
    """Each candidate's fraction of the step cap for samples of ``dim`` entries: equal shares,
    except that MaxAL and bjorck get a third and two thirds from ``HIGH_DIMENSION`` on, where
    bjorck read the headline on every pair measured and its figure still rose past half the cap
    (on the faintest 768-D fade 0.617 at half, 0.703 at the whole), while MaxAL, which in 2-D
    climbs for thousands of steps, keeps half there."""
    if dim >= HIGH_DIMENSION and sorted(candidates) == ["bjorck", "maxal"]:
        return {"maxal": 1 / 3, "bjorck": 2 / 3}
    return {m: 1 / len(candidates) for m in candidates}


def best_critic(x: Array, y: Array, a: Array | None = None, b: Array | None = None, *,
                candidates: tuple[str, ...] = CANDIDATES, holdout: float = 0.2, seed: int = 0,
                ctransform: bool = False, **options: Any) -> W1Result:
    """W1 read, on each half of the held-out samples, by the candidate critic with the larger gap
    on the other half.

    Every method of ``candidates`` trains a ``CriticEstimator`` on the same training samples (the
    held-out ``holdout`` of each set are the same for all) with its share of the step cap (``steps``
    and ``min_steps`` times ``cap_shares``). The held-out samples at even and at
    odd positions of ``heldout_index`` form the two halves; ``distance`` is the mean, over all
    held-out samples, of the values of the critic that reads each one's half, with its interval.
    The result's ``candidates`` are the critics that did not diverge; ``details`` give each one's
    ``halves`` gaps, which one ``read_by`` each half, and, for comparison only, each one's gap on
    all held-out samples (``test``: reading the larger of those would bias the figure). The kept
    critic (``chosen``: K, ``all_samples``, ``potential``) is the one that reads both halves, or
    the one with the larger held-out gap when they differ. ``options`` are ``CriticEstimator``'s,
    shared by the candidates; ``ctransform`` computes the kept critic's c-transform bound.
    """
    if not candidates:
        raise InputError("{candidates} names no critic method", candidates=candidates)
    start = time.perf_counter()
    x, y = check_pair(x, y)
    a, b = check_weights(a, len(x), "a"), check_weights(b, len(y), "b")
    if ctransform:  # refused before any training
        check_ctransform_size(len(x), len(y), CTRANSFORM_MAX_ENTRIES)
    cap = {name: options.pop(name, getattr(CriticSettings, name)) for name in ("steps", "min_steps")}
    shares = cap_shares(candidates, int(x[0].numel()))
    fits: dict[str, CriticEstimator] = {}
    for method in candidates:
        share = {name: max(1, round(value * shares[method])) for name, value in cap.items()}
        est = CriticEstimator(method, holdout=holdout, seed=seed, **share, **options)
        fits[method] = est.fit(x, y, a, b)
        if est.result_.status == "interrupted":  # asked to stop: the critics trained so far compete
            break
    usable = [m for m, e in fits.items() if e.result_.status != "diverged" and math.isfinite(e.result_.all_samples)]
    usable = usable or list(fits)[:1]
    test_x, test_y = fits[usable[0]].result_.heldout_index  # one seed: the same split for every candidate
    wx, wy = _part(a, test_x), _part(b, test_y)
    values = {m: (fits[m].potential_values(x[test_x]), fits[m].potential_values(y[test_y])) for m in usable}
    halves = [(torch.arange(len(test_x)) % 2 == h, torch.arange(len(test_y)) % 2 == h) for h in (0, 1)]

    def gap(m: str, hx: Tensor, hy: Tensor) -> float:
        return weighted_mean(values[m][0][hx], _part(wx, hx)) - weighted_mean(values[m][1][hy], _part(wy, hy))

    gaps = {m: [gap(m, *half) for half in halves] for m in usable}
    if all(map(math.isfinite, (g for pair in gaps.values() for g in pair))):  # both halves hold weight a side
        read_by = [max(usable, key=lambda m: gaps[m][1 - h]) for h in (0, 1)]
    else:  # too few held-out samples to cut in two: the larger gap on all samples, read on all samples
        read_by = [max(usable, key=lambda m: fits[m].result_.all_samples)] * 2
    gx, gy = torch.empty(len(test_x)), torch.empty(len(test_y))
    for (hx, hy), m in zip(halves, read_by):
        gx[hx], gy[hy] = values[m][0][hx], values[m][1][hy]
    test = {m: fits[m].result_.distance for m in usable} if len(test_x) and len(test_y) else {}
    chosen = read_by[0] if read_by[0] == read_by[1] else max(set(read_by), key=lambda m: test.get(m, -math.inf))
    est, kept = fits[chosen], fits[chosen].result_
    fx, fy = est.potential_values(x), est.potential_values(y)
    all_samples = weighted_mean(fx, a) - weighted_mean(fy, b)
    distance, ci = held_out_interval(
        gx.double().numpy(), gy.double().numpy(), est.settings.bootstrap, seed,
        *(None if w is None else w.numpy() for w in (wx, wy))) or (None, None)
    return W1Result(
        distance=all_samples if distance is None else distance, basis="all samples" if distance is None else "held-out",
        ci95=ci, all_samples=all_samples,
        method="auto", n_a=len(x), n_b=len(y), dim=kept.dim, seconds=time.perf_counter() - start,
        lipschitz=kept.lipschitz, steps=kept.steps, interrupted=kept.interrupted, status=kept.status,
        diverged_at=kept.diverged_at,
        ctransform=ctransform_w1(fx, x, y, device=est.device, a=a, b=b) if ctransform else None,
        details={**kept.details, "chosen": chosen, "read_by": read_by, "halves": gaps, "test": test},
        potential=kept.potential, heldout_index=(test_x, test_y),
        candidates={m: fits[m].result_.potential for m in usable} if distance is not None else None)
