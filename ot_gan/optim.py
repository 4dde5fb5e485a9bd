"""AdaShift: Adam with a temporally shifted, decorrelated second moment.

Zhou et al., "AdaShift: Decorrelation and Convergence of Adaptive Learning Rate Methods",
arXiv 1810.00143 (docs/algorithms.md section 5). Adam fails to converge when v_t is correlated
with g_t; AdaShift builds v_t from the gradient ``keep_num`` steps old, so the step taken for g_t
does not depend on g_t.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.optimizer import _default_to_fused_or_foreach

REDUCES = ("mean", "max", "none", "max_mean", "max_max", "max_none")

GAN_BETAS = (0.0, 0.999)  # beta1 = 0: no momentum, the usual choice for GAN critics and generators

def _window_size(group: dict[str, Any]) -> int:
    """The paper's n: the window of gradients; 1 when beta1 = 0 (the first moment is g_t)."""
    return group["keep_num"] if group["betas"][0] > 0 else 1


class AdaShift(Optimizer):
    r"""AdaShift optimizer (arXiv 1810.00143), following torch.optim's conventions.

    Per parameter tensor, with g_old the gradient ``keep_num`` = n steps old:

        r = reduce(g_old^2)                          (mean / max over the tensor, or element-wise)
        v = beta2 v + (1 - beta2) r,  v_hat = v / (1 - beta2^k)   (k = updates so far)
          or, for the ``max_*`` reduces, v = max(beta2 v, r), v_hat = v
        m = sum_{i<n} beta1^i g_{t-i} / sum_{i<n} beta1^i
        theta -= lr * m / (sqrt(v_hat) + eps)

    Nothing is updated during the first n steps; n is forced to 1 when beta1 = 0. The
    unnormalized window sum of m is kept incrementally (m <- beta1 m + g_t - beta1^n g_{t-n}),
    so a step costs the same whatever n is.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        betas: (beta1, beta2): window weight of the first moment, decay of the second.
        keep_num: n, the number of gradients kept; the second moment uses the oldest.
        eps: added to sqrt(v_hat).
        reduce: ``mean`` (default), ``max``, ``none`` (element-wise), or ``max_mean``,
            ``max_max``, ``max_none`` (v = max(beta2 v, r), no bias correction; the GAN setting).
        weight_decay: L2 penalty added to the gradient.
        foreach: the multi-tensor implementation or a loop over tensors; None (the default)
            chooses as torch's optimizers do (multi-tensor when every parameter is on a GPU).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        keep_num: int = 10,
        eps: float = 1e-10,
        reduce: str = "mean",
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
    ) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Invalid betas (each must be in [0, 1)): {betas}")
        if int(keep_num) != keep_num or keep_num < 1:
            raise ValueError(f"Invalid keep_num (a positive integer): {keep_num}")
        if eps < 0.0:
            raise ValueError(f"Invalid eps: {eps}")
        if reduce not in REDUCES:
            raise ValueError(f"Invalid reduce {reduce!r}; choose one of {', '.join(REDUCES)}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), keep_num=int(keep_num), eps=eps,
                        reduce=reduce, weight_decay=weight_decay, foreach=foreach)
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            elementwise = group["reduce"].endswith("none")
            state["step"] = 0
            state["grad_window"] = torch.zeros((_window_size(group), *p.shape),
                                               dtype=p.dtype, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = (torch.zeros_like(p, memory_format=torch.preserve_format)
                                   if elementwise else torch.zeros((), dtype=p.dtype, device=p.device))
        return state

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        """Perform one optimization step; ``closure`` re-evaluates the loss, as in torch.optim."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError("AdaShift does not support sparse gradients; "
                                   "use torch.optim.SparseAdam for sparse embeddings")
            states = [self._init_state(p, group) for p in params]
            foreach = group["foreach"]
            if foreach is None:
                foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)[1]
            if foreach:
                by_device_dtype: dict[tuple, list[int]] = defaultdict(list)
                for i, p in enumerate(params):
                    by_device_dtype[(p.device, p.dtype)].append(i)
                for idx in by_device_dtype.values():
                    _foreach_step([params[i] for i in idx], [states[i] for i in idx], group)
            else:
                for p, state in zip(params, states):
                    _single_tensor_step(p, state, group)
        return loss


def _hyper(group: dict[str, Any]) -> tuple[float, float, float, float, str, bool]:
    """(beta1, beta2, beta1^n, 1 / sum of the window weights, reduce op, max variant)."""
    beta1, beta2 = group["betas"]
    n = _window_size(group)
    weight_sum = float(n) if beta1 == 1.0 else (1.0 - beta1**n) / (1.0 - beta1)
    reduce = group["reduce"]
    use_max = reduce.startswith("max_")
    return beta1, beta2, beta1**n, 1.0 / weight_sum, reduce.removeprefix("max_"), use_max


def _reduce_square(g: Tensor, how: str) -> Tensor:
    sq = g * g
    return sq.mean() if how == "mean" else sq.max() if how == "max" else sq


def _single_tensor_step(p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    """The plain per-tensor algorithm; the reference for the foreach path."""
    beta1, beta2, beta1_n, inv_wsum, how, use_max = _hyper(group)
    grad = p.grad
    if group["weight_decay"]:
        grad = grad.add(p, alpha=group["weight_decay"])
    n = state["grad_window"].shape[0]
    state["step"] += 1
    step = state["step"]
    g_old = state["grad_window"][(step - 1) % n]  # the gradient n steps old (zeros at first)
    state["exp_avg"].mul_(beta1).add_(grad).sub_(g_old, alpha=beta1_n)
    if step > n:
        v = state["exp_avg_sq"]
        r = _reduce_square(g_old, how)
        if use_max:
            torch.maximum(v * beta2, r, out=v)
            v_hat = v
        else:
            v.mul_(beta2).add_(r, alpha=1.0 - beta2)
            v_hat = v / (1.0 - beta2 ** (step - n))
        p.addcdiv_(state["exp_avg"], v_hat.sqrt().add_(group["eps"]), value=-group["lr"] * inv_wsum)
    g_old.copy_(grad)


def _foreach_step(params: list[Tensor], states: list[dict[str, Any]], group: dict[str, Any]) -> None:
    """The same algorithm with torch._foreach_* kernels over all tensors of one device/dtype."""
    beta1, beta2, beta1_n, inv_wsum, how, use_max = _hyper(group)
    grads = [p.grad for p in params]
    if group["weight_decay"]:
        grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
    n = states[0]["grad_window"].shape[0]
    for s in states:
        s["step"] += 1
    g_olds = [s["grad_window"][(s["step"] - 1) % n] for s in states]
    exp_avgs = [s["exp_avg"] for s in states]
    torch._foreach_mul_(exp_avgs, beta1)
    torch._foreach_add_(exp_avgs, grads)
    if beta1_n:
        torch._foreach_add_(exp_avgs, g_olds, alpha=-beta1_n)

    ready = [i for i, s in enumerate(states) if s["step"] > n]
    if ready:
        olds = [g_olds[i] for i in ready]
        vs = [states[i]["exp_avg_sq"] for i in ready]
        torch._foreach_mul_(vs, beta2)
        if how == "none" and not use_max:
            torch._foreach_addcmul_(vs, olds, olds, value=1.0 - beta2)
        else:
            if how == "none":
                r = torch._foreach_mul(olds, olds)
            else:
                norms = torch._foreach_norm(olds, 2 if how == "mean" else float("inf"))
                r = torch._foreach_mul(norms, norms)
                if how == "mean":
                    torch._foreach_div_(r, [float(o.numel()) for o in olds])
            if use_max:
                torch._foreach_maximum_(vs, r)
            else:
                torch._foreach_add_(vs, r, alpha=1.0 - beta2)
        denom = torch._foreach_sqrt(vs)
        if not use_max:
            torch._foreach_div_(denom, [math.sqrt(1.0 - beta2 ** (states[i]["step"] - n)) for i in ready])
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_([params[i] for i in ready], [exp_avgs[i] for i in ready], denom,
                                value=-group["lr"] * inv_wsum)
    torch._foreach_copy_(g_olds, grads)


class WarmupDecay:
    """A learning-rate multiplier by step for ``torch.optim.lr_scheduler.LambdaLR``: a linear
    warm-up from 0 over ``warmup`` steps, then 1, then from step ``decay_start`` a linear decay to
    0 over ``decay_steps`` steps. ``decay_start`` may be set while training runs (the critic
    decays from whenever its estimate settles); None means no decay."""

    def __init__(self, warmup: int = 0, decay_start: int | None = None, decay_steps: int = 0) -> None:
        self.warmup, self.decay_start, self.decay_steps = warmup, decay_start, decay_steps

    def decay_from(self, step: int, steps: int) -> None:
        """Decay to 0 over ``steps`` steps from ``step`` on."""
        self.decay_start, self.decay_steps = step, max(1, steps)

    def __call__(self, step: int) -> float:
        factor = min(1.0, step / self.warmup) if self.warmup else 1.0
        if self.decay_start is not None and step > self.decay_start:
            factor *= max(0.0, 1 - (step - self.decay_start) / self.decay_steps)
        return factor
