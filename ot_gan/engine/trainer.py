"""The training loop every app shares: n_critic critic steps per generator step, AdaShift, a
learning rate constant then decaying linearly to 0, an optional EMA of the generator, and a run
directory with metrics, sample grids and checkpoints that make a run resumable bit for bit.

All randomness of a step comes from a generator seeded by (seed, step, substep), plus torch's
global RNG whose state is checkpointed, so a stopped and resumed run ends with the same weights
as an uninterrupted one, and N data-parallel processes see the batch one process would
(docs/algorithms.md section 10).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ot_gan import parallel
from ot_gan.engine.checkpoint import save_checkpoint
from ot_gan.engine.pace import Pace
from ot_gan.engine.rundir import RunDir, open_run
from ot_gan.engine.task import Batch, Task
from ot_gan.engine.techniques import FEATURE_MATCHING, HistoricalAverage, check_techniques, feature_matching_loss
from ot_gan.errors import InputError, NamesSettings
from ot_gan.grids import labeled_grid
from ot_gan.interrupt import stop_on_signals
from ot_gan.lipschitz import Regularizer
from ot_gan.optim import GAN_BETAS, REDUCES, AdaShift, WarmupDecay
from ot_gan.options import Runtime, option


@dataclass
class TrainConfig(Runtime):
    """The engine's settings; each app's config extends it (``redefault`` changes a default).
    Every field is a CLI flag and a --config key."""

    steps: int = option(10_000, "Generator steps to train for (raise it to extend a finished run).", min=1)
    max_time: float = option(0.0, "Minutes after which this process saves a checkpoint and stops, with an "
                                  "estimate of the rest (run the same command again to go on; 0 = no limit).")
    batch_size: int = option(64, "Global batch size, split over the processes under torchrun.", min=1)
    n_critic: int = option(1, "Critic steps per generator step.", min=1)
    optimizer: str = option("adashift", "Optimizer of both networks (rmsprop: the original WGAN's).",
                            choices=("adashift", "adam", "rmsprop"))
    lr: float = option(2e-4, "Learning rate of both networks.", min_open=True)
    betas: tuple[float, float] = option(GAN_BETAS, "AdaShift/Adam beta1 and beta2 "
                                                      "(beta1 0 is AdaShift's GAN setting).", max=1, max_open=True)
    reduce: str = option("max_mean", "AdaShift's block reduce of the second moment.", choices=REDUCES)
    decay_steps: int = option(0, "Decay the learning rate linearly to 0 over the last N steps (over all steps "
                                       "when N is larger).")
    ema: float = option(0.0, "Decay of an exponential moving average of the generator used for "
                              "sampling (e.g. 0.999; 0 = off).", max=1, max_open=True)
    log_every: int = option(50, "Steps between lines of metrics.jsonl.", min=1)
    sample_every: int = option(500, "Steps between sample grids (0 = only at the end).")
    checkpoint_every: int = option(500, "Steps between saves of checkpoints/latest.pt.", min=1)
    keep_every: int = option(0, "Also keep checkpoints/step_N.pt every N steps (0 = never).")
    bf16: bool = option(False, "CUDA only: bf16 autocast.")
    channels_last: bool = option(False, "CUDA only: channels-last memory format.")
    tensorboard: bool = option(True, "Log to RUN/tensorboard when the tensorboard package is installed.")
    quiet: bool = option(False, "No progress bar.")
    skip_bad: bool = option(False, "Leave out image files of the training data that cannot be read (a warning "
                                   "counts them) instead of stopping.")
    # Salimans et al., "Improved Techniques for Training GANs", arXiv 1606.03498
    feature_matching: str = option("none", "Salimans et al.: the generator matches the mean of an intermediate critic "
                                          "feature on real and fake batches, ||E f(x) - E f(G(z))||^2, instead of "
                                          "(alone) or besides (added) its GAN loss.", choices=FEATURE_MATCHING)
    minibatch_discrimination: bool = option(False, "Salimans et al.: a critic layer that compares each sample with the "
                                                   "others of its batch. It couples the samples, so it is refused with "
                                                   "the regularizers that measure per-sample gradient norms (gp, lp, "
                                                   "maxgp, maxal).")
    minibatch_kernels: int = option(100, "Minibatch discrimination: kernels B of its A x B x C tensor.", min=1)
    minibatch_kernel_dim: int = option(5, "Minibatch discrimination: entries C of each kernel.", min=1)
    historical_averaging: float = option(0.0, "Salimans et al.: weight of ||theta - mean of past theta||^2 added to "
                                              "each network's loss (0 = off).")
    label_smoothing: bool = option(False, "Salimans et al.'s one-sided label smoothing: real samples get the real "
                                          "target (next option) instead of 1, fakes keep 0. Only for the objectives "
                                          "with labels (sigmoid cross-entropy: log_sigmoid, nsgan; AM-GAN's "
                                          "classes); refused for the others.")
    real_target: float = option(0.9, "One-sided label smoothing: the target of real samples.", min=0.5, max=1)
    virtual_batch_norm: bool = option(False, "Salimans et al.: the generator's batch norm takes its statistics from a "
                                             "fixed reference batch (and the sample itself), so a sample's output "
                                             "does not depend on its batch. For generators with batch norm.")
    reference_batch: int = option(64, "Virtual batch norm: size of the reference batch.", min=1)


class TrainingDiverged(NamesSettings, RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run: Path | None
    step: int
    seconds: float
    interrupted: bool
    metrics: dict[str, float]


def lr_factor(step: int, steps: int, decay_steps: int) -> float:
    """The learning-rate multiplier at ``step``: 1 until the last ``decay_steps`` steps, then falling
    linearly to 0 at ``steps`` (the schedule the critic of ``ot_gan.w1`` uses too, without its
    warm-up). A decay longer than the run covers the whole run, so that a short run still starts at
    the full learning rate instead of near 0."""
    decay = min(decay_steps, steps)
    return WarmupDecay(decay_start=steps - decay if decay > 0 else None, decay_steps=decay)(step)


def train(make_task: Callable[[], Task], config: TrainConfig, data: dict[str, Any], out: Path,
          overwrite: bool = False, resume: bool = False) -> TrainResult:
    """Train the task that ``make_task`` builds on ``data`` into the run directory ``out``.

    ``data`` maps names to tensors (sampled independently) or tuples of tensors (sampled with the
    same indices, e.g. images and labels). Resumes ``out`` when it holds a run of the same app.
    """
    rank, world, device = parallel.setup(config.torch_device())
    if config.batch_size % world:
        raise InputError(f"{{batch_size}} does not split over {world} processes", batch_size=config.batch_size)
    torch.manual_seed(config.seed)
    task = make_task()
    run, checkpoint = None, None
    if rank == 0:
        run, checkpoint, saved = open_run(out, task.app, dataclasses.asdict(config), overwrite, resume,
                                            task.architecture())
        config = dataclasses.replace(config, **{k: v for k, v in saved.items()
                                                if k in {f.name for f in dataclasses.fields(config)}})
        if checkpoint is not None and not config.quiet:
            print(f"ot-gan: resuming {out} from step {checkpoint['step']}", file=sys.stderr)
    if world > 1:
        shared = [checkpoint, config]
        dist.broadcast_object_list(shared, src=0)
        checkpoint, config = shared
    trainer = Trainer(task, config, data, run, rank, world, device)
    if checkpoint is not None:
        trainer.load_state_dict(checkpoint)
    return trainer.fit()


class Trainer:
    """Trains one Task; rank 0 writes the run directory."""

    def __init__(self, task: Task, config: TrainConfig, data: dict[str, Any], run: RunDir | None,
                 rank: int = 0, world: int = 1, device: torch.device = torch.device("cpu")) -> None:
        self.config, self.data, self.run = config, data, run
        self.rank, self.world, self.device = rank, world, device
        self.cuda = device.type == "cuda"
        check_techniques(task, config)
        self.task = task.to(device)
        if config.channels_last and self.cuda:
            self.task.to(memory_format=torch.channels_last)
        parallel.broadcast_state(self.task, world, parameters=True)
        # Regularizers penalize this rank's share of each global batch and take batch maxima over
        # all ranks, so that their state (MaxAL's multiplier, MaxGP's worst points) stays one.
        self.regularizers = [m for m in self.task.modules() if isinstance(m, Regularizer)]
        for regularizer in self.regularizers:
            regularizer.shard = (rank, world)
        self.optimizers = {name: self._optimizer(getattr(task, name).parameters()) for name in ("critic", "generator")}
        self.schedulers = {name: LambdaLR(opt, lambda step: self.lr_factor(step))
                           for name, opt in self.optimizers.items()}
        self.ema = (AveragedModel(task.generator, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True)
                    if config.ema else None)
        self.history = (nn.ModuleDict({name: HistoricalAverage(getattr(task, name)) for name in self.optimizers})
                        if config.historical_averaging else None)
        self.step, self.seconds, self.saved_step = 0, 0.0, 0
        self.sums: dict[str, float] = defaultdict(float)  # loss sums since the last log
        self.unlogged = 0
        self.last_metrics: dict[str, float] = {}

    def _optimizer(self, params: Any) -> torch.optim.Optimizer:
        cfg = self.config
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas))
        if cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=cfg.lr)
        return AdaShift(params, lr=cfg.lr, betas=tuple(cfg.betas), reduce=cfg.reduce)

    def lr_factor(self, step: int) -> float:
        return lr_factor(step, self.config.steps, self.config.decay_steps)

    # ---- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.cuda:
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"app": self.task.app, "step": self.step, "seconds": self.seconds,
                "config": dataclasses.asdict(self.config), "architecture": self.task.architecture(),
                "task": self.task.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
                "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()}, "rng": rng,
                "history": self.history.state_dict() if self.history is not None else None,
                "unlogged": {"steps": self.unlogged, "sums": dict(self.sums)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.task.load_state_dict(state["task"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
            self.schedulers[name].load_state_dict(state["schedulers"][name])
        if self.history is not None and state.get("history") is not None:
            self.history.load_state_dict(state["history"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.cuda and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        self.unlogged = state["unlogged"]["steps"]
        self.sums.update(state["unlogged"]["sums"])
        self.step = self.saved_step = state["step"]
        self.seconds = state["seconds"]

    # ---- one step --------------------------------------------------------------------------
    def batch(self, step: int, substep: int) -> Batch:
        """This rank's share of the global batch of (step, substep), drawn with replacement."""
        seed = int(np.random.SeedSequence([self.config.seed, step, substep]).generate_state(1)[0])
        gen = torch.Generator().manual_seed(seed)
        size = self.config.batch_size // self.world
        mine = slice(self.rank * size, (self.rank + 1) * size)
        data = {}
        for name, value in self.data.items():
            tensors = value if isinstance(value, tuple) else (value,)
            idx = torch.randint(len(tensors[0]), (self.config.batch_size,), generator=gen)[mine]
            picked = tuple(self._to_device(t[idx]) for t in tensors)
            data[name] = picked if isinstance(value, tuple) else picked[0]
        return Batch(data, gen, self.device, self.rank, self.world)

    def _to_device(self, t: Tensor) -> Tensor:
        t = t.to(self.device, non_blocking=True)
        if self.config.channels_last and self.cuda and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def _update(self, phase: str, loss_fn: Callable[[Batch], dict[str, Tensor]], batch: Batch) -> None:
        module: nn.Module = getattr(self.task, phase)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16 and self.cuda):
            losses = loss_fn(batch)
        if self.history is not None:
            term = self.config.historical_averaging * self.history[phase].distance(module)
            losses = {**losses, "loss": losses["loss"] + term, "historical_averaging": term}
        values = {k: v.item() for k, v in losses.items()}
        if parallel.any_rank(not math.isfinite(values["loss"]), self.world, self.device):
            raise TrainingDiverged(self._divergence_message(phase, values["loss"]), lr=None, bf16=None)
        opt = self.optimizers[phase]
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        parallel.average_gradients(module, self.world)
        opt.step()
        if self.history is not None:
            self.history[phase].update(module)
        for k, v in values.items():
            self.sums[f"{phase}/{k}"] += v

    def _divergence_message(self, phase: str, value: float) -> str:
        where = (f"{self.run.latest} (step {self.saved_step}) is kept" if self.saved_step and self.run
                 else "no checkpoint was written yet")
        return (f"the {phase} loss became {value} at step {self.step + 1}; training stopped and {where}. "
                "Try a lower {lr}, a stronger Lipschitz regularizer, or training without {bf16}.")

    def generator_losses(self, batch: Batch) -> dict[str, Tensor]:
        """The task's generator loss, with feature matching instead of its GAN term (the loss's
        ``adversarial`` part, or all of it when the task names none) or added to it; the task's
        other terms (cycle, mode seeking) stay."""
        task, mode = self.task, self.config.feature_matching
        losses = task.generator_loss(batch)
        if mode == "none":
            return losses
        real, fake = task.critic_inputs(batch)
        matching = feature_matching_loss(task.critic_features(real), task.critic_features(fake))
        rest = losses["loss"] - losses.get("adversarial", losses["loss"]) if mode == "alone" else losses["loss"]
        return {**losses, "loss": rest + matching, "feature_matching": matching}

    def train_step(self) -> None:
        """n_critic critic updates, then one generator update, each on its own batch."""
        task = self.task
        for sub in range(self.config.n_critic):
            self._update("critic", task.critic_loss, self.batch(self.step, sub))
            task.after_critic_step()
            for module in (task.critic, *self.regularizers):
                parallel.broadcast_state(module, self.world)
        task.critic.requires_grad_(False)
        try:
            self._update("generator", self.generator_losses, self.batch(self.step, self.config.n_critic))
        finally:
            task.critic.requires_grad_(True)
        if self.ema is not None:
            self.ema.update_parameters(task.generator)
        for scheduler in self.schedulers.values():
            scheduler.step()
        self.step += 1

    # ---- the loop --------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train up to ``config.steps``; Ctrl-C or SIGTERM saves a checkpoint and returns."""
        cfg, main = self.config, self.rank == 0
        writer = self._tensorboard() if main else None
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"{self.task.app} train", unit="step",
                   disable=cfg.quiet or not main, file=sys.stderr, dynamic_ncols=True)
        start = time.perf_counter() - self.seconds
        pace = Pace(cfg.max_time * 60)
        interrupted = out_of_time = False
        notice = "ot-gan: stopping after this step to save a checkpoint (Ctrl-C again quits at once)"
        with stop_on_signals(notice if main else None) as stop, bar:
            while self.step < cfg.steps:
                self.train_step()
                self.seconds = time.perf_counter() - start
                bar.update(1)
                self.unlogged += 1
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    self._log(writer, bar)
                if main and cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
                if main and cfg.keep_every and self.step % cfg.keep_every == 0 and self.run:
                    save_checkpoint(self.state_dict(), self.run.numbered_checkpoint(self.step))
                pace.step()
                note = pace.announcement(cfg.steps - self.step) if main else None
                if note:
                    tqdm.write(f"ot-gan: note: {note}", file=sys.stderr)
                out_of_time = pace.spent()
                if parallel.any_rank(stop.requested or out_of_time, self.world, self.device):
                    interrupted = self.step < cfg.steps
                    break
        if self.saved_step != self.step:
            self.save()
        if main and not interrupted and (not cfg.sample_every or self.step % cfg.sample_every):
            self.save_samples()
        if writer is not None:
            writer.close()
        if interrupted and main:
            saved = self.run.latest if self.run else "nothing"
            if out_of_time:
                print(f"ot-gan: stopped at the time budget of {cfg.max_time:g} min at step {self.step} of {cfg.steps}; "
                      f"saved {saved}. The rest takes {pace.left(cfg.steps - self.step)} at this pace: run the same "
                      "command again to go on.", file=sys.stderr)
            else:
                print(f"ot-gan: interrupted at step {self.step}; saved {saved}. Run the same command again to resume.",
                      file=sys.stderr)
        return TrainResult(self.run.path if self.run else None, self.step, self.seconds, interrupted,
                           self.last_metrics)

    def _log(self, writer: Any, bar: tqdm) -> None:
        """Means over the steps since the last log: to metrics.jsonl, the bar and TensorBoard."""
        record = {k: v / self.unlogged for k, v in sorted(self.sums.items())}
        record["lr"] = self.optimizers["generator"].param_groups[0]["lr"]
        self.sums.clear()
        self.unlogged = 0
        self.last_metrics = record
        if self.rank:
            return
        bar.set_postfix({k.replace("/loss", ""): f"{v:.3g}" for k, v in record.items() if k.endswith("/loss")})
        if self.run is not None:
            self.run.log({"step": self.step, "seconds": round(self.seconds, 3), **record})
        if writer is not None:
            for k, v in record.items():
                writer.add_scalar(k, v, self.step)

    def save(self) -> None:
        """Write latest.pt (rank 0) and remember the step as the last good one."""
        if self.rank == 0 and self.run is not None:
            save_checkpoint(self.state_dict(), self.run.latest)
        self.saved_step = self.step

    @torch.no_grad()
    def save_samples(self) -> None:
        """A grid of the task's samples, from fixed noise so that grids compare across steps."""
        generator = self.ema.module if self.ema is not None else self.task.generator
        images = self.task.samples(generator, torch.Generator().manual_seed(self.config.seed))
        if images is not None and self.run is not None:
            rows, titles = self.task.sample_titles()
            labeled_grid(images, rows=rows, titles=titles).save(self.run.sample_path(self.step))

    def _tensorboard(self) -> Any:
        if not self.config.tensorboard or self.run is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.run.path / "tensorboard"), purge_step=self.step or None)

