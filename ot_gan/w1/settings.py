"""The critic estimator's hyperparameters, in one place: ``help(CriticSettings)`` lists them."""

from __future__ import annotations

from dataclasses import dataclass

from ot_gan.optim import GAN_BETAS

DEFAULT_LR = 1e-3  # the critic's learning rate at DEFAULT_WIDTH
DEFAULT_WIDTH = 128


@dataclass(frozen=True)
class CriticSettings:
    """How a ``CriticEstimator`` trains its critic (the runtime settings, device, seed, progress
    bar and stop request, are the estimator's own arguments).

    Attributes
    ----------
    steps, min_steps : int
        The most critic steps before annealing, and the fewest.
    batch_size : int
        Samples a side per step (the global batch, split over the ranks when distributed).
    lr : float, optional
        AdaShift's learning rate; by default 1e-3, times 128 / ``width`` for a critic built wider
        than 128. AdaShift (like Adam) scales each tensor's step to its gradient's RMS, so a hidden
        layer's step grows with its width, and width 512 at 1e-3 blew up within 10 steps; 1 / width
        is muP's rule for Adam (Yang et al., "Tensor Programs V", arXiv 2203.03466).
    betas : tuple of float
        AdaShift's beta1 and beta2, the GAN defaults the training engine uses too.
    width, depth, group : int
        The default critic's size and GroupSort group (by default 2 below 16 dimensions, 8 from 16 on).
    holdout : float
        Fraction of each set kept out of training, for the held-out estimate.
    tol : float
        Relative change of K and rise of the held-out gap (means over two windows of
        ``check_every`` steps) since half as many steps, under which training has settled.
    check_every : int
        Steps per window of the stopping rule.
    bootstrap : int
        Resamples of the held-out interval's bootstrap (unweighted sets of fewer than
        ``NORMAL_INTERVAL_MIN`` held-out samples a side; the others get the normal interval).
    warmup : int
        Steps (at most a tenth of ``steps``) over which the learning rate ramps up linearly. A
        fresh critic's K starts far below 1 (a factor 0.58 per default layer), the MaxAL penalty
        pushes every layer up at once and, AdaShift's second moment being one step old, the first
        steps overshoot: depth 8 or width 512 went non-finite within 10 steps without it.
    bf16, tf32 : bool
        CUDA only (ignored on the CPU): the training steps under bf16 autocast, or with float32
        matrix products in TF32; orthonormalization and every figure read (K, the gaps, the
        interval) stay in float32.
    """

    steps: int = 8000
    min_steps: int = 1000
    batch_size: int = 256
    lr: float | None = None
    betas: tuple[float, float] = GAN_BETAS
    width: int = 128
    depth: int = 4
    group: int | None = None
    holdout: float = 0.2
    tol: float = 0.005
    check_every: int = 500
    bootstrap: int = 1000
    warmup: int = 100
    bf16: bool = False
    tf32: bool = False

    def learning_rate(self, default_critic: bool) -> float:
        """``lr``, or the default for the default critic of ``width`` (1e-3 at most, see ``lr``)."""
        if self.lr is not None:
            return self.lr
        return DEFAULT_LR * (min(1.0, DEFAULT_WIDTH / self.width) if default_critic else 1.0)
