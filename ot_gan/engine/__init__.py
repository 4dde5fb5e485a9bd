"""The training engine shared by translate, colorize and synthesize: the loop, run directories,
checkpoints, resume, interruptions and data parallelism."""

from ot_gan.engine.checkpoint import find_checkpoint, generator_weights, load_checkpoint, save_checkpoint
from ot_gan.engine.rundir import RunDir, open_run
from ot_gan.engine.task import Batch, Task
from ot_gan.engine.trainer import TrainConfig, Trainer, TrainingDiverged, TrainResult, train

__all__ = ["Batch", "RunDir", "Task", "TrainConfig", "TrainResult", "Trainer", "TrainingDiverged",
           "find_checkpoint", "generator_weights", "load_checkpoint", "open_run", "save_checkpoint", "train"]
