"""Training: the Trainer and its parts (objective protocol, callbacks, metrics, checkpoints,
run directories, schedules, LR finder, progress, seeding, distributed data parallel).

See ``rnnkit.train.objective`` for the protocol between tasks and the training loop.
"""

from rnnkit.train.callbacks import HOOKS, Callback, EarlyStopping
from rnnkit.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from rnnkit.train.config import TrainerConfig, build_optimizer
from rnnkit.train.config_changes import RESUMABLE, check_resume_config, config_changes
from rnnkit.train.device import resolve_device
from rnnkit.train.evaluation import evaluate
from rnnkit.train.loader import BucketLoader, ResumableLoader
from rnnkit.train.loggers import CSVLogger, TensorBoardLogger
from rnnkit.train.lr_finder import LRFinderResult, find_lr, format_lr_finder
from rnnkit.train.metrics import (
    BLEU,
    MAE,
    MSE,
    Accuracy,
    ConfusionMatrix,
    MacroF1,
    Metric,
    Perplexity,
    SpanF1,
    SpanPrecision,
    SpanRecall,
    TopKAccuracy,
)
from rnnkit.train.objective import Batch, Objective, StepOutput, detach_state, move_batch
from rnnkit.train.plots import plot_confusion_matrix, plot_learning_curves, plot_lr_finder
from rnnkit.train.rundir import RunDir
from rnnkit.train.runlock import RunLock
from rnnkit.train.runstart import RunStatus
from rnnkit.train.schedules import build_scheduler, warmup_cosine, warmup_linear
from rnnkit.train.seed import seed_everything, seed_worker
from rnnkit.train.trainer import Trainer, TrainingDiverged

__all__ = [
    "BLEU",
    "RESUMABLE",
    "HOOKS",
    "MAE",
    "MSE",
    "Accuracy",
    "Batch",
    "Callback",
    "CheckpointError",
    "ConfusionMatrix",
    "EarlyStopping",
    "LRFinderResult",
    "MacroF1",
    "Metric",
    "Objective",
    "Perplexity",
    "BucketLoader",
    "CSVLogger",
    "ResumableLoader",
    "RunDir",
    "RunLock",
    "RunStatus",
    "SpanF1",
    "SpanPrecision",
    "SpanRecall",
    "StepOutput",
    "TensorBoardLogger",
    "TopKAccuracy",
    "Trainer",
    "TrainerConfig",
    "TrainingDiverged",
    "build_optimizer",
    "build_scheduler",
    "check_resume_config",
    "config_changes",
    "detach_state",
    "evaluate",
    "find_lr",
    "format_lr_finder",
    "load_checkpoint",
    "load_weights",
    "move_batch",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_lr_finder",
    "resolve_device",
    "save_checkpoint",
    "save_weights",
    "seed_everything",
    "seed_worker",
    "warmup_cosine",
    "warmup_linear",
]
