"""W1 of the two empirical measures: POT's solvers (exact, Sinkhorn, sliced) and the c-transform bound."""

from __future__ import annotations

import numpy as np
import ot
import torch
from torch import Tensor

from ot_gan.errors import InputError
from ot_gan.w1.checks import Array, check_pair, check_weights, uniform_or, weighted_mean

EXACT_MAX_ENTRIES = 64_000_000  # a 512 MB float64 cost matrix: about 8k x 8k samples
CTRANSFORM_MAX_ENTRIES = 2_500_000_000  # 50k x 50k distances, streamed: about a minute on one core


def cost_matrix(x: Tensor, y: Tensor, max_entries: int, method: str) -> np.ndarray:
    """The Euclidean cost matrix (float64), refused when it would not fit in memory."""
    if len(x) * len(y) > max_entries:
        gib = len(x) * len(y) * 8 / 2**30
        raise InputError(f"{method} on {len(x)} x {len(y)} samples needs a {gib:.1f} GiB cost matrix; "
                         "use {method} (or a subsample) for sets this large",
                         method="maxal")
    return ot.dist(x.flatten(1).double().numpy(), y.flatten(1).double().numpy(), metric="euclidean")



def exact_w1(x: Array, y: Array, a: Array | None = None, b: Array | None = None,
             max_entries: int = EXACT_MAX_ENTRIES) -> float:
    """The plug-in W1 of the two empirical measures (weights ``a``, ``b``; uniform by default):
    POT's network simplex on the Euclidean cost.

    ``numItermax`` is set high and POT's early-stop warning is treated as an error, since the
    default limit returns a too-large value silently."""
    x, y = check_pair(x, y)
    a, b = check_weights(a, len(x), "a"), check_weights(b, len(y), "b")
    cost = cost_matrix(x, y, max_entries, "exact OT")
    value, log = ot.emd2(uniform_or(a, len(x)), uniform_or(b, len(y)), cost, numItermax=2_000_000_000, log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 did not converge: {log['warning']}")
    return float(value)



def sinkhorn_w1(x: Tensor, y: Tensor, a: Tensor | None, b: Tensor | None, reg: float = 0.01,
              max_entries: int = EXACT_MAX_ENTRIES, stop_threshold: float = 1e-7,
              max_iterations: int = 10_000) -> tuple[float, bool]:
    """<P, C> of the log-domain entropic plan P (``ot.sinkhorn2``; Cuturi, NeurIPS 2013), Euclidean
    cost C, and whether the marginals' error fell below ``stop_threshold`` within ``max_iterations``.

    ``reg`` is relative to the mean cost; the value is above the exact W1 and tends to it as
    reg -> 0."""
    cost = cost_matrix(x, y, max_entries, "sinkhorn")
    value, log = ot.sinkhorn2(uniform_or(a, len(x)), uniform_or(b, len(y)), cost, reg * cost.mean(),
                              method="sinkhorn_log", numItermax=max_iterations, stopThr=stop_threshold,
                              log=True, warn=False)
    return float(value), bool(log["err"]) and log["err"][-1] < stop_threshold



def sliced_wasserstein(x: Array, y: Array, a: Array | None = None, b: Array | None = None,
                       n_projections: int = 500, *, seed: int | None = 0) -> float:
    """The sliced Wasserstein-1 distance: the mean over random directions of the 1-D W1 between
    the projections of the two weighted sample sets (``ot.sliced_wasserstein_distance``, p = 1).

    A different quantity from W1: it is at most W1, smaller by a factor that grows with the
    dimension (for a translation, by sqrt(pi d / 2) in high dimension), so it is kept apart from
    ``wasserstein1``.

    Parameters
    ----------
    x : array or tensor, shape (n, ...)
        Samples of the first set (flattened to vectors).
    y : array or tensor, shape (m, ...)
        Samples of the second set, of the same sample shape.
    a, b : array or tensor, shape (n,) and (m,), optional
        Sample weights (normalized to sum 1); uniform by default.
    n_projections : int
        Random directions.
    seed : int or None
        Seed of the directions (None: fresh ones).

    Returns
    -------
    float
        The sliced W1 of the two weighted sets.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(200, 2))
    >>> round(sliced_wasserstein(x, x + [3.0, 4.0]), 1)  # W1 = 5; a slice sees 5 |cos t|: 10/pi = 3.18
    3.1

    References
    ----------
    Bonneel, Rabin, Peyre, Pfister, "Sliced and Radon Wasserstein barycenters of measures", JMIV 2015.
    """
    x, y = check_pair(x, y)
    a, b = check_weights(a, len(x), "a"), check_weights(b, len(y), "b")
    return float(ot.sliced_wasserstein_distance(x.flatten(1).double().numpy(), y.flatten(1).double().numpy(),
                                                a=None if a is None else a.numpy(), b=None if b is None else b.numpy(),
                                                n_projections=n_projections, p=1, seed=seed))



def check_ctransform_size(n: int, m: int, max_entries: int) -> None:
    if n * m > max_entries:
        raise InputError(f"the c-transform of {n} x {m} samples needs {n * m:.1e} distances (at most "
                         f"{max_entries:.1e}, about a minute); subsample the sets or leave it out")



def ctransform_w1(fx: Array, x: Array, y: Array, max_entries: int = CTRANSFORM_MAX_ENTRIES,
                  device: str | torch.device = "cpu", chunk_entries: int = 2**22, a: Array | None = None,
                  b: Array | None = None) -> float:
    """A certified lower bound of the plug-in W1 (sample weights ``a``, ``b``; uniform by default)
    from a critic's values fx = f(x) on x.

    The double c-transform of the discrete dual (Mallasto, Montufar, Gerolin, "How well do WGANs
    estimate the Wasserstein metric?", arXiv 1910.03875): psi_j = min_i |x_i - y_j| - f(x_i), then
    phi_i = min_j |x_i - y_j| - psi_j. The pair satisfies phi_i + psi_j <= |x_i - y_j| by
    construction, so the (weighted) mean(phi) + mean(psi) <= exact W1 whatever f is; and phi >= f on x, psi >= -f
    on y when f is 1-Lipschitz, so it is at least the critic's own gap. The distances are streamed
    in blocks of ``chunk_entries``, never held as a matrix; n x m above ``max_entries`` is refused.
    Being tied to the plug-in value, it inherits that value's upward bias in high dimension."""
    x, y = check_pair(x, y)
    a, b = check_weights(a, len(x), "a"), check_weights(b, len(y), "b")
    check_ctransform_size(len(x), len(y), max_entries)
    x, y = (t.flatten(1).to(device, torch.float32) for t in (x, y))
    fx = torch.as_tensor(fx).to(device, torch.float32).flatten()

    def transform(a: Tensor, b: Tensor, fb: Tensor) -> Tensor:
        """min_j |a_i - b_j| - fb_j for every i, in blocks of rows of a."""
        rows = max(1, chunk_entries // len(b))
        return torch.cat([(torch.cdist(a[i:i + rows], b) - fb).amin(1) for i in range(0, len(a), rows)])

    psi = transform(y, x, fx)
    phi = transform(x, y, psi)
    return weighted_mean(phi.cpu(), a) + weighted_mean(psi.cpu(), b)

