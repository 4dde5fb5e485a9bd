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

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.utils import save_image
from tqdm.auto import tqdm

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
from ot_gan.models import ImagePool, PatchDiscriminator, ResnetGenerator
from ot_gan.objectives import OBJECTIVES, get_objective
from ot_gan.options import option, redefault
from ot_gan.realism import COLLAPSED, feature_map, output_problems, realism_report, spaces, spread_ratio
from ot_gan.transport import COSTS, TaskCost, barycentric_targets, transport_plan

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
    # Not offered: the generators' instance norm already normalizes each image by its own statistics,
    # so an output never depends on its batch, which is what virtual batch norm is for.
    virtual_batch_norm: bool = dataclasses.field(default=False, kw_only=True)
    reference_batch: int = dataclasses.field(default=0, kw_only=True)


def build_generators(arch: dict[str, Any]) -> nn.ModuleDict:
    """The two generators a run's checkpoint describes."""
    ca, cb = arch["channels_a"], arch["channels_b"]
    # runs saved before resize-convolutions and symmetric downsampling
    sampling = arch.get("upsample", "transpose"), arch.get("downsample", "zero")
    return nn.ModuleDict({
        "a2b": ResnetGenerator(ca, cb, arch["width"], arch["blocks"], arch["noise"], *sampling),
        "b2a": ResnetGenerator(cb, ca, arch["width"], arch["blocks"], arch["noise"], *sampling)})


def l1(x: Tensor, y: Tensor) -> Tensor:
    """Per-sample mean absolute difference."""
    return (x - y).abs().flatten(1).mean(dim=1)


class TranslateTask(Task):
    """Two generators (a2b, b2a) and two PatchGAN critics (a, b) for the engine."""

    app = APP
    implements = frozenset({"minibatch_discrimination", "label_smoothing"})

    def __init__(self, cfg: TranslateConfig, preview_a: Tensor, preview_b: Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        self.channels = {"a": preview_a.shape[1], "b": preview_b.shape[1]}
        self.generator = build_generators(self.architecture())
        self.regularizers = nn.ModuleDict({side: regularizer_by_name(cfg.regularizer, cfg.rho) for side in "ab"})
        minibatch = (cfg.minibatch_kernels, cfg.minibatch_kernel_dim) if cfg.minibatch_discrimination else None
        self.critic = nn.ModuleDict({
            side: self.regularizers[side].prepare(
                PatchDiscriminator(self.channels[side], cfg.critic_width, cfg.critic_layers, minibatch))
            for side in "ab"})
        self.pools = nn.ModuleDict({side: ImagePool(cfg.pool) for side in "ab"})
        self.objective = get_objective(cfg.objective)
        if cfg.label_smoothing:
            self.objective.require_labels()
        self.real_target = cfg.real_target if cfg.label_smoothing else 1.0
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
                "upsample": "resize", "downsample": "symmetric"}

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
            n = len(fakes[side])
            critic, fake = self.critic[side], self.pools[side].query(fakes[side], batch.uniform(n), batch.uniform(n))
            penalty = self.regularizers[side].penalty(lambda x, c=critic: c(x).mean(dim=(1, 2, 3)), real, fake)
            total = total + 0.5 * self.objective.critic_loss(critic(real), critic(fake), self.real_target) + penalty
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

    def critic_inputs(self, batch: Batch) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """Real (a, b) and their translations (b2a(b), a2b(a)), for feature matching in both domains."""
        a, b = batch["a"][0], batch["b"][0]
        return (a, b), (self.translate("b2a", b, batch), self.translate("a2b", a, batch))

    def critic_features(self, x: tuple[Tensor, Tensor]) -> Tensor:
        """Each domain's critic's last hidden feature map, side by side (one row per pair)."""
        return torch.cat([self.critic[side].features(images).flatten(1) for side, images in zip("ab", x)], dim=1)

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

    def sample_titles(self) -> tuple[list[str] | None, list[str] | None]:
        return ["A", "A->B", "B", "B->A"], None


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
    result = train(lambda: TranslateTask(cfg, pa, pb), cfg, data, out, overwrite=overwrite, resume=resume)
    if result.run is not None and not result.interrupted:
        check_run(result.run, a, b, cfg.seed)
    return result


def check_run(run: Path, a: Tensor, b: Tensor, seed: int = 0, most: int = 200) -> None:
    """Warn, in one line with what to try, when the translations of (at most ``most`` of) the
    images ``a`` and ``b`` are near-identical, or far from the other domain's images."""
    generators, _ = load_generator(run, APP, build_generators)
    pick = torch.Generator().manual_seed(seed)
    a, b = (x[torch.randperm(len(x), generator=pick)[:most]] for x in (a, b))
    groups = {"a2b": (translate_all(generators["a2b"], a, seed), b),
              "b2a": (translate_all(generators["b2a"], b, seed), a)}
    problems = output_problems(groups, "direction", seed=seed)
    if problems:
        warnings.warn(f"{run}: {'; '.join(problems)}. The run has failed so far: train it longer, or with a larger "
                      "cycle weight or reference guidance when one output stands for many inputs")


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
    thumbnails: list[tuple[Tensor, Tensor]] = []  # inputs and outputs at the run's size, for the check
    with apply_to_folder(inputs, files, output, channels, skip_bad) as pairs:
        for src, (dst,) in tqdm(pairs, desc=f"translate {direction}", disable=not progress):
            image = read_image(src, channels)
            if not keep_size:
                image = resize_crop(image, arch["size"])
            y = (run_generator(generator, (image[None] * 2 - 1).to(device), seed)[0].float().cpu() + 1) / 2
            save_image(y, dst)
            if len(thumbnails) < 500:
                thumbnails.append((resize_crop(image, arch["size"]), resize_crop(y, arch["size"])))
    if len(thumbnails) > 1:
        ratio = spread_ratio(*(torch.stack(part) for part in reversed(list(zip(*thumbnails)))))
        if ratio < COLLAPSED:
            warnings.warn(f"{run}: the translations of different images are near-identical (they differ {ratio:.2f}x "
                          "as much as the images do): the run maps many inputs to one output; train it longer, or "
                          "with a larger cycle weight or reference guidance")
    return len(pairs)


@torch.no_grad()
def translate_all(generator: ResnetGenerator, x: Tensor, seed: int = 0, batch: int = 64) -> Tensor:
    """G(x) for images (n, C, H, W) in [-1, 1], in batches on the generator's device, on the CPU."""
    device = next(generator.parameters()).device
    return torch.cat([run_generator(generator, part.to(device), seed).float().cpu() for part in x.split(batch)])


def evaluate(run: Path, a: str, b: str, w1_steps: int = 300, seed: int = 0,
             device: torch.device = torch.device("cpu"), progress: bool = False,
             skip_bad: bool = False, features: str | None = None) -> dict[str, Any]:
    """Mismatch (mean task cost between inputs and translations) and realism (``realism_report``:
    translations against the target domain's images, in pixels or the ``features`` of a network
    file) in both directions."""
    generators, arch = load_generator(run, APP, build_generators, device)
    cfg = TranslateConfig(a=a, b=b, size=arch["size"], seed=seed, skip_bad=skip_bad)
    xa, xb = load_domains(cfg)
    for spec, x, side in ((a, xa, "a"), (b, xb, "b")):
        check_fits(spec, x, arch[f"channels_{side}"], part=f"the run's domain {side.upper()}")
    cost = TaskCost(arch["cost"])
    result: dict[str, Any] = {"run": str(run), "cost": arch["cost"]}
    groups = {}
    for direction, x, y in (("a2b", xa, xb), ("b2a", xb, xa)):
        translated = translate_all(generators[direction], x, seed)
        result[direction] = {"n": len(x), "mismatch": float(cost(x, translated).mean())}
        groups[direction] = (translated, y)
    result["realism"] = realism_report(groups, spaces(feature_map(features, device)), w1_steps, seed, device)
    return result
