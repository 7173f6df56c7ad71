"""DDP: two CPU processes (gloo, loopback) match one process on the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.train import distributed

from .ddp_job import run

JOB = Path(__file__).with_name("ddp_job.py")


def test_single_process_helpers_are_identities():
    assert not distributed.is_distributed()
    assert (
        distributed.get_rank(),
        distributed.get_world_size(),
        distributed.is_main_process(),
    ) == (0, 1, True)
    assert distributed.setup_from_env() == distributed.DistEnv(0, 1, 0)
    t = torch.tensor([1.0, 2.0])
    assert torch.equal(distributed.all_reduce_sum(t), t)
    assert distributed.all_gather_objects({"a": 1}) == [{"a": 1}]


def test_world_size_without_torchrun_variables_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(
        RuntimeError, match="RANK, MASTER_ADDR, MASTER_PORT not set: launch with `torchrun"
    ):
        distributed.setup_from_env()


@pytest.mark.slow
def test_two_gloo_processes_match_single_process_training(tmp_path):
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command = [*launcher, "--nproc_per_node=2", str(JOB), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    single = run(None, world_size=1)
    ddp_weights = load_file(str(tmp_path / "model.safetensors"))
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(ddp_weights[name], value, rtol=0, atol=1e-5, msg=name)
    ddp_history = json.loads((tmp_path / "history.json").read_text())
    assert len(ddp_history) == len(single.history) == 3
    for mine, theirs in zip(single.history, ddp_history, strict=True):
        for key in ("train_loss", "val_loss", "val_accuracy"):
            assert theirs[key] == pytest.approx(mine[key], abs=1e-5), key
    # only rank 0 wrote: one line per epoch, not one per rank
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3
