"""W1 estimators against known answers: estimate / truth, Lipschitz constant K, seconds and peak
memory for each method and case, each case in a fresh process (so peak RSS is its own).

    python bench/wdist.py [--methods maxal,gp,sn] [--cases shift-64,scale-16] [--threads 1] [--group 8]
    python bench/wdist.py --funnels    # funnel pairs in a cube (2-128-D) and on photo crops (768-12,288-D)
    python bench/wdist.py --scale      # 1M vs 1M in 64-D, and 10k and 20k a side in 2-D against ot.emd2

``--methods bjorck+cayley`` (or ``maxal+cayley``) trains the overlapping orthogonal-convolution
critic of ``bench/cayley.py`` on image cases, which was tried and not adopted. On the funnel cases
a method takes options after a colon, as ``wasserstein1`` does: ``bjorck:train_iters=3``.

On the 2-D mixtures, whose truth is the exact plug-in value, the critic's c-transform (a certified
lower bound of that value) is printed too.

Funnel cases (``bench/funnels.py``, after Korotin et al., NeurIPS 2022) are named
``cube-D-K`` (D dimensions, K funnels) and ``photos-S-K`` (S x S RGB crops, 3 S^2 dimensions), with
``-indep`` for independent draws of the two sides (the truth is the population W1; the plug-in W1
of the samples is larger). Their extra column ``cos`` is the mean cosine between the critic's
gradient and the true transport direction at the moved points.

Truths: a translation N(0, I) vs N(v, I) has W1 = |v|; scaled Gaussians N(0, I) vs N(0, s^2 I)
have W1 = |s - 1| E|x| (a radial 1-Lipschitz f = |x| and the radial map both give it); the 2-D
mixtures use POT's exact value on the same points.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch
import yaml
from cayley import CayleyCritic  # run as a script: bench/ is on the path
from funnels import funnel_pair
from report import add_write_flag

from ot_gan.lipschitz import METHODS
from ot_gan.sources import PHOTOS, toy_2d
from ot_gan.w1 import CriticEstimator, exact_w1, wasserstein1

FUNNEL_CASES = ["cube-2-4", "cube-16-16", "cube-64-1", "cube-64-64", "cube-128-16", "cube-128-256",
                "photos-16-4", "photos-16-4-indep", "photos-32-1", "photos-32-16", "photos-32-64",
                "photos-32-16-indep", "photos-64-16"]
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
    return dict(ratio=r.all_samples / truth, heldout=r.distance / truth, k=r.lipschitz, steps=r.steps,
                ct=r.ctransform / truth if r.ctransform is not None else None,
                seconds=time.perf_counter() - start, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def settings_of(text: str) -> dict[str, str]:
    """``key=value`` settings separated by slashes (``photo=coffee/scale=2``) as a dict."""
    return dict(item.split("=") for item in text.split("/") if item)


def make_funnel_case(name: str, n: int, seed: int = 0):
    """(x, y, true W1, funnels) for a funnel case name (see the module docstring), with optional
    settings after a colon: ``photos-32-16:photo=coffee/scale=2/offset=0.3/depth=0.5``."""
    name, _, settings = name.partition(":")
    source, side, k, *indep = name.split("-")
    side, k = int(side), int(k)
    extra = settings_of(settings)
    photo = extra.pop("photo", "mixed")
    return funnel_pair(source, n, k, paired=not indep, seed=seed, size=side, dim=side,
                       photos=PHOTOS if photo == "mixed" else (photo,), **{key: float(v) for key, v in extra.items()})


def sweep_cases(count: int, sides: list[int], seed: int = 0) -> list[str]:
    """``count`` funnel cases on photo crops drawn at random (seed ``seed``) from the grid of what
    changes a pair: the photo (one, or all mixed), the crop scale, the funnels' offsets (in units
    of the median distance to the apexes), the fade depth, the number of templates, paired or
    independent draws, and the side (768-D for 16, 3,072-D for 32, 12,288-D for 64)."""
    gen = torch.Generator().manual_seed(seed)

    def pick(options: list) -> object:
        return options[int(torch.randint(len(options), (), generator=gen))]

    cases = []
    for _ in range(count):
        photo, scale = pick(["mixed", *PHOTOS]), pick([2, 4, 8])
        offset, depth, k = pick([0.0, 0.1, 0.3, 0.6]), pick([0.25, 0.5, 1.0]), pick([4, 16, 64])
        indep = pick(["", "-indep"])
        cases.append(f"photos-{pick(sides)}-{k}{indep}:photo={photo}/scale={scale}/offset={offset}/depth={depth}")
    return cases


def run_funnel_case(method: str, case: str, n: int, threads: int, steps: int, seed: int) -> dict:
    torch.set_num_threads(threads)
    x, y, truth, funnels = make_funnel_case(case, n, seed)
    start = time.perf_counter()
    if method.endswith("+cayley"):  # the overlapping orthogonal-convolution critic, not adopted (bench/cayley.py)
        critic = CayleyCritic(tuple(x.shape[1:]))
        r = CriticEstimator(method.removesuffix("+cayley"), critic, seed=seed, steps=steps).fit(x, y).result_
    else:  # options after a colon: bjorck:train_iters=3
        method, _, settings = method.partition(":")
        options = {key: yaml.safe_load(v) for key, v in settings_of(settings).items()}
        r = wasserstein1(x, y, method=method, steps=steps, seed=seed, **options)
    seconds = time.perf_counter() - start
    probe = x[:1000].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(r.potential(probe).sum(), probe)
    cos = torch.nn.functional.cosine_similarity(grad.flatten(1), -funnels.gradient(probe.detach()), dim=1)
    return dict(ratio=r.all_samples / truth, heldout=r.distance / truth, k=r.lipschitz, cos=cos.mean().item(),
                steps=r.steps, seconds=seconds, rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                chosen=r.details.get("chosen", method), test={m: v / truth for m, v in r.details.get("test", {}).items()})


def run_plugin_case(case: str, n: int, threads: int, seed: int) -> dict:
    """Exact OT on the pair (the plug-in W1, an upper bound of the population W1 in expectation),
    and the same debiased by the W1 between two halves of each set (the idea of Sinkhorn
    divergences, Feydy et al. 2019, with exact OT): plug-in - (W1(x1, x2) + W1(y1, y2)) / 2."""
    torch.set_num_threads(threads)
    x, y, truth, _ = make_funnel_case(case, n, seed)
    start = time.perf_counter()
    plug = exact_w1(x, y)
    h = n // 2
    debiased = plug - (exact_w1(x[:h], x[h:2 * h]) + exact_w1(y[:h], y[h:2 * h])) / 2
    return dict(exact=plug / truth, debiased=debiased / truth, seconds=time.perf_counter() - start)


def funnel_table(methods: list[str], cases: list[str], n: int, threads: int, steps: int, seeds: list[int]) -> str:
    """Each case with each method and seed (and the plug-in figures with ``exact`` among the
    methods), a mean row per case run over several seeds, then the worst case of each method: the
    table as printed, row by row, and returned."""
    lines = [f"n = {n} per set, at most {steps} steps (+ annealing), {threads} thread(s), critics at their defaults; "
             f"W1/truth = the critic on all samples (exact: the plug-in W1; debiased: exact less the mean W1 of "
             f"the halves of each set); held-out = the figure the CLI reads (the critic on samples it did not "
             f"train on); cos = mean cosine of grad f with the true transport direction", "",
             "| case | method | seed | W1/truth | held-out | K | cos | steps | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    print("\n".join(lines), flush=True)
    worst: dict[str, tuple[float, str]] = {}

    def emit(case: str, method: str, seed: str, r: dict) -> None:
        lines.append(funnel_row(case, method, seed, r))
        print(lines[-1], flush=True)
        if seed != "mean" and r["heldout"] < worst.get(method, (math.inf, ""))[0]:
            worst[method] = (r["heldout"], f"{case} seed {seed}")

    for case in cases:
        for method in methods:
            runs = []
            for seed in seeds:
                if method == "exact":
                    r = in_fresh_process(run_plugin_case, case, n, threads, seed)
                    r = dict(ratio=r["exact"], heldout=r["debiased"], k=math.nan, cos=math.nan, steps=0,
                             seconds=r["seconds"], chosen="exact")
                else:
                    r = in_fresh_process(run_funnel_case, method, case, n, threads, steps, seed)
                emit(case, method, str(seed), r)
                for candidate, gap in r.pop("test", {}).items():  # auto's candidates on its test split
                    emit(case, f"{candidate} (auto's split)", str(seed),
                         {**r, "heldout": gap, "ratio": math.nan, "k": math.nan, "cos": math.nan, "chosen": ""})
                runs.append(r)
            if len(runs) > 1:  # the draws of one case differ by up to 0.1 held-out at 3,072-D
                means = {key: statistics.fmean(r[key] for r in runs) for key in runs[0] if key != "chosen"}
                emit(case, method, "mean", {**means, "chosen": ""})
    lines += ["", "| method | worst held-out / truth | on |", "| --- | --- | --- |"]
    lines += [f"| {m} | {v:.3f} | {where} |" for m, (v, where) in worst.items()]
    print("\n".join(lines[-len(worst) - 3:]), flush=True)
    return "\n".join(lines)


def funnel_row(case: str, method: str, seed: str, r: dict) -> str:
    """One row of the funnel table (``auto`` names the critic it kept)."""
    name = f"auto ({r['chosen']})" if method == "auto" and r.get("chosen") else method
    return (f"| {case} | {name} | {seed} | {r['ratio']:.3f} | {r['heldout']:.3f} | {r['k']:.3f} "
            f"| {r['cos']:.3f} | {r['steps']:.0f} | {r['seconds']:.1f} |")


def curve_table(methods: list[str], case: str, ns: list[int], threads: int, steps: int, seed: int,
                plot: str | None) -> None:
    """Held-out and all-samples figures against the sample size n a side, per method, on one case
    (where a target stays out of reach: does more data close the gap?); with ``plot``, the curves
    as a PNG."""
    print(f"{case}, seed {seed}, at most {steps} steps (+ annealing), {threads} thread(s), critics at their defaults")
    print("| n a side | method | W1/truth (all samples) | held-out / truth | K | steps | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for n in ns:
        for method in methods:
            r = in_fresh_process(run_funnel_case, method, case, n, threads, steps, seed)
            curves.setdefault(method, []).append((n, r["ratio"], r["heldout"]))
            name = f"auto ({r['chosen']})" if method == "auto" else method
            print(f"| {n} | {name} | {r['ratio']:.3f} "
                  f"| {r['heldout']:.3f} | {r['k']:.3f} | {r['steps']:.0f} | {r['seconds']:.0f} |", flush=True)
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for i, (method, points) in enumerate(curves.items()):
            n, ratio, held = zip(*points)
            ax.plot(n, ratio, "o--", color=f"C{i}", label=f"{method}: all samples")
            ax.plot(n, held, "o-", color=f"C{i}", label=f"{method}: held-out (the headline)")
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.axhspan(0.9, 1.1, color="gray", alpha=0.12, label="within 10% of the truth")
        ax.set(xscale="log", xlabel="samples a side", ylabel="figure / true W1", title=case.split(":")[0])
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(plot, dpi=110)


def profile_step(case: str, n: int, threads: int, critic_kind: str, repeats: int = 30) -> dict:
    """Milliseconds of each part of a critic step on a funnel case, and of the probes around
    training: the held-out gap (ten per check window) and the final K measurement. ``critic_kind``:
    ``maxal`` (today's default critic and regularizer), ``bjorck`` (the same critic with orthonormal
    weights and no penalty; its forward pass includes the orthonormalization) or ``previous`` (MaxAL
    on the critic the last release gave images of side 16 or more, a LeakyReLU conv net with 32
    base channels). Parts a method does not have are absent."""
    from ot_gan.lipschitz import gradient_norms, interpolates, make_regularizer
    from ot_gan.models import ConvCritic, critic_for
    from ot_gan.optim import AdaShift

    torch.set_num_threads(threads)
    x, y, _, _ = make_funnel_case(case, n)
    previous = critic_kind == "previous"
    critic = ConvCritic(x.shape[1], x.shape[2], width=32) if previous else critic_for(tuple(x.shape[1:]))
    reg = (make_regularizer("maxal") if previous else make_regularizer("bjorck", train_iters=3)
           if critic_kind == "bjorck-3" else make_regularizer(critic_kind))
    critic = reg.prepare(critic)
    opt = AdaShift(critic.parameters(), lr=1e-3, betas=(0.0, 0.999), reduce="max_mean")
    est = CriticEstimator(reg, critic=critic)
    xb, yb = x[:256], y[:256]

    def forward_backward():
        f = critic(torch.cat([xb, yb]))
        (f[:256].mean() - f[256:].mean()).backward()

    def whole_step():
        f = critic(torch.cat([xb, yb]))
        loss = -(f[:256].mean() - f[256:].mean()) + reg.penalty(critic, xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        reg.after_step(critic)

    def orthonormalize():
        for module in critic.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight  # a parametrized weight is computed on each access

    parts = {"whole critic step": whole_step, "forward+backward (512 rows)": forward_backward}
    if critic_kind.startswith("bjorck"):
        parts["orthonormalizing the weights (in the forward pass)"] = orthonormalize
    else:
        parts["slopes of 256 interpolates"] = lambda: gradient_norms(critic, interpolates(xb, yb), create_graph=False)
        parts["arg-max double backward"] = lambda: gradient_norms(critic, interpolates(xb[:1], yb[:1]))[0].backward()
    parts |= {"AdaShift step": opt.step,
              "held-out gap (2,048 a side; every 50 steps)": lambda: est._gap(x[:2048], y[:2048]),
              "K on 16,384 interpolates (once)": lambda: est.lipschitz_constant(x, y)}
    whole_step()  # AdaShift's state and gradients in place
    times = {}
    for name, fn in parts.items():
        count = repeats if "K on" not in name else 2
        fn()
        start = time.perf_counter()
        for _ in range(count):
            fn()
        times[name] = 1000 * (time.perf_counter() - start) / count
    return times


def in_fresh_process(fn, *args):
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def accuracy_table(methods: list[str], cases: list[str], n: int, threads: int, steps: int, group: int) -> None:
    print(f"n = {n} per set, at most {steps} steps (+ annealing), GroupSort groups of {group or 'the default size'}, {threads} thread(s); "
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
    return dict(ratio=r.all_samples / truth, k=r.lipschitz, steps=r.steps, seconds=time.perf_counter() - start,
                rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def scale_2d(threads: int, n: int) -> dict:
    torch.set_num_threads(threads)
    x, y = toy_2d("checkerboard", n, 0), toy_2d("gaussians", n, 1)
    start = time.perf_counter()
    exact = exact_w1(x, y, max_entries=n * n)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    r = wasserstein1(x, y, steps=3000, ctransform=True)
    return dict(exact=exact, t_exact=t_exact, ratio=r.all_samples / exact, ct=r.ctransform / exact, k=r.lipschitz,
                steps=r.steps, seconds=time.perf_counter() - start)


def section(args: argparse.Namespace) -> str:
    """The section of docs/benchmarks.md that ``--write`` puts this run's table in."""
    if args.profile:
        return "Where the critic's time goes"
    if args.curve:
        return "W1 at image size against the samples a side"
    if args.funnels or args.sweep:
        return "W1 at image size: funnel pairs with a known answer"
    return "W1 at scale" if args.scale else "W1 estimators against known answers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=None,
                        help="step cap: 3,000 for the Gaussian and mixture cases, the CLI's 8,000 for the funnels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--group", type=int, default=None,
                        help="the MLP critics' GroupSort group size (default: the estimator's, by dimension)")
    parser.add_argument("--funnels", action="store_true", help="the funnel pairs with a known W1 instead")
    parser.add_argument("--seeds", default="0", help="funnel cases: seeds to run each case with")
    parser.add_argument("--sweep", type=int, default=0, metavar="N",
                        help="funnel cases: N photo-crop cases drawn at random from the grid of photo, crop scale, "
                             "offsets, fade depth, templates, paired or independent (see sweep_cases)")
    parser.add_argument("--sides", default="16,32", help="--sweep: crop sides to draw from (16: 768-D, 32: 3,072-D, "
                        "64: 12,288-D)")
    parser.add_argument("--profile", default=None, metavar="CASE",
                        help="time the parts of a critic step on a funnel case (e.g. photos-32-16)")
    parser.add_argument("--curve", default=None, metavar="N,N,...",
                        help="funnel case: the figures against the samples a side, on the first of --cases")
    parser.add_argument("--plot", default=None, metavar="PNG", help="--curve: draw the curves in this file")
    parser.add_argument("--scale", action="store_true", help="the two large-scale runs instead")
    parser.add_argument("--scale-n", type=int, default=1_000_000)
    parser.add_argument("--scale-2d-n", default="10000,20000",
                        help="sizes of the 2-D runs against ot.emd2 (20k needs a 3.2 GB cost matrix)")
    add_write_flag(parser, section)
    args = parser.parse_args()
    if args.profile:
        kinds = ("maxal", "bjorck", "bjorck-3", "previous")
        times = {kind: in_fresh_process(profile_step, args.profile, args.n, args.threads, kind) for kind in kinds}
        print(f"{args.profile}, batch 256 a side, {args.threads} thread(s): milliseconds per call; maxal and bjorck "
              f"on today's default critic (bjorck: at most 15 Bjorck steps while training, stopping once orthonormal within 1e-4, the default; bjorck-3: at most 3), previous = MaxAL on the "
              f"previous release's conv critic (LeakyReLU)")
        print("| part | maxal ms | bjorck ms | bjorck-3 ms | previous ms | bjorck / maxal | bjorck-3 / maxal |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name in dict.fromkeys([*times["maxal"], *times["bjorck"]]):
            cells = [f"{times[k][name]:.1f}" if name in times[k] else "-" for k in kinds]
            ratios = [f"{times[k][name] / times['maxal'][name]:.2f}" if name in times[k] and name in times["maxal"]
                      else "-" for k in kinds[1:3]]
            print(f"| {name} | {' | '.join(cells)} | {' | '.join(ratios)} |")
        return
    if args.curve:
        methods = ["maxal", "bjorck"] if args.methods == ",".join(METHODS) else args.methods.split(",")
        curve_table(methods, args.cases.split(",")[0], [int(n) for n in args.curve.split(",")], args.threads,
                    args.steps or 8000, int(args.seeds.split(",")[0]), args.plot)
        return
    if args.funnels or args.sweep:
        cases = (sweep_cases(args.sweep, [int(s) for s in args.sides.split(",")]) if args.sweep else
                 FUNNEL_CASES if args.cases == ",".join(CASES) else args.cases.split(","))
        methods = ["maxal", "gp"] if args.methods == ",".join(METHODS) else args.methods.split(",")
        funnel_table(methods, cases, args.n, args.threads, args.steps or 8000, [int(s) for s in args.seeds.split(",")])
        return
    if not args.scale:
        accuracy_table(args.methods.split(","), args.cases.split(","), args.n, args.threads, args.steps or 3000,
                       args.group)
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
