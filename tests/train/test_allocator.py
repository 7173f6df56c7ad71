"""rnnkit.train.allocator: large freed blocks are reused instead of faulted in every step."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import resource, sys
import torch
from rnnkit.train.allocator import retain_freed_memory

def faults(steps):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        t = torch.empty(16_000_000)  # 64 MB, as the logits of a large vocabulary
        t.fill_(1.0)
        del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults(10)
applied = retain_freed_memory()
faults(10)  # the heap grows to hold the block once
print(applied, before, faults(10))
"""


def _run(env):
    env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", SCRIPT]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    applied, before, after = done.stdout.split()
    return applied == "True", int(before), int(after)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_blocks_are_reused_without_page_faults():
    applied, before, after = _run({})
    assert applied
    assert before > 10 * 15_000  # every step faulted its 64 MB in again (4 KiB pages)
    assert after < before / 10
    applied, before, after = _run({"RNNKIT_MALLOC": "system"})
    assert not applied and after > before / 2


def test_the_trainer_applies_it_on_cpu(monkeypatch):
    import torch

    from rnnkit.train import trainer as trainer_module

    calls = []
    monkeypatch.setattr(trainer_module, "retain_freed_memory", lambda: calls.append(1))
    model = torch.nn.Linear(2, 2)
    trainer_module.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), lambda *a: None,
                           device="cpu", progress=False)  # fmt: skip
    assert calls == [1]
