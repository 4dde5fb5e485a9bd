"""Does the task cost decide which mapping ``ot-gan translate`` learns, on tasks it was not tuned on?

Each task has a known right mapping, and none is the README demo (four palette colors):

- ``hue``: handwritten 2s -> 7s, each image stroked in its own continuous random hue; the right
  map keeps the hue (cost ``color``).
- ``invert``: digits 0-4 white on black -> other digits 0-4 black on white (disjoint halves of
  the data, so no pairs are given); the right map keeps the digit's shape (cost ``edges``).
- ``palette``: patches of one photo (skimage's cat) -> patches of another (the coffee cup), at half
  resolution; the right map redraws a patch as the other photo's but keeps its mean color (cost
  ``color``).
- ``rotate``: digits 0-4 upright -> other digits 0-4 turned a quarter turn; the right map keeps the
  class, and the cost is a classifier's (``module:function``, as in arXiv 2003.06635's domain
  adaptation): the squared difference of the class probabilities of a network trained on labeled
  digits of both domains.

Per task and guidance, at equal steps: mismatch (the task cost between inputs and outputs, A->B),
realism (W1 from the outputs to the target set, MaxAL, 500 steps), and for the digit tasks the
rate at which a classifier trained on the real upright digits (not the cost's) reads the outputs
as the right class (the target class for ``hue``, the input's for ``invert`` and ``rotate``).
Guidances: ``none`` (plain CycleGAN), ``reference`` (OT targets), ``cost`` (the cost in the loss
with both cycles, the B-solver of arXiv 2003.06635), ``cost-M`` (one cycle) and ``cost-K`` (none).
Each task also prints its OT floor: the least mean cost of any pairing of A with B's images (exact
OT under the task cost), which a mapping onto the target domain cannot go below by much; where it is
far from 0 (``palette``: the two photos' colors differ), compare the excess over it.

    python bench/translate_tasks.py [--tasks hue,invert,palette,rotate] [--steps 600]
                                    [--guidance none,reference,cost,cost-M,cost-K] [--pictures DIR]

With ``--pictures`` each task's first 16 inputs and their translations (one row per guidance) are
saved as DIR/TASK.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import ot
import skimage.data
import torch
from report import add_write_flag  # run as a script: bench/ is on the path
from skimage.color import hsv2rgb
from torchvision.utils import save_image

from ot_gan.data import Samples, load_source
from ot_gan.tasks.synthesize import train_classifier
from ot_gan.tasks.translate import TranslateConfig, load_translator, run_generator, train_translator
from ot_gan.transport import TaskCost
from ot_gan.w1 import wasserstein1

SIZE = 16
SMALL = dict(size=SIZE, width=16, blocks=2, critic_width=16, critic_layers=2, batch_size=8,
             sample_every=0, quiet=True)


def digits(classes: list[int], half: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits of ``classes`` at SIZE px in [-1, 1] with their labels; ``half`` 0 or 1 keeps every
    other image, so that two halves share no image."""
    s = load_source("digits", size=SIZE)
    keep = torch.isin(s.labels, torch.tensor(classes))
    x, y = s.data[keep], s.labels[keep]
    if half is not None:
        x, y = x[half::2], y[half::2]
    return x, y


def in_random_hues(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Gray digits stroked in one uniformly random, fully saturated hue each, on black."""
    hue = np.random.default_rng(seed).uniform(size=len(x))
    ink = torch.as_tensor(hsv2rgb(np.stack([hue, np.ones_like(hue), np.ones_like(hue)], 1)[:, None]),
                          dtype=torch.float32)[:, 0]  # (n, 3)
    return ((x + 1) / 2) * ink[:, :, None, None] * 2 - 1


def photo_patches(name: str) -> torch.Tensor:
    """SIZE-px patches, stride SIZE/2, of the skimage photo ``name`` at half resolution, in [-1, 1]."""
    photo = torch.as_tensor(getattr(skimage.data, name)()).permute(2, 0, 1)[None].float() / 127.5 - 1
    half = torch.nn.functional.interpolate(photo, scale_factor=0.5, mode="bilinear", antialias=True)
    patches = half.unfold(2, SIZE, SIZE // 2).unfold(3, SIZE, SIZE // 2)  # (1, 3, rows, cols, SIZE, SIZE)
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, SIZE, SIZE).clamp(-1, 1).contiguous()


COST_MODULE = "translate_tasks_costs"


def register_class_cost(upright: torch.Tensor, turned: torch.Tensor, labels_up: torch.Tensor,
                        labels_turned: torch.Tensor) -> str:
    """The ``module:function`` name of a classifier cost: a network trained (seed 1) on labeled
    digits of both domains, c(x, y) = |p(x) - p(y)|^2 of its class probabilities."""
    data = Samples(torch.cat([upright, turned]), torch.cat([labels_up, labels_turned]), [str(k) for k in range(10)])
    net = train_classifier(data, steps=1500, seed=1).requires_grad_(False)

    def class_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (net(x).softmax(1) - net(y).softmax(1)).square().sum(1)

    sys.modules[COST_MODULE] = types.SimpleNamespace(class_cost=class_cost)
    return f"{COST_MODULE}:class_cost"


def task_data(task: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, str]:
    """Domain A, domain B, the right class of each A image after translation and B's classes (None
    for the photos), and the task cost."""
    if task == "hue":
        a, _ = digits([2])
        b, _ = digits([7])
        return in_random_hues(a, 0), in_random_hues(b, 1), torch.full((len(a),), 7), torch.full((len(b),), 7), "color"
    if task == "invert":
        a, labels_a = digits([0, 1, 2, 3, 4], half=0)
        b, labels_b = digits([0, 1, 2, 3, 4], half=1)
        return a, -b, labels_a, labels_b, "edges"
    if task == "palette":
        return photo_patches("chelsea"), photo_patches("coffee"), None, None, "color"
    if task == "rotate":
        a, labels_a = digits([0, 1, 2, 3, 4], half=0)
        b, labels_b = digits([0, 1, 2, 3, 4], half=1)
        b = torch.rot90(b, 1, (2, 3))
        return a, b, labels_a, labels_b, register_class_cost(a, b, labels_a, labels_b)
    raise SystemExit(f"unknown task {task!r}; choose hue, invert, palette or rotate")


def as_upright_white_on_black(task: str, images: torch.Tensor) -> torch.Tensor:
    """What the digit classifier reads: the brightest channel of a hue digit, an inverted digit
    undone, a turned digit turned back."""
    if task == "hue":
        return images.amax(1, keepdim=True)
    return -images if task == "invert" else torch.rot90(images, -1, (2, 3))


def guidance_settings(guidance: str) -> dict[str, str]:
    """TranslateConfig settings of a guidance row: cost-M and cost-K are the cost with one cycle
    term and with none."""
    name, _, solver = guidance.partition("-")
    return {"guidance": name, **({"cycle": {"M": "one", "K": "none"}[solver]} if solver else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="hue,invert,palette,rotate")
    parser.add_argument("--guidance", default="none,reference,cost,cost-M,cost-K")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pictures", type=Path, help="a folder for one grid of inputs and outputs per task")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="a TranslateConfig setting for every run, e.g. --set lambda_ref 30")
    add_write_flag(parser, "Translation: tasks it was not tuned on")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: type(getattr(TranslateConfig, k))(v) for k, v in args.set}
    real, labels = digits(list(range(10)))
    classifier = train_classifier(Samples(real, labels, [str(k) for k in range(10)]), steps=1500, seed=0).eval()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            a, b, right, b_classes, cost = task_data(task)
            for side, x in (("a", a), ("b", b)):
                np.save(Path(tmp) / f"{task}-{side}.npy", x.numpy())
            if right is not None:
                with torch.no_grad():
                    real_rate = float((classifier(as_upright_white_on_black(task, b)).argmax(1) == b_classes)
                                      .float().mean())
                rows.append((task, "real B", None, None, real_rate, None))
            rows.append((task, "OT floor", ot.emd2([], [], TaskCost(cost).matrix(a, b)), None, None, None))
            grid = [a[:16]]
            for guidance in filter(None, args.guidance.split(",")):
                start = time.time()
                cfg = TranslateConfig(**{**SMALL, "a": f"{tmp}/{task}-a.npy", "b": f"{tmp}/{task}-b.npy",
                                         "steps": args.steps, "decay_steps": args.steps // 3, "cost": cost,
                                         **guidance_settings(guidance), "threads": args.threads, **overrides})
                out = Path(tmp) / f"{task}-{guidance}"
                train_translator(cfg, out)
                generator, _ = load_translator(out, "a2b", torch.device("cpu"))
                y = run_generator(generator, a)
                grid.append(y[:16])
                with torch.no_grad():
                    right_rate = None if right is None else float(
                        (classifier(as_upright_white_on_black(task, y)).argmax(1) == right).float().mean())
                rows.append((task, guidance, float(TaskCost(cost)(a, y).mean()),
                             wasserstein1(y.flatten(1), b.flatten(1), steps=500, seed=0).distance,
                             right_rate, time.time() - start))
                print(*rows[-1], flush=True)
            if args.pictures:
                args.pictures.mkdir(parents=True, exist_ok=True)
                save_image(torch.cat([g.expand(-1, 3, -1, -1) for g in grid]) * 0.5 + 0.5,
                           args.pictures / f"{task}.png", nrow=16, padding=1)
    # "real B": the classifier on the real target images, what "right class" can reach; "OT floor":
    # the least mean cost of any pairing of A with B's images (exact OT under the task cost), what
    # a mapping onto the target domain can reach.
    print(f"\n{'task':8} {'guidance':10} {'mismatch':>9} {'W1 to B':>8} {'right class':>11} {'seconds':>8}")
    for task, guidance, *figures in rows:
        cells = ["-" if v is None else f"{v:{form}}" for v, form in zip(figures, (".4f", ".3f", ".2f", ".0f"))]
        print(f"{task:8} {guidance:10} {cells[0]:>9} {cells[1]:>8} {cells[2]:>11} {cells[3]:>8}")
    plain = {task: m for task, g, m, *_ in rows if g == "none"}
    floor = {task: m for task, g, m, *_ in rows if g == "OT floor"}
    for task, guidance, mismatch, *_ in rows:
        if guidance not in ("none", "real B", "OT floor") and task in plain:
            print(f"{task}: {guidance} mismatch / plain = {mismatch / plain[task]:.2f}, above the floor / plain's "
                  f"= {(mismatch - floor[task]) / (plain[task] - floor[task]):.2f}")


if __name__ == "__main__":
    main()
