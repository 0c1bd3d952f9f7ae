"""``dmf`` (an MLP over user and item embeddings) and ``mf_adam`` (biased MF trained the same way)."""

from .deep import DeepMF, MFAdam

__all__ = ["DeepMF", "MFAdam"]
