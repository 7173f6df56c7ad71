"""Character-level word encoders: the characters of each word -> one vector per word.

Two encoders, both reading character ids ``(..., L)`` padded with 0 at the end of each word:

* :class:`CharRNN` - a bidirectional recurrent layer over the characters of each word; the word
  vector is the final forward state concatenated with the final backward state (Lample et al.,
  "Neural Architectures for Named Entity Recognition", NAACL 2016).
* :class:`CharCNN` - a 1-D convolution over character embeddings, max-pooled over the real
  characters of each word (Ma & Hovy, "End-to-end Sequence Labeling via Bi-directional
  LSTM-CNNs-CRF", ACL 2016).

Both are exact on padding: a word's vector depends only on its own characters, not on how wide
the batch was padded or which other words are in it, and an all-padding row (a padded word
position of a sentence) encodes to zeros. Only the real words are run through the encoder, each
distinct spelling of a batch once (in a traced or exported graph, where no shape may depend on
the values, every row is encoded at the batch's full width; empty rows still give zeros).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.layers import Recurrent
from rnnkit.sequences import in_graph, pool


class CharEncoder(nn.Module, ABC):
    """Base of the character encoders: embedding, dropout, and the skipping of padded words.

    Args:
        num_chars: size of the character vocabulary (id 0 is padding).
        embedding_size: features of each character embedding.
        dropout: dropout on the character embeddings.
    """

    output_size: int
    """Features of each word vector."""

    def __init__(self, num_chars: int, embedding_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        if num_chars < 2 or embedding_size < 1:
            raise ValueError(
                f"num_chars must be at least 2 (padding and one character) and embedding_size "
                f"positive, got num_chars={num_chars}, embedding_size={embedding_size}"
            )
        self.embedding = nn.Embedding(num_chars, embedding_size, padding_idx=0)
        bound = (3.0 / embedding_size) ** 0.5  # unit-variance inputs to the first layer
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.dropout = nn.Dropout(dropout)

    def forward(self, chars: Tensor) -> Tensor:
        """Encode every word from its characters.

        Args:
            chars: ``(..., L)`` int64 character ids, each word's characters first and 0 after
                them (a row of zeros is a padded word position).

        Returns:
            ``(..., output_size)``; zeros for all-padding rows.
        """
        if chars.dim() < 1 or chars.dtype.is_floating_point:
            raise ValueError(
                f"chars must be integer character ids (..., L), got {chars.dtype} of shape "
                f"{tuple(chars.shape)}"
            )
        flat = chars.reshape(-1, chars.shape[-1])  # (N, L)
        lengths = (flat != 0).sum(dim=1)  # (N,)
        if in_graph():  # no shape may depend on values: every row, at the full width
            encoded = self.encode(flat, lengths)  # all-padding rows encode to zeros
            return encoded.reshape(*chars.shape[:-1], self.output_size)
        words = lengths.nonzero().squeeze(1)  # only real words are encoded
        out = self.embedding.weight.new_zeros(flat.shape[0], self.output_size)
        if words.numel():
            width = int(lengths.max())
            # each distinct spelling once: a batch of sentences repeats "the", ",", "." ...
            spellings, which = flat[words, :width].unique(dim=0, return_inverse=True)
            encoded = self.encode(spellings, (spellings != 0).sum(dim=1))  # (U, D)
            out = out.index_copy(0, words, encoded[which].to(out.dtype))
        return out.reshape(*chars.shape[:-1], self.output_size)

    @abstractmethod
    def encode(self, chars: Tensor, lengths: Tensor) -> Tensor:
        """``(N, L)`` character ids of ``N`` non-empty words and their lengths -> ``(N, D)``."""


class CharRNN(CharEncoder):
    """A bidirectional recurrent layer over each word's characters; final states concatenated.

    Args:
        num_chars: size of the character vocabulary (id 0 is padding).
        embedding_size: features of each character embedding (Lample et al.: 25).
        hidden_size: features of each direction's state (Lample et al.: 25); the word vector
            has ``2 * hidden_size``.
        cell: any registered cell name (``"lstm"``, ``"gru"``, ...).
        dropout: dropout on the character embeddings.
        backend: backend of the recurrent layer (see :class:`rnnkit.Recurrent`).
        deterministic: bit-identical results run to run (see :class:`rnnkit.Recurrent`).
    """

    def __init__(
        self,
        num_chars: int,
        embedding_size: int = 25,
        hidden_size: int = 25,
        cell: str = "lstm",
        dropout: float = 0.0,
        backend: Literal["auto", "fused", "loop", "scan"] = "auto",
        deterministic: bool = False,
    ) -> None:
        super().__init__(num_chars, embedding_size, dropout)
        self.rnn = Recurrent(
            cell,
            embedding_size,
            hidden_size,
            bidirectional=True,
            backend=backend,
            deterministic=deterministic,
        )
        self.output_size = 2 * hidden_size

    def encode(self, chars: Tensor, lengths: Tensor) -> Tensor:
        x = self.dropout(self.embedding(chars))  # (N, L, E)
        _, state = self.rnn(x, lengths)
        h = state[0] if isinstance(state, tuple) else state  # (2, N, H): forward, backward
        return torch.cat([h[0], h[1]], dim=-1)  # (N, 2H)


class CharCNN(CharEncoder):
    """A convolution over each word's character embeddings, max-pooled over its characters.

    Positions past a word's end read zero vectors, exactly as the convolution's own zero
    padding, so the result does not depend on how wide the batch is.

    Args:
        num_chars: size of the character vocabulary (id 0 is padding).
        embedding_size: features of each character embedding (Ma & Hovy: 30).
        num_filters: convolution filters = features of each word vector (Ma & Hovy: 30).
        kernel_size: characters each filter sees (odd; Ma & Hovy: 3).
        dropout: dropout on the character embeddings.
    """

    def __init__(
        self,
        num_chars: int,
        embedding_size: int = 30,
        num_filters: int = 30,
        kernel_size: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(num_chars, embedding_size, dropout)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.conv = nn.Conv1d(embedding_size, num_filters, kernel_size, padding=kernel_size // 2)
        self.output_size = num_filters

    def encode(self, chars: Tensor, lengths: Tensor) -> Tensor:
        real = torch.arange(chars.shape[1], device=chars.device) < lengths[:, None]  # (N, L)
        x = self.dropout(self.embedding(chars)) * real[..., None]  # (N, L, E), 0 past the end
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (N, L, F)
        return pool(h, lengths, "max")  # (N, F) over the real characters only
