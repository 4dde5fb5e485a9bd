"""``ot-gan translate``: unpaired image translation that keeps what the user's cost says.

CycleGAN (arXiv 1703.10593) learns *a* bijection between two image sets; a task cost c(x, y)
chooses which one (docs/algorithms.md section 6):
- ``--guidance reference`` (OT-CycleGAN, arXiv 1811.06284): solve the discrete OT plan between the
  training sets under c with POT, give each image its barycentric target in the other domain and
  add lambda_ref * L1(G(x), target) in both directions;
- ``--guidance cost`` (arXiv 2003.06635): add lambda_cost * c(x, G(x)) to the generator loss, with
  ``--cycle none|one|two`` for the K-, M- and B-solvers;
- ``--guidance none``: plain CycleGAN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.utils import save_image
from tqdm.auto import tqdm

from ot_gan.color import gray_to_y
from ot_gan.data import load_source, read_image, resize_crop, source_path
from ot_gan.engine import (
    Batch,
    Task,
    TrainConfig,
    TrainResult,
    apply_to_folder,
    check_fits,
    input_files,
    load_generator,
    train,
)
from ot_gan.errors import InputError
from ot_gan.lipschitz import METHODS, regularizer_by_name
from ot_gan.models import PatchDiscriminator, ResnetGenerator
from ot_gan.objectives import OBJECTIVES, get_objective
from ot_gan.options import option, redefault
from ot_gan.transport import COSTS, TaskCost, barycentric_targets, transport_plan
from ot_gan.w1 import wasserstein1

APP = "translate"
DIRECTIONS = ("a2b", "b2a")


@dataclass
class TranslateConfig(TrainConfig):
    """Everything a translate training depends on (the engine's settings plus the model's)."""

    a: str | None = option(None, "Domain A: an image folder, .npy/.npz images or a built-in source; a folder "
                                 "with trainA/ and trainB/ sets both domains.", type=str)
    b: str | None = option(None, "Domain B (not needed with a trainA/trainB folder).", type=str)
    size: int = option(128, "Training crop side in pixels (a multiple of 4).", min=4)
    steps: int = redefault(TrainConfig, "steps", 100_000)
    batch_size: int = option(1, "Global batch size (1 as in the reference CycleGAN).", min=1)
    decay_steps: int = redefault(TrainConfig, "decay_steps", 50_000)
    sample_every: int = redefault(TrainConfig, "sample_every", 1000)
    checkpoint_every: int = redefault(TrainConfig, "checkpoint_every", 1000)
    guidance: str = option("reference", "reference: OT-CycleGAN targets; cost: the cost in the loss; none: "
                                        "plain CycleGAN.", choices=("reference", "cost", "none"))
    cost: str = option("l2", f"Task cost: {', '.join(COSTS)} or module:function.")
    lambda_ref: float = option(30.0, "reference: weight of L1(G(x), OT target).")
    lambda_cost: float = option(10.0, "cost: weight of c(x, G(x)).")
    ot_subset: int = option(1000, "reference: images per side in the OT problem (a seeded random subset).",
                            min=1)
    ot_solver: str = option("exact", "reference: POT's exact EMD, or Sinkhorn for large subsets.",
                            choices=("exact", "sinkhorn"))
    cycle: str = option("two", "Cycle terms: two (B-solver, CycleGAN), one (B->A->B only, M-solver), none "
                               "(K-solver).", choices=("two", "one", "none"))
    cycle_weight: float = option(10.0, "Weight of each L1 cycle term.")
    identity: float = option(0.5, "Identity loss weight, as a fraction of the cycle weight (same channels only).")
    objective: str = option("lsgan", "GAN objective (lsgan as in the reference; an LGAN objective with a "
                                     "regularizer).", choices=tuple(OBJECTIVES))
    regularizer: str = option("none", "The critics' Lipschitz regularizer.", choices=("none",) + METHODS)
    rho: float = option(10.0, "Weight of the gradient penalties (gp, lp, maxgp, maxal).")
    pool: int = option(50, "Image pool of past fakes shown to the critics (0 = none).")
    blocks: int = option(6, "Residual blocks of the ResNet generators (6 or 9 in the reference).")
    width: int = option(64, "Channels of the generators' first layer.", min=1)
    critic_width: int = option(64, "Channels of the PatchGAN's first layer.", min=1)
    critic_layers: int = option(3, "Stride-2 layers of the PatchGAN (3: 70x70 patches).", min=1)
    noise: int = option(0, "Noise channels appended to the generators' input, for stochastic maps.")


class ImagePool(nn.Module):
    """A buffer of past fakes (Shrivastava et al. 2017, as in CycleGAN): each new fake is stored
    while the pool fills; then with probability 1/2 a stored one is shown in its place and
    replaced by it. Its content travels in ``state_dict`` so that resume is exact."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.images: list[Tensor] = []

    @torch.no_grad()
    def query(self, fakes: Tensor, batch: Batch) -> Tensor:
        if self.size == 0:
            return fakes
        coin, pick = batch.uniform(len(fakes)).cpu(), batch.uniform(len(fakes)).cpu()
        out = []
        for image, c, p in zip(fakes, coin.tolist(), pick.tolist()):
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif c < 0.5:
                i = int(p * self.size)
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def get_extra_state(self) -> dict[str, Any]:
        return {"images": torch.stack(self.images).cpu() if self.images else None}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        stored = state["images"]
        self.images = [] if stored is None else list(stored.unbind())


def build_generators(arch: dict[str, Any]) -> nn.ModuleDict:
    """The two generators a run's checkpoint describes."""
    ca, cb = arch["channels_a"], arch["channels_b"]
    upsample = arch.get("upsample", "transpose")  # runs saved before resize-convolutions
    return nn.ModuleDict({
        "a2b": ResnetGenerator(ca, cb, arch["width"], arch["blocks"], arch["noise"], upsample),
        "b2a": ResnetGenerator(cb, ca, arch["width"], arch["blocks"], arch["noise"], upsample)})


def l1(x: Tensor, y: Tensor) -> Tensor:
    """Per-sample mean absolute difference."""
    return (x - y).abs().flatten(1).mean(dim=1)


class TranslateTask(Task):
    """Two generators (a2b, b2a) and two PatchGAN critics (a, b) for the engine."""

    app = APP

    def __init__(self, cfg: TranslateConfig, preview_a: Tensor, preview_b: Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        self.channels = {"a": preview_a.shape[1], "b": preview_b.shape[1]}
        self.generator = build_generators(self.architecture())
        self.regularizers = nn.ModuleDict({side: regularizer_by_name(cfg.regularizer, cfg.rho) for side in "ab"})
        self.critic = nn.ModuleDict({
            side: self.regularizers[side].prepare(
                PatchDiscriminator(self.channels[side], cfg.critic_width, cfg.critic_layers)) for side in "ab"})
        self.pools = nn.ModuleDict({side: ImagePool(cfg.pool) for side in "ab"})
        self.objective = get_objective(cfg.objective)
        self.cost = TaskCost(cfg.cost) if cfg.guidance == "cost" else None
        self.register_buffer("preview_a", preview_a, persistent=False)
        self.register_buffer("preview_b", preview_b, persistent=False)
        # The last generator step's fakes, shown to the critics at the next critic step, as the
        # reference CycleGAN does, so that no generator pass is computed twice.
        self.recent_fakes: dict[str, Tensor] | None = None

    def get_extra_state(self) -> dict[str, Any]:
        return {"recent_fakes": self.recent_fakes}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.recent_fakes = state["recent_fakes"]

    def architecture(self) -> dict[str, Any]:
        return {"channels_a": self.channels["a"], "channels_b": self.channels["b"], "size": self.cfg.size,
                "width": self.cfg.width, "blocks": self.cfg.blocks, "noise": self.cfg.noise, "cost": self.cfg.cost,
                "upsample": "resize"}

    def translate(self, direction: str, x: Tensor, batch: Batch) -> Tensor:
        noise = batch.noise(len(x), self.cfg.noise, *x.shape[2:]) if self.cfg.noise else None
        return self.generator[direction](x, noise)

    def critic_loss(self, batch: Batch) -> dict[str, Tensor]:
        a, b = batch["a"][0], batch["b"][0]
        fakes, self.recent_fakes = self.recent_fakes, None
        if fakes is not None:
            fakes = {side: fake.to(a.device) for side, fake in fakes.items()}
        else:
            with torch.no_grad():
                fakes = {"b": self.translate("a2b", a, batch), "a": self.translate("b2a", b, batch)}
        total, penalties = a.new_zeros(()), a.new_zeros(())
        for side, real in (("a", a), ("b", b)):
            critic, fake = self.critic[side], self.pools[side].query(fakes[side], batch)
            penalty = self.regularizers[side].penalty(lambda x, c=critic: c(x).mean(dim=(1, 2, 3)), real, fake)
            total = total + 0.5 * self.objective.critic_loss(critic(real), critic(fake)) + penalty
            penalties = penalties + penalty
        return {"loss": total, "penalty": penalties}

    def generator_loss(self, batch: Batch) -> dict[str, Tensor]:
        cfg = self.cfg
        (a, *ref_a), (b, *ref_b) = batch["a"], batch["b"]
        fake_b, fake_a = self.translate("a2b", a, batch), self.translate("b2a", b, batch)
        self.recent_fakes = {"a": fake_a.detach(), "b": fake_b.detach()}
        terms = {"adversarial": self.objective.generator_loss(self.critic["b"](fake_b))
                 + self.objective.generator_loss(self.critic["a"](fake_a))}
        if cfg.cycle != "none":
            terms["cycle"] = cfg.cycle_weight * l1(self.translate("a2b", fake_a, batch), b).mean()
            if cfg.cycle == "two":
                terms["cycle"] = terms["cycle"] + cfg.cycle_weight * l1(self.translate("b2a", fake_b, batch), a).mean()
        if cfg.identity and self.channels["a"] == self.channels["b"]:
            terms["identity"] = cfg.identity * cfg.cycle_weight * (
                l1(self.translate("a2b", b, batch), b).mean() + l1(self.translate("b2a", a, batch), a).mean())
        if cfg.guidance == "reference":
            terms["reference"] = cfg.lambda_ref * (_masked_mean(l1(fake_b, ref_a[0]), ref_a[1])
                                                   + _masked_mean(l1(fake_a, ref_b[0]), ref_b[1]))
        elif cfg.guidance == "cost":
            terms["cost"] = cfg.lambda_cost * (self.cost(a, fake_b).mean() + self.cost(b, fake_a).mean())
        return {"loss": sum(terms.values()), **terms}

    def after_critic_step(self) -> None:
        for side in "ab":
            self.regularizers[side].after_step(self.critic[side])

    def samples(self, generator: nn.Module, gen: torch.Generator) -> Tensor:
        """Rows: A, A->B, B, B->A (4 images each)."""
        a, b = self.preview_a, self.preview_b

        def noise(x: Tensor) -> Tensor | None:
            if not self.cfg.noise:
                return None
            return torch.randn(len(x), self.cfg.noise, *x.shape[2:], generator=gen).to(x)

        rows = [a, generator["a2b"](a, noise(a)), b, generator["b2a"](b, noise(b))]
        return torch.cat([r.expand(-1, 3, -1, -1) if r.shape[1] == 1 else r for r in rows])


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """The mean of ``values`` where ``mask`` holds (images outside the OT subset have no target)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def load_domains(cfg: TranslateConfig) -> tuple[Tensor, Tensor]:
    """Both training domains as images in [-1, 1] at ``cfg.size``."""
    a, b = cfg.a, cfg.b
    if a is None:
        raise InputError("--a is required: domain A's images (or a folder with trainA/ and trainB/)")
    if b is None:
        root = source_path(a)
        if root is None or not ((root / "trainA").is_dir() and (root / "trainB").is_dir()):
            raise InputError("--b is required unless --a is a folder with trainA/ and trainB/")
        a, b = str(root / "trainA"), str(root / "trainB")
    domains = []
    for spec in (a, b):
        samples = load_source(spec, size=cfg.size, seed=cfg.seed, skip_bad=cfg.skip_bad)
        if not samples.is_image:
            raise InputError(f"{spec}: translate needs images, not vectors")
        domains.append(samples.data)
    return domains[0], domains[1]


Targets = tuple[Tensor, Tensor]  # (barycentric targets, has_target)


def reference_targets(a: Tensor, b: Tensor, cfg: TranslateConfig) -> tuple[Targets, Targets]:
    """(targets, has_target) for A and for B: barycentric OT targets under the task cost, for a
    seeded random subset of ``cfg.ot_subset`` images per side."""
    gen = torch.Generator().manual_seed(cfg.seed)
    ia = torch.randperm(len(a), generator=gen)[:cfg.ot_subset].sort().values
    ib = torch.randperm(len(b), generator=gen)[:cfg.ot_subset].sort().values
    cost = TaskCost(cfg.cost)
    plan = transport_plan(cost.matrix(a[ia], b[ib]), cfg.ot_solver)
    targets_a, targets_b = torch.zeros(len(a), *b.shape[1:]), torch.zeros(len(b), *a.shape[1:])
    has_a, has_b = torch.zeros(len(a), dtype=torch.bool), torch.zeros(len(b), dtype=torch.bool)
    targets_a[ia], has_a[ia] = barycentric_targets(plan, b[ib]), True
    targets_b[ib], has_b[ib] = barycentric_targets(plan.T, a[ia]), True
    return (targets_a, has_a), (targets_b, has_b)


def train_translator(cfg: TranslateConfig, out: Path, overwrite: bool = False, resume: bool = False) -> TrainResult:
    """Train both generators on the two domains into the run directory ``out``."""
    if cfg.size % 4:
        raise InputError(f"--size {cfg.size}: the ResNet generator needs a multiple of 4")
    if cfg.size >> cfg.critic_layers < 4:
        raise InputError(f"--critic-layers {cfg.critic_layers} shrinks {cfg.size} px images below 4x4 patches; "
                         "use fewer layers or a larger --size")
    TaskCost(cfg.cost)  # refuse an unknown cost before loading anything
    a, b = load_domains(cfg)
    data: dict[str, Any] = {"a": (a,), "b": (b,)}
    if cfg.guidance == "reference":
        (ta, ha), (tb, hb) = reference_targets(a, b, cfg)
        data = {"a": (a, ta, ha), "b": (b, tb, hb)}
    preview = torch.Generator().manual_seed(cfg.seed)
    pa, pb = (x[torch.randperm(len(x), generator=preview)[:4]] for x in (a, b))
    return train(lambda: TranslateTask(cfg, pa, pb), cfg, data, out, overwrite=overwrite, resume=resume)


# ---- apply and eval ----------------------------------------------------------------------------------
def load_translator(run: Path, direction: str, device: torch.device) -> tuple[ResnetGenerator, dict[str, Any]]:
    """One direction's generator of a trained run (EMA weights if kept) and the run's architecture."""
    generators, arch = load_generator(run, APP, build_generators, device)
    return generators[direction], arch


@torch.no_grad()
def run_generator(generator: ResnetGenerator, x: Tensor, seed: int = 0) -> Tensor:
    """G(x) for images (n, C, H, W) in [-1, 1] of any size: reflect-padded to multiples of 4."""
    h, w = x.shape[2:]
    ph, pw = -h % 4, -w % 4
    padded = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
    noise = None
    if generator.noise_channels:
        noise = torch.randn(len(x), generator.noise_channels, *padded.shape[2:],
                            generator=torch.Generator().manual_seed(seed)).to(x)
    return generator(padded, noise)[:, :, :h, :w]


def apply_folder(run: Path, inputs: Path, output: Path, direction: str = "a2b", keep_size: bool = False,
                 seed: int = 0, device: torch.device = torch.device("cpu"), progress: bool = True,
                 skip_bad: bool = False) -> int:
    """Translate every image under ``inputs`` into ``output`` with the same relative names (all of
    them or, on failure, none); ``skip_bad`` leaves out files that cannot be read."""
    files = input_files(inputs)
    generator, arch = load_translator(run, direction, device)
    channels = arch["channels_a" if direction == "a2b" else "channels_b"]
    with apply_to_folder(inputs, files, output, channels, skip_bad) as pairs:
        for src, (dst,) in tqdm(pairs, desc=f"translate {direction}", disable=not progress):
            image = read_image(src, channels)
            if not keep_size:
                image = resize_crop(image, arch["size"])
            y = run_generator(generator, (image[None] * 2 - 1).to(device), seed)
            save_image((y[0].float().cpu() + 1) / 2, dst)
    return len(pairs)


def with_channels(x: Tensor, channels: int) -> Tensor:
    """Images with ``channels`` channels: gray widened to RGB, RGB narrowed to its luminance."""
    if x.shape[1] == channels:
        return x
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else gray_to_y(x)


def evaluate(run: Path, a: str, b: str, w1_steps: int = 1000, seed: int = 0,
             device: torch.device = torch.device("cpu"), progress: bool = False,
             skip_bad: bool = False) -> dict[str, Any]:
    """Mismatch (mean task cost between inputs and translations) and realism (W1 to the real
    images of the target domain, and of the untranslated inputs for scale) in both directions."""
    generators, arch = load_generator(run, APP, build_generators, device)
    cfg = TranslateConfig(a=a, b=b, size=arch["size"], seed=seed, skip_bad=skip_bad)
    xa, xb = load_domains(cfg)
    for spec, x, side in ((a, xa, "a"), (b, xb, "b")):
        check_fits(spec, x, arch[f"channels_{side}"], part=f"the run's domain {side.upper()}")
    cost = TaskCost(arch["cost"])
    result: dict[str, Any] = {"run": str(run), "cost": arch["cost"]}
    for direction, x, y in (("a2b", xa, xb), ("b2a", xb, xa)):
        generator = generators[direction]
        translated = torch.cat([run_generator(generator, part.to(device), seed).float().cpu() for part in x.split(64)])
        w1 = wasserstein1(translated.flatten(1), y.flatten(1), method="maxal", steps=w1_steps, device=device,
                          seed=seed, progress=progress)
        before = wasserstein1(with_channels(x, y.shape[1]).flatten(1), y.flatten(1), method="maxal",
                              steps=w1_steps, device=device, seed=seed, progress=progress)
        result[direction] = {"n": len(x), "mismatch": float(cost(x, translated).mean()),
                             "w1_to_target": w1.distance, "w1_input_to_target": before.distance}
    return result


