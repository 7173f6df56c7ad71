"""Device choice and mixed precision settings."""

import pytest
import torch

from rnnkit.train import resolve_device
from rnnkit.train.device import amp_dtype, autocast, grad_scaler


def test_auto_picks_cuda_then_mps_then_cpu():
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_requesting_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="'cuda' was requested but CUDA is not available"):
        resolve_device("cuda")


def test_amp_only_on_cuda():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert amp_dtype("bf16", cpu) is None and amp_dtype("fp16", cpu) is None
    assert amp_dtype("bf16", cuda) is torch.bfloat16 and amp_dtype("fp16", cuda) is torch.float16
    assert amp_dtype("off", cuda) is None
    assert not grad_scaler(None).is_enabled() and not grad_scaler(torch.bfloat16).is_enabled()
    with autocast(cpu, None):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_and_bf16_training_on_cuda():
    from rnnkit.train import ResumableLoader, Trainer

    from .tiny import TinyClassifier, classification_dataset, classify

    for amp in ("bf16", "fp16"):
        torch.manual_seed(0)
        model = TinyClassifier()
        trainer = Trainer(
            model,
            torch.optim.Adam(model.parameters(), 1e-2),
            classify,
            device="cuda",
            amp=amp,
            progress=False,
        )
        assert trainer.scaler.is_enabled() == (amp == "fp16")
        history = trainer.fit(
            ResumableLoader(classification_dataset(64), 16, shuffle=True), epochs=6
        )
        assert history[-1]["train_loss"] < history[0]["train_loss"]
