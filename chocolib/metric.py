"""The course metric (DESIGN.md): a count F1 per image, averaged over images.

For one image with true counts t and predicted counts p over the 13 classes,
TP = Σ_c min(t_c, p_c), FPN = Σ_c |t_c − p_c|, and F1 = 2·TP / (2·TP + FPN), or 1 when both
rows are all zeros. The score is the mean of F1 over images.
"""

from __future__ import annotations

import numpy as np


def count_f1(true_counts, predicted_counts) -> np.ndarray:
    """Per-image F1 for two arrays of counts shaped (images, classes)."""
    true_counts = np.asarray(true_counts, dtype=np.int64)
    predicted_counts = np.asarray(predicted_counts, dtype=np.int64)
    if true_counts.shape != predicted_counts.shape:
        raise ValueError(f"count arrays differ in shape: {true_counts.shape} vs {predicted_counts.shape}")
    tp = np.minimum(true_counts, predicted_counts).sum(axis=-1)
    fpn = np.abs(true_counts - predicted_counts).sum(axis=-1)
    denominator = 2 * tp + fpn
    return np.where(denominator == 0, 1.0, 2 * tp / np.maximum(denominator, 1))


def mean_count_f1(true_counts, predicted_counts) -> float:
    """The course score: the mean per-image F1 (1.0 for no images)."""
    per_image = count_f1(true_counts, predicted_counts)
    return float(per_image.mean()) if per_image.size else 1.0
