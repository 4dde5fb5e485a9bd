"""Data parallel training over torch.distributed, started by ``torchrun``.

Every rank computes the loss on its share of the global batch; gradients are averaged with one
``all_reduce`` of a flattened buffer per optimizer step (as NVIDIA's StyleGAN3 training loop does;
StyleGAN2-ADA wrapped its networks in DDP), and buffers follow rank 0.
``DistributedDataParallel`` is not used because a GAN step does not fit its one-forward,
one-backward reducer: the critic sees real and fake batches in separate forwards, gradient
penalties need double backward, and the generator's loss reaches the critic's parameters
(docs/algorithms.md section 10). The engine and the W1 estimator share these helpers; the
regularizers use ``gather`` and ``global_max`` for the batch maximum of the slopes.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist
from torch import nn


def setup(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device): joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        # Left to the interpreter's exit, gloo's threads were sometimes destroyed while joinable:
        # "terminate called without an active exception", SIGABRT after a finished run.
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device


def average_gradients(module: nn.Module, world: int) -> None:
    """Replace every gradient of ``module`` by its mean over the ranks."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if world == 1 or not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def broadcast_state(module: nn.Module, world: int, parameters: bool = False) -> None:
    """Copy rank 0's buffers (and parameters too if asked) to every rank."""
    if world == 1:
        return
    tensors = list(module.buffers()) + (list(module.parameters()) if parameters else [])
    for t in tensors:
        dist.broadcast(t.data, src=0)


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of torch.distributed's default group; (0, 1) when it is not initialized."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather(t: torch.Tensor, world: int) -> torch.Tensor:
    """Every rank's ``t`` (of one shape on all ranks) concatenated along dim 0, in rank order."""
    if world == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def global_max(t: torch.Tensor, world: int) -> torch.Tensor:
    """The maximum of a scalar tensor over the ranks (in place)."""
    if world > 1:
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def mean_over_ranks(t: torch.Tensor, world: int) -> torch.Tensor:
    """The mean of ``t`` over the ranks (in place)."""
    if world > 1:
        dist.all_reduce(t)
        t /= world
    return t


def any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
