"""Statistics of a critic's values: intervals of mean differences."""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

NORMAL_INTERVAL_MIN = 2000  # held-out samples a side from which the interval is the normal one


def mean_difference_interval(a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0,
                             wa: np.ndarray | None = None,
                             wb: np.ndarray | None = None) -> tuple[float, tuple[float, float]]:
    """mean(a) - mean(b) and its 95% interval; with weights ``wa``, ``wb`` the weighted means.

    Unweighted, below ``NORMAL_INTERVAL_MIN`` values on a side, SciPy's percentile bootstrap with
    ``resamples`` resamples; from there on the normal approximation +- z sqrt(var_a / n_a +
    var_b / n_b) (central limit theorem), as accurate at that size and one pass over the values,
    where the bootstrap holds ``resamples`` copies of them. Weighted, always the normal interval,
    each side's variance that of a self-normalized weighted mean, sum_i w_i^2 (v_i - mean)^2 with
    the weights summing to 1 (Owen, "Monte Carlo theory, methods and examples", 2013, section 9.2)."""
    if wa is not None or wb is not None:
        wa, wb = (np.full(len(v), 1 / len(v)) if w is None else w / w.sum() for v, w in ((a, wa), (b, wb)))
        means = [float(w @ v) for v, w in ((a, wa), (b, wb))]
        var = sum(float(w**2 @ (v - m) ** 2) for v, w, m in ((a, wa, means[0]), (b, wb, means[1])))
        value, half = means[0] - means[1], float(scipy.stats.norm.ppf(0.975)) * math.sqrt(var)
        return value, (value - half, value + half)
    value = float(a.mean() - b.mean())
    if min(len(a), len(b)) >= NORMAL_INTERVAL_MIN:
        half = float(scipy.stats.norm.ppf(0.975)) * math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        return value, (value - half, value + half)
    ci = scipy.stats.bootstrap((a, b), lambda u, v, axis: u.mean(axis) - v.mean(axis), n_resamples=resamples,
                               confidence_level=0.95, method="percentile", random_state=seed).confidence_interval
    return value, (float(ci.low), float(ci.high))


def held_out_interval(a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0,
                      wa: np.ndarray | None = None,
                      wb: np.ndarray | None = None) -> tuple[float, tuple[float, float]] | None:
    """``mean_difference_interval`` of a critic's held-out values, or None where they cannot give
    one: a side with fewer than 2 values, or weights that sum to 0 there."""
    if min(len(a), len(b)) < 2 or any(w is not None and w.sum() <= 0 for w in (wa, wb)):
        return None
    return mean_difference_interval(a, b, resamples, seed, wa, wb)
