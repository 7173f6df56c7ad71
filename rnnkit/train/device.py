"""Where training runs and in which precision: device choice, autocast, loss scaling.

Mixed precision is a CUDA feature here: "bf16" autocasts to bfloat16, "fp16" to float16 with a
GradScaler (fp16's narrow range needs loss scaling). On CPU and MPS it is a no-op, so the same
config runs everywhere.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import torch

from rnnkit.train.distributed import _env_int

AmpMode = Literal["off", "bf16", "fp16"]
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The training device: ``"auto"`` picks CUDA (this process's GPU under DDP), MPS, then CPU.

    Args:
        device: "auto", or a device name such as "cpu", "cuda", "cuda:1", "mps".

    Returns:
        The device.

    Raises:
        ValueError: the requested device is not available.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", _env_int("LOCAL_RANK", 0))
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} was requested but MPS is not available")
    return resolved


def amp_dtype(amp: AmpMode, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None: full precision)."""
    if amp not in ("off", "bf16", "fp16"):
        raise ValueError(f"amp must be 'off', 'bf16' or 'fp16'; got {amp!r}")
    return AMP_DTYPES.get(amp) if device.type == "cuda" else None


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """Autocast to ``dtype`` on ``device``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for float16 autocast (a pass-through otherwise)."""
    return torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
