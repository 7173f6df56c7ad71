"""Tiny models, data and objectives for the training tests (no rnnkit model code needed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from rnnkit.train import StepOutput

VOCAB, CLASSES = 12, 3


class DictDataset(Dataset):
    """Examples ``{name: tensor[i]}``; ``default_collate`` stacks them into batch dicts."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {name: t[i] for name, t in self.tensors.items()}


def classification_dataset(n: int = 64, length: int = 6, seed: int = 0) -> DictDataset:
    """Label = the first token modulo 3: easy for an LSTM, impossible for a constant."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, VOCAB, (n, length), generator=g)
    lengths = torch.randint(2, length + 1, (n,), generator=g)
    return DictDataset(x=x, lengths=lengths, y=x[:, 0] % CLASSES)


class TinyClassifier(nn.Module):
    """Embedding -> torch.nn.LSTM -> Linear on the last real step."""

    def __init__(self, hidden_size: int = 16, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.lstm = nn.LSTM(8, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, CLASSES)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.dropout(self.embed(x)), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)
        return self.out(h[-1])


def classify(model: nn.Module, batch: dict, state: object) -> StepOutput:
    """The generic example objective: cross-entropy over examples."""
    logits = model(batch["x"], batch["lengths"])
    loss = F.cross_entropy(logits, batch["y"])
    return StepOutput(loss, count=len(batch["y"]), outputs=logits, targets=batch["y"])


def regression_dataset(n: int = 64, seed: int = 0) -> DictDataset:
    """y = x @ w + 0.5 with a fixed w (4 features), plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    w = torch.tensor([[1.5], [-2.0], [0.5], [1.0]])
    return DictDataset(x=x, y=x @ w + 0.5 + 0.01 * torch.randn(n, 1, generator=g))


def regress(model: nn.Module, batch: dict, state: object) -> StepOutput:
    """Mean squared error of a regression model."""
    pred = model(batch["x"])
    return StepOutput(F.mse_loss(pred, batch["y"]), len(batch["y"]), pred, batch["y"])


class TinyLM(nn.Module):
    """Embedding -> LSTM -> Linear tied to the embedding (shared weights)."""

    def __init__(self, hidden_size: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, batch_first=True)
        self.decoder = nn.Linear(hidden_size, VOCAB)
        self.decoder.weight = self.embed.weight  # tied

    def forward(self, x: torch.Tensor, state: object = None) -> tuple[torch.Tensor, object]:
        out, state = self.lstm(self.embed(x), state)
        return self.decoder(out), state


def language_model(model: nn.Module, batch: dict, state: object) -> StepOutput:
    """Next-token cross-entropy over (B, T) windows, carrying the LSTM state."""
    logits, new_state = model(batch["x"], state)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch["y"].reshape(-1))
    return StepOutput(loss, batch["y"].numel(), logits, batch["y"], state=new_state)


class Stream:
    """Contiguous LM windows of one token stream: consecutive batches continue each row."""

    carries_state = True

    def __init__(self, batches: int = 4, batch_size: int = 2, bptt: int = 5, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        tokens = torch.randint(0, VOCAB, (batch_size, batches * bptt + 1), generator=g)
        self.windows = [
            {"x": tokens[:, i : i + bptt], "y": tokens[:, i + 1 : i + bptt + 1]}
            for i in range(0, batches * bptt, bptt)
        ]

    def __len__(self) -> int:
        return len(self.windows)

    def __iter__(self):
        return iter(self.windows)
