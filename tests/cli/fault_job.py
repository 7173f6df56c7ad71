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
    before-swap:N   just before the N-th swap of a checkpoint folder (``last -> last.old``)
    between:N       just after it: only ``last.old`` is complete, the new folder not yet renamed
"""

import io
import os
import signal
import sys
from pathlib import Path

import safetensors.torch
import torch


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def counting(n: int, function, when_due, counts=lambda *args: True):
    """``function``, except that its ``n``-th counted call runs ``when_due`` instead."""
    calls = [0]

    def wrapper(*args, **kwargs):
        if counts(*args):
            calls[0] += 1
            if calls[0] == n:
                return when_due(*args, **kwargs)
        return function(*args, **kwargs)

    return wrapper


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
    elif what == "state":
        real_save = torch.save

        def half_state(obj, f, *args, **kwargs):
            buffer = io.BytesIO()
            real_save(obj, buffer)
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
            die()

        torch.save = counting(n, real_save, half_state)
    elif what == "weights":
        real_weights = safetensors.torch.save_model

        def half_weights(model, filename, *args, **kwargs):
            real_weights(model, filename, *args, **kwargs)
            data = Path(filename).read_bytes()
            Path(filename).write_bytes(data[: len(data) // 2])
            die()

        safetensors.torch.save_model = counting(n, real_weights, half_weights)
    elif what in ("before-swap", "between"):
        real_replace = os.replace

        def swap(src, dst):
            if what == "between":
                real_replace(src, dst)
            die()

        def is_swap(src, dst):  # last -> last.old (best -> best.old) in checkpoint/
            return Path(dst).parent.name == "checkpoint" and str(dst).endswith(".old")

        os.replace = counting(n, real_replace, swap, is_swap)
    elif what != "none":
        raise SystemExit(f"unknown kill point {kill!r}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    install(sys.argv[1])
    from rnnkit.cli import main

    sys.exit(main(sys.argv[2:]))
