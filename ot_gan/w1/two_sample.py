"""A two-sample test from a trained critic: a permutation test of its values on the held-out samples.

The critic is fitted on the training split only, so on the held-out samples it is a fixed function,
and under "both sets come from one distribution" the held-out samples of the two sets are
exchangeable: permuting their set labels and recomputing the critic's gap gives a test of exact
level (Lopez-Paz and Oquab, "Revisiting classifier two-sample tests", ICLR 2017, with the
Kantorovich potential in place of the classifier; docs/algorithms.md section 13, which also says
what the stopping rule's probes of the held-out gap do to it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch

from ot_gan.errors import InputError
from ot_gan.w1.checks import Array, check_pair, check_weights
from ot_gan.w1.result import Potential, W1Result

PERMUTED_ENTRIES = 1 << 22  # the most permuted indices held at once (permutations x held-out samples)


@dataclass
class TwoSampleTest:
    """The permutation test of "both sets come from one distribution" on a critic's held-out values.

    ``p_value`` is one-sided (the critic was trained to score the first set higher); ``statistic``
    is the critic's weighted gap on the held-out samples, the held-out W1 estimate; ``n_heldout``
    the held-out samples of each set that carry weight; ``permutations`` the random relabelings."""

    p_value: float
    statistic: float
    n_heldout: tuple[int, int]
    permutations: int


@torch.no_grad()
def critic_values(potential: Potential, data: torch.Tensor, chunk: int = 8192) -> np.ndarray:
    """The potential f on every sample of ``data``, in chunks on the critic's device, as float64."""
    device = next(potential.parameters()).device
    values = [potential(data[i:i + chunk].to(device, torch.float32)).double().cpu().numpy()
              for i in range(0, len(data), chunk)]
    return np.concatenate(values) if values else np.zeros(0)


def heldout_values(result: W1Result, x: Array, y: Array, a: Array | None = None, b: Array | None = None,
                   ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """For each set, (indices, critic values, weights or None) of its held-out samples with positive
    weight, from a critic method's ``result`` fitted on ``x``, ``y`` (and ``a``, ``b``)."""
    if result.potential is None or result.heldout_index is None:
        raise InputError(f"method {result.method!r} has no trained critic to test with; use a critic method "
                         "such as {method}", method="maxal")
    sets = check_pair(x, y)
    if tuple(map(len, sets)) != (result.n_a, result.n_b):
        raise InputError(f"the result was fitted on {result.n_a} and {result.n_b} samples, not these "
                         f"{len(sets[0])} and {len(sets[1])}")
    out = []
    for data, index, w, name in zip(sets, result.heldout_index, (a, b), "ab"):
        w = check_weights(w, len(data), name)
        index = index.numpy()
        if w is not None:
            index = index[w.numpy()[index] > 0]
        out.append((index, critic_values(result.potential, data[index]),
                    None if w is None else w.numpy()[index]))
    return out


def _relative_weights(u: np.ndarray, v: np.ndarray, wu: np.ndarray | None, wv: np.ndarray | None) -> np.ndarray:
    """Each pooled sample's weight relative to its set's mean weight (ones for uniform weights)."""
    return np.concatenate([np.ones(len(s)) if w is None else w * len(w) / w.sum() for s, w in ((u, wu), (v, wv))])


def permutation_p_value(u: np.ndarray, v: np.ndarray, wu: np.ndarray | None = None, wv: np.ndarray | None = None,
                        permutations: int = 1000, seed: int = 0) -> float:
    """One-sided permutation p-value of mean(u) - mean(v) (weighted means with weights ``wu``,
    ``wv``), by SciPy's ``permutation_test`` (exact when there are fewer relabelings than
    ``permutations``; otherwise (1 + count) / (1 + permutations), which keeps the level).

    A weight travels with its value, as its sample's weight relative to its set's mean weight, so
    that uniform weights give the plain test; the level is exact when the (value, weight) pairs of
    the two sets are exchangeable, i.e. both sets were drawn and weighted by one rule."""
    values, weights = np.concatenate([u, v]), _relative_weights(u, v, wu, wv)

    def gap(i: np.ndarray, j: np.ndarray, axis: int = -1) -> np.ndarray:
        """The weighted gap between the values at indices ``i`` and those at ``j``."""
        return ((values[i] * weights[i]).sum(axis) / weights[i].sum(axis)
                - (values[j] * weights[j]).sum(axis) / weights[j].sum(axis))

    test = scipy.stats.permutation_test((np.arange(len(u)), np.arange(len(u), len(values))), gap,
                                        permutation_type="independent", vectorized=True, n_resamples=permutations,
                                        batch=max(1, PERMUTED_ENTRIES // len(values)), alternative="greater",
                                        rng=np.random.default_rng(seed))
    return float(test.pvalue)


def crossfit_p_value(u: np.ndarray, v: np.ndarray, half_u: np.ndarray, half_v: np.ndarray,
                     wu: np.ndarray | None = None, wv: np.ndarray | None = None, permutations: int = 1000,
                     seed: int = 0) -> tuple[float, float]:
    """One-sided permutation p-value and statistic of auto's cross-fitted gap (``best_critic``):
    ``u``, ``v`` hold each candidate's values (samples x candidates) on the held-out samples of
    each set, ``half_u``, ``half_v`` their halves (0 or 1). The statistic reads each half with the
    candidate of larger gap on the other half; each relabeling of the pooled samples into the four
    (set, half) groups makes that choice again, so the test keeps its level although the choice
    looked at the labels (as the choice does, the weights travel with their samples)."""
    values, weights = np.concatenate([u, v]), _relative_weights(u, v, wu, wv)
    offsets = (0, len(u))
    groups = [np.flatnonzero(half == h) + offset for offset, half in zip(offsets, (half_u, half_v)) for h in (0, 1)]

    def sums(i: np.ndarray, pick: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Weighted sums of every candidate's values at indices ``i`` (or of candidate ``pick``),
        and the sums of the weights."""
        vals = values[i] if pick is None else np.take_along_axis(values[i], pick[..., None, None], -1)[..., 0]
        w = weights[i]
        return (vals * (w[..., None] if pick is None else w)).sum(-2 if pick is None else -1), w.sum(-1)

    def means(i: np.ndarray) -> np.ndarray:
        total, weight = sums(i)
        return total / weight[..., None]

    def statistic(ue: np.ndarray, uo: np.ndarray, ve: np.ndarray, vo: np.ndarray, axis: int = -1) -> np.ndarray:
        half_gaps = [means(i) - means(j) for i, j in ((ue, ve), (uo, vo))]
        read_even, read_odd = half_gaps[1].argmax(-1), half_gaps[0].argmax(-1)  # chosen on the other half
        (se, we), (so, wo) = sums(ue, read_even), sums(uo, read_odd)
        (te, ve_w), (to, vo_w) = sums(ve, read_even), sums(vo, read_odd)
        return (se + so) / (we + wo) - (te + to) / (ve_w + vo_w)

    test = scipy.stats.permutation_test(groups, statistic, permutation_type="independent", vectorized=True,
                                        n_resamples=permutations, alternative="greater",
                                        batch=max(1, PERMUTED_ENTRIES // (len(values) * values.shape[1])),
                                        rng=np.random.default_rng(seed))
    return float(test.pvalue), float(test.statistic)


def two_sample_test(result: W1Result, x: Array, y: Array, a: Array | None = None, b: Array | None = None,
                    permutations: int = 1000, seed: int = 0) -> TwoSampleTest:
    """Test "x and y come from one distribution" with the critic of ``result``.

    Parameters
    ----------
    result : W1Result
        A critic method's result (``wasserstein1(x, y, a, b)``), fitted on these very sets.
    x, y : array or tensor, shape (n, ...) and (m, ...)
        The sets the critic was fitted on.
    a, b : array or tensor, optional
        Their sample weights, as given to the fit (samples of weight 0 are left out of the test).
    permutations : int
        Random relabelings of the held-out samples; the smallest p-value is 1 / (permutations + 1).
    seed : int
        The relabelings' seed.

    Returns
    -------
    TwoSampleTest
        The one-sided p-value, the held-out gap it tests, the held-out counts.

    Examples
    --------
    >>> r = wasserstein1(x, y, holdout=0.5)              # doctest: +SKIP
    >>> two_sample_test(r, x, y).p_value                 # doctest: +SKIP

    References
    ----------
    Lopez-Paz and Oquab, "Revisiting classifier two-sample tests", ICLR 2017: a statistic fitted on
    one part of the samples and evaluated on the other is tested by permuting the labels of the other.
    """
    (iu, u, wu), (iv, v, wv) = heldout_values(result, x, y, a, b)
    if min(len(u), len(v)) < 2:
        raise InputError("a test needs at least 2 held-out samples of positive weight a side; use a larger {holdout}",
                         holdout=0.5)
    if result.candidates is None:
        statistic = float(np.average(u, weights=wu) - np.average(v, weights=wv))
        p_value = permutation_p_value(u, v, wu, wv, permutations, seed)
    else:  # auto: every candidate's values, and the half of each sample (its parity in heldout_index)
        sets = check_pair(x, y)
        each = [np.stack([critic_values(p, data[index]) for p in result.candidates.values()], 1)
                for data, index in zip(sets, (iu, iv))]
        halves = []
        for data, full, index in zip(sets, result.heldout_index, (iu, iv)):
            position = np.zeros(len(data), dtype=np.int64)
            position[full.numpy()] = np.arange(len(full))
            halves.append(position[index] % 2)
        p_value, statistic = crossfit_p_value(*each, *halves, wu, wv, permutations, seed)
    return TwoSampleTest(p_value, statistic, (len(u), len(v)), permutations)
