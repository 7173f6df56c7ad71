"""A word-level language model written against torch.nn, run on torch.nn or on rnnkit.nn.

The script is the kind people already have (an embedding, a recurrent layer, a tied decoder,
truncated backpropagation through time over a text file, the whole model saved with
``torch.save``). Switching it to rnnkit is one line: the module the recurrent layer comes
from. ``--impl`` picks it here so that both can be compared:

    python examples/word_language_model.py --data corpus.txt --impl torch
    python examples/word_language_model.py --data corpus.txt --impl rnnkit

Both print the same losses for the same seed. The run trains for ``--epochs``, saves the
whole model, loads it back with ``torch.load(weights_only=True)`` (allowing only the model's
own classes), calls ``flatten_parameters()`` and trains ``--more-epochs`` further.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

import rnnkit.nn

IMPLEMENTATIONS = {"torch": torch.nn, "rnnkit": rnnkit.nn}


class RNNModel(nn.Module):
    """Embedding -> dropout -> recurrent layer -> dropout -> linear decoder (tied weights)."""

    def __init__(
        self,
        recurrent: type[nn.Module],
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        tie_weights: bool,
    ) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab_size, embedding_size)
        self.rnn = recurrent(embedding_size, hidden_size, num_layers, dropout=dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            if hidden_size != embedding_size:
                raise ValueError("--tied needs --emsize equal to --nhid")
            self.decoder.weight = self.encoder.weight
        self.num_layers, self.hidden_size = num_layers, hidden_size
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, ids: torch.Tensor, hidden: object) -> tuple[torch.Tensor, object]:
        emb = self.drop(self.encoder(ids))  # (T, B, E), time-major as in torch.nn's default
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, batch_size: int) -> object:
        weight = next(self.parameters())
        h = weight.new_zeros(self.num_layers, batch_size, self.hidden_size)
        return (h, h.clone()) if isinstance(self.rnn, (torch.nn.LSTM, rnnkit.nn.LSTM)) else h


def read_corpus(path: Path) -> tuple[torch.Tensor, dict[str, int]]:
    """Word ids of a text file, an end-of-sentence token after each line."""
    vocab: dict[str, int] = {}
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        for word in [*line.split(), "<eos>"]:
            ids.append(vocab.setdefault(word, len(vocab)))
    return torch.tensor(ids, dtype=torch.int64), vocab


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``(N,)`` -> ``(N // B, B)``: B parallel streams, each read top to bottom."""
    steps = data.numel() // batch_size
    return data[: steps * batch_size].view(batch_size, steps).t().contiguous()


def detach(hidden: object) -> object:
    """Cut the graph between batches (truncated backpropagation through time)."""
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return tuple(detach(h) for h in hidden)  # type: ignore[union-attr]


def train_epoch(
    model: RNNModel,
    data: torch.Tensor,
    bptt: int,
    lr: float,
    clip: float,
    batch_size: int,
) -> list[float]:
    """One pass of plain SGD over ``data``; returns the loss of every batch."""
    model.train()
    hidden = model.init_hidden(batch_size)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for i in range(0, data.size(0) - 1, bptt):
        length = min(bptt, data.size(0) - 1 - i)
        inputs, targets = data[i : i + length], data[i + 1 : i + 1 + length]
        hidden = detach(hidden)
        model.zero_grad()
        output, hidden = model(inputs, hidden)
        loss = criterion(output.view(-1, output.size(-1)), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
    return losses


def main(argv: list[str] | None = None) -> list[float]:
    """Run the script; returns the loss of every training batch, before and after reloading."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a text file, one sentence a line")
    parser.add_argument("--impl", choices=sorted(IMPLEMENTATIONS), default="rnnkit")
    parser.add_argument("--model", choices=["LSTM", "GRU", "RNN"], default="LSTM")
    parser.add_argument("--emsize", type=int, default=32, help="word embedding size")
    parser.add_argument("--nhid", type=int, default=32, help="hidden units per layer")
    parser.add_argument("--nlayers", type=int, default=2, help="recurrent layers")
    parser.add_argument("--lr", type=float, default=2.0, help="SGD learning rate")
    parser.add_argument("--clip", type=float, default=0.25, help="gradient norm clip")
    parser.add_argument("--epochs", type=int, default=2, help="epochs before saving")
    parser.add_argument("--more-epochs", type=int, default=1, help="epochs after reloading")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--bptt", type=int, default=8, help="unrolled steps per batch")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--tied", action="store_true", help="tie the decoder to the embedding")
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--save", type=Path, default=Path("model.pt"), help="where to save")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    ids, vocab = read_corpus(args.data)
    data = batchify(ids, args.batch_size)
    layers = IMPLEMENTATIONS[args.impl]
    recurrent = {"LSTM": layers.LSTM, "GRU": layers.GRU, "RNN": layers.RNN}[args.model]
    model = RNNModel(
        recurrent, len(vocab), args.emsize, args.nhid, args.nlayers, args.dropout, args.tied
    )
    losses: list[float] = []
    for epoch in range(1, args.epochs + args.more_epochs + 1):
        start = time.perf_counter()
        epoch_losses = train_epoch(model, data, args.bptt, args.lr, args.clip, args.batch_size)
        losses += epoch_losses
        mean = sum(epoch_losses) / len(epoch_losses)
        print(
            f"{args.impl} epoch {epoch}: loss {mean:.6f} (ppl {math.exp(mean):.2f}), "
            f"{time.perf_counter() - start:.2f} s",
            flush=True,
        )
        if epoch == args.epochs:  # save the whole model, load it back safely, go on
            torch.save(model, args.save)
            allowed = [RNNModel, nn.Embedding, nn.Dropout, nn.Linear, recurrent]
            with torch.serialization.safe_globals(allowed):
                model = torch.load(args.save, weights_only=True)
            model.rnn.flatten_parameters()
            print(f"saved to {args.save} and loaded back with weights_only=True", flush=True)
    return losses


if __name__ == "__main__":
    main(sys.argv[1:])
