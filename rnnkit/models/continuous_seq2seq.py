"""Encoder-decoder for feature vectors: :class:`ContinuousSeq2Seq` is the
:class:`~rnnkit.models.seq2seq.Seq2Seq` architecture with linear maps in place of the
embeddings and the softmax, for numeric sequences (e.g. a forecast of the next values)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.encoder_decoder import Decoder, Encoder
from rnnkit.models.seq2seq import Seq2SeqConfig, build_parts


class ContinuousSeq2Seq(nn.Module):
    """Feature sequence -> feature sequence, e.g. a forecast of the next ``steps`` values.

    The source ``(B, S, F_in)`` and the decoder inputs ``(B, T, F_out)`` go through linear maps
    instead of embeddings, and the output layer predicts ``F_out`` features per step. Decoder
    input ``t`` is the value at step ``t - 1``: the first is a start vector (zeros unless given;
    e.g. the last observed target values), the rest is the target shifted by one
    (:meth:`decoder_inputs`). :meth:`generate` feeds each prediction back as the next input.

    Args:
        encoder: reads ``(B, S, F_in)``.
        decoder: maps ``(N, F_out)`` inputs to ``(N, F_out)`` predictions.
        output_size: ``F_out``.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, output_size: int) -> None:
        super().__init__()
        self.encoder, self.decoder, self.output_size = encoder, decoder, output_size

    @classmethod
    def from_config(
        cls, config: Seq2SeqConfig, input_size: int, output_size: int
    ) -> ContinuousSeq2Seq:
        """Build the parts a config describes (its decoding fields are unused)."""
        if config.tie_embeddings:
            raise ValueError("tie_embeddings applies to token vocabularies, not feature vectors")
        E = config.embedding_size
        encoder, decoder = build_parts(
            config, nn.Linear(input_size, E), nn.Linear(output_size, E), output_size
        )
        return cls(encoder, decoder, output_size)

    @staticmethod
    def decoder_inputs(target: Tensor, start: Tensor | None = None) -> Tensor:
        """``[start, target[:, :-1]]``: teacher-forced inputs ``(B, T, F_out)`` for ``target``."""
        first = target.new_zeros(target[:, :1].shape) if start is None else start[:, None]
        return torch.cat([first, target[:, :-1]], dim=1)

    def forward(
        self,
        src: Tensor,
        tgt_in: Tensor,
        lengths: Tensor | None = None,
        teacher_forcing: float = 1.0,
    ) -> Tensor:
        """Predictions ``(B, T, F_out)``.

        Args:
            src: ``(B, S, F_in)`` observed history.
            tgt_in: ``(B, T, F_out)`` decoder inputs, e.g. :meth:`decoder_inputs` of the target.
            lengths: ``(B,)`` true history lengths, or None.
            teacher_forcing: probability of feeding ``tgt_in[:, t]`` rather than the previous
                prediction (training only).
        """
        memory, state = self.encoder(src, lengths)
        s = self.decoder.start(memory, lengths, state)
        ratio = teacher_forcing if self.training else 1.0
        return self.decoder(tgt_in, s, ratio, feedback=lambda out: out)

    def generate(
        self,
        src: Tensor,
        steps: int,
        start: Tensor | None = None,
        lengths: Tensor | None = None,
        return_attention: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor | None]:
        """Predict ``steps`` steps autoregressively: ``(B, steps, F_out)``.

        Args:
            src: ``(B, S, F_in)`` observed history.
            steps: how many steps to predict.
            start: ``(B, F_out)`` first decoder input (the one used in training; default zeros).
            lengths: ``(B,)`` true history lengths, or None.
            return_attention: also return the weights ``(B, steps, S)`` (None without attention).

        Gradients flow through the fed-back predictions unless called under ``torch.no_grad()``
        (free-running training); call ``eval()`` first for forecasts without dropout.
        """
        memory, state = self.encoder(src, lengths)
        s = self.decoder.start(memory, lengths, state)
        current = src.new_zeros(src.shape[0], self.output_size) if start is None else start
        outputs, weights = [], []
        for _ in range(steps):
            current, s, w = self.decoder.step(current, s)
            outputs.append(current)
            weights.append(w)
        out = torch.stack(outputs, dim=1)
        if not return_attention:
            return out
        return out, (torch.stack(weights, dim=1) if weights[0] is not None else None)
