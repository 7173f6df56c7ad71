"""Task models built from layers, each with its typed config and ``from_config``."""

from rnnkit.models.adaptive_input import AdaptiveInput
from rnnkit.models.adaptive_softmax import AdaptiveSoftmax
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.continuous_seq2seq import ContinuousSeq2Seq
from rnnkit.models.forecaster import (
    AutoregressiveDecoder,
    DirectHead,
    Forecaster,
    ForecasterConfig,
    RevIN,
)
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.tagger import SequenceTagger, TaggerConfig

__all__ = [
    "AdaptiveInput",
    "AdaptiveSoftmax",
    "AutoregressiveDecoder",
    "ClassifierConfig",
    "ContinuousSeq2Seq",
    "DirectHead",
    "Forecaster",
    "ForecasterConfig",
    "LanguageModel",
    "LanguageModelConfig",
    "RevIN",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SequenceClassifier",
    "SequenceTagger",
    "TaggerConfig",
]
