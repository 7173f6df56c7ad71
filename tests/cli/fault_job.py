"""``rnnkit ARGS`` in a process that SIGKILLs itself at a chosen point (a crash or ``kill -9``):

    python fault_job.py KILL ARGS...

ARGS are the command line of ``rnnkit`` (run by ``rnnkit.cli.main``, as the ``rnnkit`` script
does). KILL is where the process dies, with no cleanup and nothing flushed:

    none            nowhere: the command runs to the end
    begin           right after the run directory is started (config.json written, nothing
                    trained)
    step:N          after global step N
    interrupt:N     not a kill: a Ctrl-C (SIGINT) after global step N
    state:N         halfway through writing the training state of the N-th checkpoint
    weights:N       halfway through the N-th safetensors file (checkpoints, then the final model)
    between:N       just after the N-th swap of a checkpoint folder (``last -> last.old``): only
                    ``last.old`` is complete, the new folder not yet renamed
"""

import importlib.util
import os
import signal
import sys
from pathlib import Path

import torch

# the library's fault job: its half-written files (state:N, weights:N) and its counting
_SPEC = importlib.util.spec_from_file_location(
    "train_fault_job", Path(__file__).parents[1] / "train" / "fault_job.py"
)
library_job = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(library_job)
die, counting = library_job.die, library_job.counting


def install(kill: str) -> None:
    what, _, number = kill.partition(":")
    n = int(number or 0)
    if what == "begin":
        import rnnkit.tasks.base as base

        real_start = base.start_run

        def start_then_die(*args, **kwargs):
            real_start(*args, **kwargs)
            die()

        base.start_run = start_then_die
    elif what in ("step", "interrupt"):
        from rnnkit.train.trainer import Trainer

        real_count = Trainer._count_step

        def count_then_die(self, out):
            real_count(self, out)
            if self.global_step == n and what == "interrupt":
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the step ends, then a checkpoint
            elif self.global_step == n:
                die()

        Trainer._count_step = count_then_die
    elif what in ("state", "weights"):
        library_job.install(kill)  # patches torch.save / safetensors' save_model
    elif what == "between":
        real_replace = os.replace

        def swap(src, dst):
            real_replace(src, dst)
            die()

        # counted: last -> last.old (best -> best.old) in checkpoint/
        swap.counts = lambda src, dst: (
            Path(dst).parent.name == "checkpoint" and str(dst).endswith(".old")
        )
        os.replace = counting(n, real_replace, swap)
    elif what != "none":
        raise SystemExit(f"unknown kill point {kill!r}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    install(sys.argv[1])
    from rnnkit.cli import main

    sys.exit(main(sys.argv[2:]))
