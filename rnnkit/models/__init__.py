"""Task models built from layers, each with its typed config and ``from_config``."""

from rnnkit.models.forecaster import (
    AutoregressiveDecoder,
    DirectHead,
    Forecaster,
    ForecasterConfig,
    RevIN,
)
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

__all__ = [
    "AutoregressiveDecoder",
    "DirectHead",
    "Forecaster",
    "ForecasterConfig",
    "LanguageModel",
    "LanguageModelConfig",
    "RevIN",
]
