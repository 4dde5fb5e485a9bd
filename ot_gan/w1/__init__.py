"""Wasserstein-1 distance between two sample sets.

The critic methods train a Lipschitz-regularized network f on the Kantorovich-Rubinstein dual,
W1(P, Q) = sup_{f 1-Lipschitz} E_P f - E_Q f (docs/algorithms.md section 1), streaming minibatches so
that memory does not grow with the number of samples. MaxAL (arXiv 1904.01184) drives the
critic's Lipschitz constant K to exactly 1 and reads W1 off directly; every other regularizer's
gap is divided by the K measured on many fresh interpolates. The baselines come from POT:
``exact`` (network simplex, the plug-in W1 of the two sets) and ``sinkhorn`` (entropic, log
domain); ``sliced_wasserstein`` is apart, since the sliced distance is a different and smaller
quantity than W1. Every method takes sample weights, as POT does. ``ctransform_w1`` turns a
trained critic into a certified lower bound of the plug-in W1, without a cost matrix in memory."""

from __future__ import annotations

import inspect
from dataclasses import fields
import time
from typing import Any

from ot_gan.errors import InputError
from ot_gan.lipschitz import METHODS as CRITIC_METHODS
from ot_gan.lipschitz import regularizer_options
from ot_gan.w1.checks import Array, check_pair, check_weights
from ot_gan.w1.critic import CriticEstimator
from ot_gan.w1.discrete import EXACT_MAX_ENTRIES, ctransform_w1, exact_w1, sinkhorn_w1, sliced_wasserstein
from ot_gan.w1.result import Potential, W1Result
from ot_gan.w1.select import best_critic
from ot_gan.w1.settings import CriticSettings
from ot_gan.w1.stats import mean_difference_interval
from ot_gan.w1.two_sample import TwoSampleTest, two_sample_test
from ot_gan.w1.witness import Witness, witness_samples

__all__ = ["CRITIC_METHODS", "EXACT_MAX_ENTRIES", "METHODS", "CriticEstimator", "CriticSettings", "Potential", "W1Result", "best_critic", "ctransform_w1",
           "exact_w1", "mean_difference_interval", "method_options", "sliced_wasserstein", "wasserstein1"]
__all__ += ["POT_METHODS", "TwoSampleTest", "Witness", "two_sample_test", "witness_samples"]
POT_METHODS = ("exact", "sinkhorn")
METHODS = ("auto", *CRITIC_METHODS, *POT_METHODS)


def method_options(method: str) -> list[str]:
    """The keyword options ``wasserstein1`` takes for ``method``: ``CriticEstimator``'s and the
    regularizer's hyperparameters for a critic method, the solver's settings for POT's."""
    if method == "exact":
        return ["max_entries"]
    if method == "sinkhorn":
        return [p for p in inspect.signature(sinkhorn_w1).parameters if p not in ("x", "y", "a", "b")]
    runtime = [p.name for p in inspect.signature(CriticEstimator).parameters.values()
               if p.kind == p.KEYWORD_ONLY or p.name == "critic"]
    shared = [*runtime, *(f.name for f in fields(CriticSettings))]
    if method == "auto":  # the candidates share the estimator's settings, not a regularizer's
        return [p for p in shared if p != "seed"] + ["candidates"]
    return [p for p in shared if p != "seed"] + regularizer_options(method)



def wasserstein1(x: Array, y: Array, a: Array | None = None, b: Array | None = None, method: str = "maxal", *,
                 seed: int | None = None, **options: Any) -> W1Result:
    r"""The Wasserstein-1 distance between two weighted sample sets, with the Euclidean cost.

    W1(P, Q) = min over couplings pi of P and Q of E_pi ||x - y||
    = sup over 1-Lipschitz f of E_P f - E_Q f (Kantorovich-Rubinstein duality).

    The critic methods (maxal, bjorck, auto, maxgp, gp, lp, sn, clip) train a Lipschitz-regularized
    network f on the dual, streaming minibatches (memory does not grow with the sets); ``exact`` and
    ``sinkhorn`` solve the primal with POT on the full cost matrix (up to about 8k x 8k samples).

    Parameters
    ----------
    x : array or tensor, shape (n, ...)
        Samples of P (images and other arrays are flattened to vectors).
    y : array or tensor, shape (m, ...)
        Samples of Q, of the same sample shape.
    a, b : array or tensor, shape (n,) and (m,), optional
        Sample weights, as POT's ``a`` and ``b`` (normalized to sum 1); uniform by default. The
        critic methods draw their minibatches with these probabilities and weight every mean.
    method : str
        ``maxal`` (the default here, one critic and the faster: MaxAL drives the critic's Lipschitz
        constant to 1 and W1 is read off), ``bjorck`` (orthonormal weights: K at most 1 by
        construction), ``auto`` (the CLI's default: both trained on shares of the step cap, each
        half of the held-out samples read by the one with the larger gap on the other half:
        ``best_critic``),
        ``maxgp``, ``gp``, ``lp``, ``sn``, ``clip`` (the gap is divided by the measured K),
        ``exact`` (``ot.emd2``, network simplex) or ``sinkhorn`` (``ot.sinkhorn2``, log domain,
        entropic: above the exact value).
    seed : int, optional
        The critic methods' seed (initial weights, held-out split, minibatches); None means 0, so
        that two calls agree. POT's solvers are deterministic and take none.
    **options
        Per method (``method_options(method)`` lists them; any other is an ``InputError``).
        Critic methods: ``CriticEstimator``'s keyword arguments (``steps``, ``batch_size``,
        ``holdout``, ``width``, ``depth``, ``device``, ``ctransform``, ...) and the regularizer's
        hyperparameters (``rho``, ``k``, MaxAL's ``eta``...). ``exact``: ``max_entries``.
        ``sinkhorn``: ``reg`` (relative to the mean cost, 0.01), ``max_entries``,
        ``stop_threshold``, ``max_iterations``.

    Returns
    -------
    W1Result
        ``distance``, the figure to read, and ``basis``, what it is: for a critic the held-out
        estimate (the critic on samples it never trained on: a lower bound of the population W1
        in expectation) with its 95% interval ``ci95``; for POT's solvers the plug-in W1 of the
        two sets. ``status`` and ``converged`` (POT solved it, or the critic's training settled
        before its step cap). Critic methods also give ``all_samples`` (the gap on every sample,
        training ones included), ``lipschitz`` (K), ``steps`` and ``potential``, the trained
        critic as a 1-Lipschitz Kantorovich potential f with all_samples = E_a f(x) - E_b f(y).

    Raises
    ------
    InputError
        Arrays of different sample shapes, NaN, bad weights, an unknown method or option, or a
        cost matrix too large for ``exact``/``sinkhorn``.

    See Also
    --------
    sliced_wasserstein : the sliced distance, a different and smaller quantity.
    CriticEstimator : the critic methods, with a fitted critic to reuse on new samples.
    ctransform_w1 : a certified lower bound of the plug-in W1 from a critic's values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, a = rng.normal(size=(300, 2)), rng.random(300)
    >>> r = wasserstein1(x, x + [3.0, 4.0], a, a, method="exact")  # ot.emd2(a, a, ot.dist(x, y, "euclidean"))
    >>> round(r.distance, 6), r.converged                          # a translation by (3, 4)
    (5.0, True)
    >>> r = wasserstein1(x, y, steps=1000)                 # the MaxAL critic   # doctest: +SKIP
    >>> r.distance, r.ci95, r.all_samples, r.potential(torch.zeros(1, 2))  # doctest: +SKIP

    References
    ----------
    Villani, "Optimal transport: old and new", 2009 (duality). Flamary et al., "POT: Python Optimal
    Transport", JMLR 2021 (``exact``, ``sinkhorn``). Cuturi, "Sinkhorn distances", NeurIPS 2013.
    The critics' regularizers: MaxAL and MaxGP arXiv 1904.01184, gp 1704.00028, lp 1709.08894,
    sn 1802.05957, clip 1701.07875 (docs/algorithms.md sections 1-2).
    """
    if method == "sliced":
        raise InputError("the sliced distance is not W1 (it is smaller, by a factor that grows with the "
                         "dimension); call sliced_wasserstein(x, y, a, b) for it")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = sorted(set(options) - set(method_options(method)))
    if unknown:
        raise InputError(f"method {method!r} takes no option {', '.join(unknown)}; its options are "
                         f"{', '.join(method_options(method))}")
    if method == "auto":
        return best_critic(x, y, a, b, seed=0 if seed is None else seed, **options)
    if method in CRITIC_METHODS:
        return CriticEstimator(method, seed=0 if seed is None else seed, **options).fit(x, y, a, b).result_
    start = time.perf_counter()
    xs, ys = check_pair(x, y)
    wa, wb = check_weights(a, len(xs), "a"), check_weights(b, len(ys), "b")
    status = "solved"
    if method == "exact":
        value = exact_w1(xs, ys, wa, wb, **options)
    else:
        value, converged = sinkhorn_w1(xs, ys, wa, wb, **options)
        status = "solved" if converged else "cap"
    return W1Result(distance=value, method=method, n_a=len(xs), n_b=len(ys), dim=int(xs[0].numel()),
                    seconds=time.perf_counter() - start, status=status)

