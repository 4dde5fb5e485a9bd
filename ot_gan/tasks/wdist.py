"""Measure W1 between two data sources: load them (and their features), run a method, say what to watch."""

from __future__ import annotations

import csv
import hashlib
import itertools
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torchvision

from ot_gan import parallel
from ot_gan.data import Samples, held_out_count, load_source
from ot_gan.errors import InputError
from ot_gan.features import embed, load_feature_network, network_digest
from ot_gan.options import SKIP_BAD, Runtime, option
from ot_gan.sources import CUT_SIZE
from ot_gan.w1 import (
    CRITIC_METHODS,
    EXACT_MAX_ENTRIES,
    POT_METHODS,
    CriticSettings,
    W1Result,
    Witness,
    exact_w1,
    sliced_wasserstein,
    two_sample_test,
    wasserstein1,
    witness_samples,
)
from ot_gan.w1 import METHODS as W1_METHODS

log = logging.getLogger(__name__)


METHODS = (*W1_METHODS, "sliced")  # sliced: the sliced W1, a smaller quantity than W1
WITNESSES = 64  # witness samples of each set at each end of the critic's scale (an 8 x 8 grid)
GRID_SIDE = 32  # images smaller than this are enlarged in the witness grids



CRITICS = ("auto", *CRITIC_METHODS)  # the methods that train a critic
ESTIMATOR = CriticSettings()  # the critic's defaults



@dataclass
class WdistConfig(Runtime):
    """Everything a W1 measurement depends on; the critic's defaults are ``CriticEstimator``'s."""

    source_a: str
    source_b: str
    method: str = option("auto", "auto trains the MaxAL and the bjorck critic, sharing the step cap, and reads "
                         "each half of the held-out samples with the one whose gap is the larger on the other half "
                         "(so no half is read by a critic chosen on it); maxal reads W1 off a critic with K = 1; bjorck has orthonormal weights "
                         "(closer on large images, slower steps); maxgp/gp/lp/sn/clip divide by the measured K; "
                         "exact and sinkhorn are POT's solvers (small sets); sliced is not W1 but the sliced W1, a "
                         "smaller distance (by a factor that grows with the dimension), printed as such.",
                         choices=METHODS)
    steps: int = option(ESTIMATOR.steps, "Most critic steps (training stops earlier once the estimate has "
                        "settled); auto gives its two critics half each (from 16 dimensions on, MaxAL a third and bjorck two thirds).", min=1)
    batch_size: int = option(ESTIMATOR.batch_size, "Samples a side per critic step.", min=2)
    width: int = option(ESTIMATOR.width, "Critic width: units of each hidden layer of the MLP critic (images are "
                        "flattened into it). Wider critics take longer per step and memorize small sets more "
                        "(compare W1, the held-out estimate, with 'all samples').", min=1)
    depth: int = option(ESTIMATOR.depth, "Critic depth (hidden layers of the MLP). At most 8: deeper MaxAL "
                        "critics diverged or did not learn in short runs (depth 12 and 16 within 40 steps).",
                        min=1, max=8)
    group_size: int | None = option(ESTIMATOR.group, "Features sorted together by the MLP's GroupSort activations "
                                    "(--width must be a multiple). By default 2 (MaxMin) below 16 dimensions, where "
                                    "pairs fit the kinks of 2-D potentials best, and 8 from 16 on (if --width is a "
                                    "multiple of 8), where groups of 8 fit curved potentials (a radial one) much "
                                    "more closely.", type=int, min=2)
    size: int | None = option(None, "Side every image source is resized and center-cropped to. By default digits "
                              f"and arrays keep theirs, and image folders and photos are cut at {CUT_SIZE}.",
                              type=int, min=4)
    holdout: float = option(ESTIMATOR.holdout, "Fraction of each set kept out of training for the held-out "
                            "estimate.", max=0.9)
    bf16: bool = option(False, "CUDA only: train the critic under bf16 autocast (K, the gaps and the interval are "
                        "still read in float32).")
    tf32: bool = option(False, "CUDA only: the critic's training matrix products in TF32 (figures read in float32).")
    exact: bool = option(True, "Also print POT's exact W1 when the cost matrix is small enough (up to about "
                         "8k x 8k).")
    ctransform: bool = option(False, "Also print the c-transform of the trained critic on all "
                              "samples: a certified lower bound of the exact plug-in W1, usually closer to it than "
                              "the critic alone. For low-dimensional sets (the plug-in W1 is biased upward in high "
                              "dimension) of up to 50k x 50k samples, also past exact OT's memory limit.")
    test: bool = option(False, "Also test whether the two sets come from one distribution: a permutation test of "
                        "the trained critic's values on the held-out samples, which it never trained on, prints a "
                        "p-value (a larger --holdout, such as 0.5, gives the test more samples).")
    explain: str | None = option(None, "Write to DIR what tells the sets apart: the held-out samples of each that "
                                  "the critic scores highest and lowest (image grids, and a CSV of their indices and "
                                  "critic values), and, when both sets are labeled (class subfolders, x/y .npz, "
                                  "digits), W1 per class, one critic per class.", type=str, metavar="DIR")
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



def load_pair(cfg: WdistConfig) -> tuple[Samples, Samples]:
    """Both sources, with their labels, as float tensors of one sample shape (gray images widened
    to RGB if the other set is in color)."""
    a, b = (load_source(s, size=cfg.size, seed=cfg.seed, skip_bad=cfg.skip_bad) for s in (cfg.source_a, cfg.source_b))
    if a.is_image and b.is_image and {a.data.shape[1], b.data.shape[1]} == {1, 3}:
        for s in (a, b):
            s.data = s.data.expand(-1, 3, -1, -1) if s.data.shape[1] == 1 else s.data
    if a.data.shape[1:] != b.data.shape[1:]:
        raise InputError(f"{cfg.source_a} and {cfg.source_b} have different sample shapes: "
                         f"{tuple(a.data.shape[1:])} vs {tuple(b.data.shape[1:])}")
    return a, b



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
    if cfg.ctransform and cfg.method not in CRITICS:
        raise InputError(f"--ctransform refines a trained critic; method {cfg.method!r} has none")
    if (cfg.test or cfg.explain) and not has_critic(cfg):
        raise InputError(f"{{test}} and {{explain}} read a trained critic; method {cfg.method!r} has none",
                         test=True, explain=None)
    if (cfg.test or cfg.explain) and cfg.holdout == 0:
        raise InputError("{test} and {explain} read the critic on held-out samples; set {holdout}", test=True,
                         explain=None, holdout=0.5)
    # Under torchrun every rank loads the sets and trains the critic on its share of each batch.
    rank, world, device = parallel.setup(cfg.torch_device())
    sources = load_pair(cfg)
    xa, xb = (s.data for s in sources)
    if cfg.features:
        xa, xb = feature_pair(cfg.features, (cfg.source_a, xa), (cfg.source_b, xb), device=device,
                              progress=progress and rank == 0)
    if cfg.method in CRITICS:
        check_split(cfg, len(xa), len(xb))
        if cfg.group_size and cfg.width % cfg.group_size:
            raise InputError("{width} is not a multiple of {group_size}", width=cfg.width, group_size=cfg.group_size)
    measured = measure(cfg, xa, xb, device, world, progress, should_stop)
    result = _as_dict(measured)
    result.update(source_a=cfg.source_a, source_b=cfg.source_b, exact=None, features=cfg.features,
                  units=units(cfg, xa),
                  n_heldout=([held_out_count(len(x), cfg.holdout) for x in (xa, xb)]
                             if cfg.method in CRITICS else None))
    if cfg.method == "exact":
        result["exact"] = result["distance"]
    elif cfg.exact and rank == 0 and len(xa) * len(xb) <= EXACT_MAX_ENTRIES:
        try:
            result["exact"] = exact_w1(xa, xb)
        except RuntimeError as err:
            warnings.warn(f"{err}; the exact W1 is left out")
    result["bracket"] = bracket(result)
    result["p_value"] = None
    if cfg.test and math.isfinite(measured.distance):  # a diverged critic with non-finite values is not tested
        test = two_sample_test(measured, xa, xb, seed=cfg.seed)
        result.update(p_value=test.p_value, permutations=test.permutations)
    if cfg.explain and math.isfinite(measured.distance):
        if rank == 0:
            result["explain"] = write_witnesses(Path(cfg.explain), witness_samples(measured, xa, xb, count=WITNESSES),
                                                sources)
        result["per_class"] = per_class(cfg, sources, (xa, xb), device, world, progress, should_stop)
    result["cautions"] = cautions(result)
    return result


def has_critic(cfg: WdistConfig) -> bool:
    """Whether ``cfg.method`` trains a critic (POT's solvers and the sliced distance do not)."""
    return cfg.method not in (*POT_METHODS, "sliced")


def measure(cfg: WdistConfig, xa: torch.Tensor, xb: torch.Tensor, device: torch.device, world: int = 1,
            progress: bool = False, should_stop: Callable[[], bool] | None = None) -> W1Result:
    """W1 between ``xa`` and ``xb`` by ``cfg.method``, a critic's settings read from ``cfg``."""
    if cfg.method in CRITICS:
        kwargs = dict(steps=cfg.steps, batch_size=cfg.batch_size, width=cfg.width, depth=cfg.depth,
                      group=cfg.group_size, holdout=cfg.holdout, device=device, progress=progress,
                      ctransform=cfg.ctransform, distributed=world > 1, bf16=cfg.bf16, tf32=cfg.tf32)
        return wasserstein1(xa, xb, method=cfg.method, seed=cfg.seed, should_stop=should_stop, **kwargs)
    if cfg.method == "sliced":
        start = time.perf_counter()
        value = sliced_wasserstein(xa, xb, seed=cfg.seed)
        return W1Result(distance=value, basis="sliced", method="sliced", n_a=len(xa), n_b=len(xb),
                        dim=int(xa[0].numel()), seconds=time.perf_counter() - start)
    try:
        return wasserstein1(xa, xb, method=cfg.method)
    except RuntimeError as err:  # exact_w1: POT's network simplex stopped before the optimum
        if cfg.method != "exact":
            raise
        raise InputError(f"{err}; try {{method}}", method="sinkhorn") from None


def write_witnesses(folder: Path, witnesses: list[Witness], sources: tuple[Samples, Samples]) -> dict[str, Any]:
    """Write the witness samples into ``folder``: ``witnesses.csv`` (set, end, rank, index into the
    set, critic value) and, when both sources are images (also under ``features``), one grid of
    each witness's images, ``{set}_{end}.png``. Returns the folder and each file with what it shows."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "witnesses.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["set", "end", "rank", "index", "value"])
        out.writerows([w.set, w.end, rank, int(i), f"{v:.6g}"] for w in witnesses
                      for rank, (i, v) in enumerate(zip(w.index, w.value)))
    files = []
    images = all(s.is_image for s in sources)
    for w in witnesses if images else ():
        grid = sources["ab".index(w.set)].data[torch.as_tensor(w.index)]
        side = grid.shape[-1]
        if side < GRID_SIDE:  # small images (8x8 digits) are enlarged, pixels kept sharp
            grid = torch.nn.functional.interpolate(grid, scale_factor=GRID_SIDE // side, mode="nearest")
        torchvision.utils.save_image(grid * 0.5 + 0.5, folder / f"{w.set}_{w.end}.png", nrow=8, padding=2,
                                     pad_value=0.5)
        files.append({"file": f"{w.set}_{w.end}.png", "shows": w.meaning})
    files.append({"file": "witnesses.csv", "shows": "their indices in the sets and critic values" if images else
                  "the indices and critic values of each set's held-out samples the critic scores highest and lowest"})
    return {"dir": str(folder), "files": files}


def per_class(cfg: WdistConfig, sources: tuple[Samples, Samples], sets: tuple[torch.Tensor, torch.Tensor],
              device: torch.device, world: int = 1, progress: bool = False,
              should_stop: Callable[[], bool] | None = None) -> list[dict[str, Any]] | None:
    """W1 between the two sets' samples of each class (by class name), one estimate per class by
    ``cfg.method``; None unless both sources are labeled. A class with too few samples on a side
    (none, or too few for a critic) has no distance."""
    if any(s.labels is None for s in sources):
        return None
    present = [[s.classes[k] for k in s.labels.unique().tolist()] for s in sources]
    rows = []
    for name in dict.fromkeys(present[0] + present[1]):  # the first set's classes, then the second's others
        if should_stop is not None and should_stop():
            break
        index = [torch.nonzero(s.labels == s.classes.index(name)).flatten() if name in s.classes
                 else torch.zeros(0, dtype=torch.long) for s in sources]
        row = {"class": name, "n_a": len(index[0]), "n_b": len(index[1]), "distance": None, "ci95": None, "basis": None}
        if not any(too_few(len(i), cfg.holdout) if has_critic(cfg) else not len(i) for i in index):
            r = measure(cfg, *(x[i] for x, i in zip(sets, index)), device, world, progress, should_stop)
            row.update(distance=r.distance, ci95=r.ci95, basis=r.basis)
        rows.append(row)
    return rows



def _as_dict(r: W1Result) -> dict[str, Any]:
    """The result's figures, JSON-ready: every field but the trained critic."""
    return {f.name: getattr(r, f.name) for f in fields(r) if f.name not in ("potential", "heldout_index", "candidates")}



def too_few(n: int, holdout: float) -> bool:
    """Whether n samples are too few for a critic at ``holdout``: fewer than 2 to train on, or none held out."""
    held = held_out_count(n, holdout)
    return n - held < 2 or (holdout > 0 and held == 0)


def check_split(cfg: WdistConfig, *sizes: int) -> None:
    """Refuse sets too small for a critic: at least 2 samples a side to train on, and 1 held out."""
    for spec, n in zip((cfg.source_a, cfg.source_b), sizes):
        if too_few(n, cfg.holdout):
            least = next(k for k in itertools.count(2) if not too_few(k, cfg.holdout))
            raise InputError(f"{spec}: {n} samples are too few for a critic estimate at {{holdout}} (at least "
                             f"{least}); use {{method}} for tiny sets", holdout=cfg.holdout, method="exact")



def bracket(r: dict[str, Any]) -> list[float] | None:
    """[held-out estimate, exact OT] when both are there and in that order: the population W1 lies
    between them in expectation. The held-out figure of a 1-Lipschitz critic is a lower bound, and
    exact OT on the samples an upper bound, E W1(P_n, Q_n) >= W1(E P_n, E Q_n) = W1(P, Q), by the
    joint convexity of W1 in its two measures."""
    if r.get("basis") != "held-out" or r.get("exact") is None or not r["distance"] <= r["exact"]:
        return None
    return [r["distance"], r["exact"]]


def cautions(r: dict[str, Any]) -> list[str]:
    """Why a critic's figure may be unreliable, one sentence each (empty when nothing is wrong)."""
    if r["method"] == "sinkhorn" and r.get("status") == "cap":
        return ["Sinkhorn stopped at its iteration cap before its marginals matched: the value is approximate."]
    if r["method"] not in CRITICS:
        return []
    found = []
    if r.get("interrupted"):
        found.append(f"interrupted at step {r['steps']}, before the critic had settled: a rough estimate.")
    elif r.get("status") == "cap":
        found.append(f"stopped at the step cap ({r['steps']} steps with the final annealing) before the estimate "
                     "settled; more steps may give a larger value.")
    k = r.get("lipschitz")
    maxal = "maxal" in (r["method"], r.get("details", {}).get("chosen"))  # auto reads the critic it kept
    if maxal and k is not None and abs(k - 1) > 0.02:
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

