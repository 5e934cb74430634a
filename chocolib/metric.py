"""The course metric (DESIGN.md): a count F1 per image, averaged over images.

For one image with true counts t and predicted counts p over the 13 classes,
TP = Σ_c min(t_c, p_c), FPN = Σ_c |t_c − p_c|, and F1 = 2·TP / (2·TP + FPN), or 1 when both
rows are all zeros. The score is the mean of F1 over images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chocolib.errors import ChocoError


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


def score_files(truth: str | Path, submission: str | Path) -> float:
    """The course score of a submission CSV against a truth CSV (both in Kaggle's format).

    Both files are read by `chocolib.dataset.read_counts` (exact header, integer counts ≥ 0, no
    duplicate id: errors name the file and line); the submission must hold exactly the truth's ids.
    """
    from chocolib import dataset

    true_counts = dataset.read_counts(truth)
    predicted = dataset.read_counts(submission)
    missing = true_counts.index.difference(predicted.index, sort=False)
    extra = predicted.index.difference(true_counts.index, sort=False)
    if len(missing):
        raise ChocoError(f"{len(missing)} id(s) of {Path(truth).name} missing, first: {', '.join(missing[:5])}", submission)
    if len(extra):
        raise ChocoError(f"{len(extra)} id(s) not in {Path(truth).name}, first: {', '.join(extra[:5])}", submission)
    return mean_count_f1(true_counts.to_numpy(), predicted.loc[true_counts.index].to_numpy())
