"""Datasets served as in-memory tensors."""

from .bundle import DataBundle, split_indices
from .batches import TensorBatches

__all__ = ["DataBundle", "TensorBatches", "split_indices"]
