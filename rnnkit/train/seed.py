"""Seeding and random-number-generator state: what makes runs repeatable and resumes exact.

``seed_everything`` seeds Python's ``random``, NumPy's global generator and torch (CPU and every
CUDA device). DataLoader workers get their seeds from torch's generator; ``seed_worker`` (pass it
as ``worker_init_fn``) derives each worker's Python and NumPy seeds from that, so augmentation
in workers repeats too.

``capture_rng_state``/``restore_rng_state`` save and restore all of these generators as plain
tensors, ints and floats, so a checkpoint holding them loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and all CUDA devices).

    Args:
        seed: a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoaders: seed Python and NumPy from the worker's torch seed.

    Args:
        worker_id: the worker's index (unused: torch already gives each worker its own seed).
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The state of every global generator, as weights_only-loadable values.

    Returns:
        A dict of tensors, ints, floats and None.
    """
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state: dict[str, Any] = {
        "python_version": int(version),
        "python": torch.tensor(mt_state, dtype=torch.int64),
        "python_gauss": gauss,
        "numpy_kind": str(kind),
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(cached_gaussian),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore generators captured by :func:`capture_rng_state`.

    Args:
        state: the dict returned by :func:`capture_rng_state`.
    """
    mt_state = tuple(int(v) for v in state["python"].tolist())
    random.setstate((state["python_version"], mt_state, state["python_gauss"]))
    np.random.set_state(
        (
            state["numpy_kind"],
            state["numpy"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) != torch.cuda.device_count():
            raise ValueError(
                f"the checkpoint holds RNG states for {len(cuda_states)} CUDA devices, "
                f"but {torch.cuda.device_count()} are visible"
            )
        torch.cuda.set_rng_state_all(cuda_states)
