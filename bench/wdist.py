"""W1 estimators against known answers: estimate / truth, Lipschitz constant K, seconds and peak
memory for each method and case, each case in a fresh process (so peak RSS is its own).

    python bench/wdist.py [--methods maxal,gp,sn] [--cases shift-64,scale-16] [--threads 1] [--group 8]
    python bench/wdist.py --scale      # 1M vs 1M in 64-D, and 10k and 20k a side in 2-D against ot.emd2

On the 2-D mixtures, whose truth is the exact plug-in value, the critic's c-transform (a certified
lower bound of that value) is printed too.

Truths: a translation N(0, I) vs N(v, I) has W1 = |v|; scaled Gaussians N(0, I) vs N(0, s^2 I)
have W1 = |s - 1| E|x| (a radial 1-Lipschitz f = |x| and the radial map both give it); the 2-D
mixtures use POT's exact value on the same points.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from ot_gan.data import toy_2d
from ot_gan.lipschitz import METHODS
from ot_gan.wasserstein import exact_w1, wasserstein1

CASES = ["shift-2", "shift-16", "shift-64", "scale-2", "scale-16", "scale-64", "checkerboard-gaussians",
         "gaussians-rings"]


def make_case(name: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(x, y, true W1) for a case name."""
    g = torch.Generator().manual_seed(seed)
    kind, _, rest = name.partition("-")
    if kind == "shift":
        d = int(rest)
        v = torch.randn(d, generator=g)
        return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) + 2.0 * v / v.norm(), 2.0
    if kind == "scale":
        d = int(rest)
        mean_norm = math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
        return torch.randn(n, d, generator=g), 1.5 * torch.randn(n, d, generator=g), 0.5 * mean_norm
    x, y = toy_2d(kind, n, seed), toy_2d(rest, n, seed + 1)
    return x, y, exact_w1(x, y)


def run_case(method: str, case: str, n: int, threads: int, steps: int, group: int) -> dict:
    torch.set_num_threads(threads)
    x, y, truth = make_case(case, n)
    start = time.perf_counter()
    r = wasserstein1(x, y, method=method, steps=steps, group=group,
                     ctransform=not case.startswith(("shift", "scale")))
    return dict(ratio=r.distance / truth, heldout=r.heldout / truth, k=r.lipschitz, steps=r.steps,
                ct=r.ctransform / truth if r.ctransform is not None else None,
                seconds=time.perf_counter() - start, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def in_fresh_process(fn, *args):
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def accuracy_table(methods: list[str], cases: list[str], n: int, threads: int, steps: int, group: int) -> None:
    print(f"n = {n} per set, at most {steps} steps (+ annealing), GroupSort groups of {group}, {threads} thread(s); "
          f"held-out = the critic on the 20% it did not train on; c-transf. = its c-transform")
    print(f"| {'case':24s} | {'method':6s} | {'W1/truth':>8s} | {'held-out':>8s} | {'c-transf.':>9s} | {'K':>6s} "
          f"| {'steps':>5s} | {'seconds':>7s} | {'peak MB':>7s} |")
    print("|" + "|".join("-" * (w + 2) for w in (24, 6, 8, 8, 9, 6, 5, 7, 7)) + "|")
    for case in cases:
        for method in methods:
            r = in_fresh_process(run_case, method, case, n, threads, steps, group)
            ct = f"{r['ct']:9.3f}" if r["ct"] is not None else f"{'-':>9s}"
            print(f"| {case:24s} | {method:6s} | {r['ratio']:8.3f} | {r['heldout']:8.3f} | {ct} | {r['k']:6.3f} "
                  f"| {r['steps']:5d} | {r['seconds']:7.1f} | {r['rss']:7.0f} |", flush=True)


def scale_large(threads: int, n: int) -> dict:
    torch.set_num_threads(threads)
    x, y, truth = make_case("shift-64", n)
    start = time.perf_counter()
    r = wasserstein1(x, y, holdout=0.01, batch_size=1024)
    return dict(ratio=r.distance / truth, k=r.lipschitz, steps=r.steps, seconds=time.perf_counter() - start,
                rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def scale_2d(threads: int, n: int) -> dict:
    torch.set_num_threads(threads)
    x, y = toy_2d("checkerboard", n, 0), toy_2d("gaussians", n, 1)
    start = time.perf_counter()
    exact = exact_w1(x, y, max_entries=n * n)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    r = wasserstein1(x, y, steps=3000, ctransform=True)
    return dict(exact=exact, t_exact=t_exact, ratio=r.distance / exact, ct=r.ctransform / exact, k=r.lipschitz,
                steps=r.steps, seconds=time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--group", type=int, default=2, help="the MLP critics' GroupSort group size")
    parser.add_argument("--scale", action="store_true", help="the two large-scale runs instead")
    parser.add_argument("--scale-n", type=int, default=1_000_000)
    parser.add_argument("--scale-2d-n", default="10000,20000",
                        help="sizes of the 2-D runs against ot.emd2 (20k needs a 3.2 GB cost matrix)")
    args = parser.parse_args()
    if not args.scale:
        accuracy_table(args.methods.split(","), args.cases.split(","), args.n, args.threads, args.steps, args.group)
        return
    r = in_fresh_process(scale_large, args.threads, args.scale_n)
    print(f"| {args.scale_n} vs {args.scale_n} in 64-D (shift 2) | maxal W1/truth {r['ratio']:.3f} | K {r['k']:.3f} "
          f"| {r['steps']} steps, {r['seconds']:.0f} s | peak {r['rss']:.0f} MB | exact would need a "
          f"{args.scale_n ** 2 * 8 / 1e12:.0f} TB cost matrix |")
    for n in map(int, args.scale_2d_n.split(",")):
        r = in_fresh_process(scale_2d, args.threads, n)
        print(f"| {n} vs {n} in 2-D (checkerboard vs gaussians) | ot.emd2 {r['t_exact']:.0f} s | maxal "
              f"{r['steps']} steps, {r['seconds']:.0f} s, W1/exact {r['ratio']:.3f}, c-transform {r['ct']:.3f}, "
              f"K {r['k']:.3f} | speed-up {r['t_exact'] / r['seconds']:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
