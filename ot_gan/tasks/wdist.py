"""Measure W1 between two data sources: load them (and their features), run a method, say what to watch."""

from __future__ import annotations

import hashlib
import inspect
import itertools
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from ot_gan import parallel
from ot_gan.data import held_out_count, load_source
from ot_gan.errors import InputError
from ot_gan.features import embed, load_feature_network, network_digest
from ot_gan.options import SKIP_BAD, Runtime, option
from ot_gan.sources import CUT_SIZE
from ot_gan.w1 import (
    CRITIC_METHODS,
    EXACT_MAX_ENTRIES,
    CriticEstimator,
    W1Result,
    exact_w1,
    sliced_wasserstein,
    wasserstein1,
)
from ot_gan.w1 import METHODS as W1_METHODS

log = logging.getLogger(__name__)


METHODS = (*W1_METHODS, "sliced")  # sliced: the sliced W1, a smaller quantity than W1



ESTIMATOR = {name: p.default for name, p in inspect.signature(CriticEstimator).parameters.items()}  # its defaults



@dataclass
class WdistConfig(Runtime):
    """Everything a W1 measurement depends on; the critic's defaults are ``CriticEstimator``'s."""

    source_a: str
    source_b: str
    method: str = option("maxal", "maxal reads W1 off a critic with K = 1; bjorck (orthonormal weights, closer on "
                         "large images, slower steps), maxgp/gp/lp/sn/clip divide by the measured K; exact and "
                         "sinkhorn are POT's solvers (small sets); sliced is not W1 but the sliced W1, a smaller "
                         "distance (by a factor that grows with the dimension), printed as such.", choices=METHODS)
    steps: int = option(ESTIMATOR["steps"], "Most critic steps (training stops earlier once the estimate has "
                        "settled).", min=1)
    batch_size: int = option(ESTIMATOR["batch_size"], "Samples a side per critic step.", min=2)
    width: int = option(ESTIMATOR["width"], "Critic width: units of each hidden layer of the MLP critic (images are "
                        "flattened into it). Wider critics take longer per step and memorize small sets more "
                        "(compare W1, the held-out estimate, with 'all samples').", min=1)
    depth: int = option(ESTIMATOR["depth"], "Critic depth (hidden layers of the MLP). At most 8: deeper MaxAL "
                        "critics diverged or did not learn in short runs (depth 12 and 16 within 40 steps).",
                        min=1, max=8)
    group_size: int | None = option(ESTIMATOR["group"], "Features sorted together by the MLP's GroupSort activations "
                                    "(--width must be a multiple). By default 2 (MaxMin) below 16 dimensions, where "
                                    "pairs fit the kinks of 2-D potentials best, and 8 from 16 on (if --width is a "
                                    "multiple of 8), where groups of 8 fit curved potentials (a radial one) much "
                                    "more closely.", type=int, min=2)
    size: int | None = option(None, "Side every image source is resized and center-cropped to. By default digits "
                              f"and arrays keep theirs, and image folders and photos are cut at {CUT_SIZE}.",
                              type=int, min=4)
    holdout: float = option(ESTIMATOR["holdout"], "Fraction of each set kept out of training for the held-out "
                            "estimate.", max=0.9)
    exact: bool = option(True, "Also print POT's exact W1 when the cost matrix is small enough (up to about "
                         "8k x 8k).")
    ctransform: bool = option(ESTIMATOR["ctransform"], "Also print the c-transform of the trained critic on all "
                              "samples: a certified lower bound of the exact plug-in W1, usually closer to it than "
                              "the critic alone. For low-dimensional sets (the plug-in W1 is biased upward in high "
                              "dimension) of up to 50k x 50k samples, also past exact OT's memory limit.")
    features: str | None = option(None, "Measure W1 between the sets' features, as FID does with Inception. FILE is "
                                  "a TorchScript module (torch.jit.save), which receives images as loaded: (n, C, H, W) "
                                  "in [-1, 1]; or ARCH:WEIGHTS, a torchvision architecture with a local state dict of "
                                  "torchvision's, such as inception_v3:inception_v3_google-0cc3c7bd.pth or "
                                  "resnet18:resnet18-f37072fd.pth: its classifier head is dropped and images reach it "
                                  "as torchvision's weights expect (RGB in [0, 1], ImageNet-normalized; set --size to "
                                  "the side it takes, 299 for Inception). Nothing is downloaded. Features are cached in "
                                  "$XDG_CACHE_HOME/ot-gan/features (~/.cache/ot-gan/features).", type=str,
                                  metavar="FILE")
    skip_bad: bool = option(False, SKIP_BAD)



def load_pair(cfg: WdistConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sources as float tensors of one sample shape (gray images widened to RGB if the other
    set is in color)."""
    a, b = (load_source(s, size=cfg.size, seed=cfg.seed, skip_bad=cfg.skip_bad) for s in (cfg.source_a, cfg.source_b))
    xa, xb = a.data, b.data
    if a.is_image and b.is_image and {xa.shape[1], xb.shape[1]} == {1, 3}:
        xa, xb = (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x for x in (xa, xb))
    if xa.shape[1:] != xb.shape[1:]:
        raise InputError(f"{cfg.source_a} and {cfg.source_b} have different sample shapes: "
                         f"{tuple(xa.shape[1:])} vs {tuple(xb.shape[1:])}")
    return xa, xb



def feature_cache() -> Path:
    """Where features are cached: $XDG_CACHE_HOME/ot-gan/features, by default ~/.cache/ot-gan/features."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ot-gan" / "features"



def feature_pair(spec: str, *sources: tuple[str, torch.Tensor], device: torch.device,
                 progress: bool = False) -> list[torch.Tensor]:
    """The sets (name, samples) mapped through the feature network of ``spec``, each read from
    ``feature_cache()`` when the same network (by file content) has seen the same samples (by
    content), else computed in batches and written there."""
    network = network_digest(spec)
    net, out = None, []
    for name, data in sources:
        key = hashlib.sha256(f"{network}:{tuple(data.shape)}:".encode())
        for i in range(0, len(data), 1024):  # in blocks: no second copy of the whole set
            key.update(data[i:i + 1024].contiguous().numpy())
        path = feature_cache() / f"{key.hexdigest()[:32]}.pt"
        if path.is_file():
            log.info(f"the features of {name} are read from the cache {path}")
            out.append(torch.load(path, weights_only=True))
            continue
        if net is None:
            net = load_feature_network(spec)
        features = embed(net, data, device=device, progress=progress, desc=f"features {name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        torch.save(features, partial)
        partial.replace(path)
        log.info(f"the features of {name} ({features.shape[1]} dimensions) are cached in {path}")
        out.append(features)
    return out



def run(cfg: WdistConfig, progress: bool = False, should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Measure W1 between the two sources; the result as a JSON-ready dict. ``should_stop`` is
    asked between critic steps: True stops the training and the critic so far is measured."""
    if cfg.method not in METHODS:
        raise InputError(f"unknown method {cfg.method!r}; choose one of {', '.join(METHODS)}")
    if cfg.ctransform and cfg.method not in CRITIC_METHODS:
        raise InputError(f"--ctransform refines a trained critic; method {cfg.method!r} has none")
    # Under torchrun every rank loads the sets and trains the critic on its share of each batch.
    rank, world, device = parallel.setup(cfg.torch_device())
    xa, xb = load_pair(cfg)
    if cfg.features:
        xa, xb = feature_pair(cfg.features, (cfg.source_a, xa), (cfg.source_b, xb), device=device,
                              progress=progress and rank == 0)
    if cfg.method in CRITIC_METHODS:
        check_split(cfg, len(xa), len(xb))
        if cfg.group_size and cfg.width % cfg.group_size:
            raise InputError("{width} is not a multiple of {group_size}", width=cfg.width, group_size=cfg.group_size)
        kwargs = dict(steps=cfg.steps, batch_size=cfg.batch_size, width=cfg.width, depth=cfg.depth,
                      group=cfg.group_size, holdout=cfg.holdout, device=device, progress=progress,
                      ctransform=cfg.ctransform, distributed=world > 1)
        result = _as_dict(wasserstein1(xa, xb, method=cfg.method, seed=cfg.seed, should_stop=should_stop, **kwargs))
    elif cfg.method == "sliced":
        start = time.perf_counter()
        value = sliced_wasserstein(xa, xb, seed=cfg.seed)
        result = _as_dict(W1Result(distance=value, basis="sliced", method="sliced", n_a=len(xa), n_b=len(xb), dim=int(xa[0].numel()),
                                   seconds=time.perf_counter() - start))
    else:
        try:
            result = _as_dict(wasserstein1(xa, xb, method=cfg.method))
        except RuntimeError as err:  # exact_w1: POT's network simplex stopped before the optimum
            if cfg.method != "exact":
                raise
            raise InputError(f"{err}; try {{method}}", method="sinkhorn") from None
    result.update(source_a=cfg.source_a, source_b=cfg.source_b, exact=None, features=cfg.features,
                  units=units(cfg, xa),
                  n_heldout=([held_out_count(len(x), cfg.holdout) for x in (xa, xb)]
                             if cfg.method in CRITIC_METHODS else None))
    if cfg.method == "exact":
        result["exact"] = result["distance"]
    elif cfg.exact and rank == 0 and len(xa) * len(xb) <= EXACT_MAX_ENTRIES:
        try:
            result["exact"] = exact_w1(xa, xb)
        except RuntimeError as err:
            warnings.warn(f"{err}; the exact W1 is left out")
    result["cautions"] = cautions(result)
    return result



def _as_dict(r: W1Result) -> dict[str, Any]:
    """The result's figures, JSON-ready: every field but the trained critic."""
    return {f.name: getattr(r, f.name) for f in fields(r) if f.name not in ("potential", "heldout_index")}



def check_split(cfg: WdistConfig, *sizes: int) -> None:
    """Refuse sets too small for a critic: at least 2 samples a side to train on, and 1 held out."""
    def too_few(n: int) -> bool:
        held = held_out_count(n, cfg.holdout)
        return n - held < 2 or (cfg.holdout > 0 and held == 0)

    for spec, n in zip((cfg.source_a, cfg.source_b), sizes):
        if too_few(n):
            least = next(k for k in itertools.count(2) if not too_few(k))
            raise InputError(f"{spec}: {n} samples are too few for a critic estimate at {{holdout}} (at least "
                             f"{least}); use {{method}} for tiny sets", holdout=cfg.holdout, method="exact")



def cautions(r: dict[str, Any]) -> list[str]:
    """Why a critic's figure may be unreliable, one sentence each (empty when nothing is wrong)."""
    if r["method"] == "sinkhorn" and r.get("status") == "cap":
        return ["Sinkhorn stopped at its iteration cap before its marginals matched: the value is approximate."]
    if r["method"] not in CRITIC_METHODS:
        return []
    found = []
    if r.get("interrupted"):
        found.append(f"interrupted at step {r['steps']}, before the critic had settled: a rough estimate.")
    elif r.get("status") == "cap":
        found.append(f"stopped at the step cap ({r['steps']} steps with the final annealing) before the estimate "
                     "settled; more steps may give a larger value.")
    k = r.get("lipschitz")
    if r["method"] == "maxal" and k is not None and abs(k - 1) > 0.02:
        found.append(f"K = {k:.3f} is more than 2% from 1, so the estimate is off by about as much; "
                     "more steps may help.")
    held = min(r.get("n_heldout") or [0])  # 0 with --holdout 0: nothing held out, by choice
    if held == 1:  # the estimator needs 2 a side for a held-out figure
        found.append("only 1 held-out sample in the smaller set, too few for a held-out estimate: W1 is the critic "
                     "on all samples, its training samples included.")
    elif 1 < held < 100:
        found.append(f"only {held} held-out samples in the smaller set: the interval is wide.")
    ci = r.get("ci95")
    if ci and ci[0] <= 0 <= ci[1]:
        found.append("the interval includes 0: these samples do not tell the two sets apart.")
    elif ci and r["all_samples"] > ci[1]:
        found.append("the critic scores its training samples above the interval of the held-out ones: it has "
                     "memorized them, and 'all samples' overstates W1.")
    return found


def units(cfg: WdistConfig, data: torch.Tensor) -> str:
    """What the distance is measured in: the Euclidean distance between flattened samples, over
    the features of ``cfg.features``, over pixels in [-1, 1] for images, or over the values as
    given."""
    if cfg.features:
        return f"Euclidean, over the features of {cfg.features}"
    if data.dim() == 4:
        return "Euclidean, over pixel values in [-1, 1] (all channels of every pixel)"
    return "Euclidean, over the values as given"

