"""The training engine shared by translate, colorize and synthesize: the loop, run directories,
checkpoints, resume, interruptions and data parallelism, and the use of a trained run (use.py)."""

from ot_gan.engine.checkpoint import find_checkpoint, generator_weights, load_checkpoint, save_checkpoint
from ot_gan.engine.rundir import RunDir, open_run
from ot_gan.engine.task import Batch, Task
from ot_gan.engine.trainer import TrainConfig, Trainer, TrainingDiverged, TrainResult, train
from ot_gan.engine.use import apply_to_folder, check_fits, input_files, load_generator, staged_outputs

__all__ = ["Batch", "RunDir", "Task", "TrainConfig", "TrainResult", "Trainer", "TrainingDiverged", "apply_to_folder",
           "check_fits", "find_checkpoint", "generator_weights", "input_files", "load_checkpoint", "load_generator",
           "open_run", "save_checkpoint", "staged_outputs", "train"]
