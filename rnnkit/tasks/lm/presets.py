"""Presets of ``rnnkit train lm``: named sets of option defaults (``--preset NAME``).

A preset is nothing but defaults: it fills the options a run does not set, and a config file
or a flag overrides any of them (``--preset awd-lstm --hidden-size 512``). The resolved
options are what the run directory saves, so a run never depends on a preset's later
changes. The training code is the same with or without a preset.

``awd-lstm``: the AWD-LSTM of Merity, Keskar & Socher, "Regularizing and Optimizing LSTM
Language Models" (ICLR 2018), with their WikiText-2 regularisation, trained with fast.ai's
one-cycle Adam variant (Howard & Ruder 2018; fast.ai's ``language_model_learner``) instead of
NT-ASGD:

==========================  ===========================================================
model                       3-layer LSTM, stacked encoder 400 -> 1150 -> 1150 -> 400,
                            embedding 400, decoder tied to the embedding
embed_dropout 0.1           whole words dropped from the embedding table (dropoute)
input_dropout 0.65          locked dropout on the embeddings (dropouti)
rnn_dropout 0.2             locked dropout between the layers (dropouth, WikiText-2)
dropout 0.4                 locked dropout on the last layer's outputs (dropout)
weight_dropout 0.5          DropConnect on the hidden-to-hidden weights (wdrop)
ar 2, tar 1                 activation and temporal activation regularisation
seq_len 70, variable_bptt   back-propagation windows of about 70 steps
batch_size 80               as the paper's WikiText-2 runs (eval batch 10)
adamw, lr 3e-3, onecycle    fast.ai's one-cycle schedule (30% rising), weight decay 0.01
grad_clip 0.25, epochs 50   clipping as the paper; 50 epochs (the paper: 750 with NT-ASGD)
==========================  ===========================================================
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "awd-lstm": {
        "model": {
            "cell": "lstm",
            "encoder": "stacked",
            "num_layers": 3,
            "embedding_size": 400,
            "hidden_size": 1150,
            "output_size": 400,
            "tie_weights": True,
            "embed_dropout": 0.1,
            "input_dropout": 0.65,
            "rnn_dropout": 0.2,
            "dropout": 0.4,
            "weight_dropout": 0.5,
        },
        "data": {
            "seq_len": 70,
            "variable_bptt": True,
            "batch_size": 80,
            "eval_batch_size": 10,
        },
        "trainer": {
            "optimizer": "adamw",
            "lr": 3e-3,
            "scheduler": "onecycle",
            "weight_decay": 0.01,
            "grad_clip": 0.25,
            "epochs": 50,
        },
        "ar": 2.0,
        "tar": 1.0,
    }
}
"""Preset name -> options, by config section (the same keys as a config file)."""
