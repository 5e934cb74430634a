"""The course metric (docs/ARCHITECTURE.md): a count F1 per image, averaged over images.

For one image with true counts t and predicted counts p over the 13 classes,
TP = Σ_c min(t_c, p_c), FPN = Σ_c |t_c − p_c|, and F1 = 2·TP / (2·TP + FPN), or 1 when both
rows are all zeros. The score is the mean of F1 over images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chocolib.errors import ChocoError

if TYPE_CHECKING:
    import pandas as pd


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


def severity_grid(table: pd.DataFrame, setting: str, order) -> pd.DataFrame:
    """A robustness table (one F1 per `setting` × ``severity``, severity 0 the clean photos) as one
    row per setting, in `order`, and one column per severity above 0, with the row mean: the
    layout of the corruption and the shift suites' tables."""
    grid = table[table["severity"] > 0].pivot(index=setting, columns="severity", values="f1")
    grid.columns = [f"severity {s}" for s in grid.columns]
    grid["mean"] = grid.mean(axis=1)
    return grid.loc[[name for name in order if name in grid.index]]


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


# --------------------------------------------------------------------------------------------
# Detection quality beside counting: COCO mAP (torchmetrics over pycocotools, not hand-written)
# --------------------------------------------------------------------------------------------
def detection_map(detections, truth, ids) -> tuple[dict, pd.DataFrame]:
    """COCO mAP@[.5:.95] and mAP@.5 of raw detections against true boxes, overall and per class.

    `detections`: rows with id, label (model label id), score, x0, y0, x1, y1 (normalised);
    `truth`: rows with id, cls (Kaggle index), cx, cy, w, h (normalised), as
    `chocolib.annotations.read_labels` gives them; `ids`: the photos evaluated (a photo may have
    no box of either kind). Boxes stay normalised: IoU does not change when both axes are scaled,
    and only the all-sizes figures are reported (COCO's small/medium/large areas would need pixels).
    Detections should be the raw ones (before any count threshold), as COCO ranks them by score.
    Returns ({"map": …, "map_50": …}, a table with one row per class: class, ap, ap_50, true_boxes).
    """
    import pandas as pd
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    from chocolib import classes

    predictions, targets = [], []
    for photo in ids:
        mine = detections[(detections["id"] == photo) & detections["score"].notna()]
        true = truth[truth["id"] == photo]
        predictions.append(
            {
                "boxes": torch.tensor(mine[["x0", "y0", "x1", "y1"]].to_numpy(np.float32)).reshape(-1, 4),
                "scores": torch.tensor(mine["score"].to_numpy(np.float32)),
                "labels": torch.tensor(mine["label"].to_numpy(np.int64)),
            }
        )
        cx, cy, w, h = (true[c].to_numpy(np.float32) for c in ("cx", "cy", "w", "h"))
        targets.append(
            {
                "boxes": torch.tensor(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)).reshape(-1, 4),
                "labels": torch.tensor(true["cls"].to_numpy(np.int64) + 1),
            }
        )
    results = {}
    for name, iou in (("ap", None), ("ap_50", [0.5])):
        scorer = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True, iou_thresholds=iou)
        scorer.update(predictions, targets)
        results[name] = scorer.compute()
    per_class = {int(c): float(v) for c, v in zip(results["ap"]["classes"].reshape(-1), results["ap"]["map_per_class"].reshape(-1))}
    per_class_50 = {
        int(c): float(v) for c, v in zip(results["ap_50"]["classes"].reshape(-1), results["ap_50"]["map_per_class"].reshape(-1))
    }
    true_boxes = truth[truth["id"].isin(list(ids))]["cls"].value_counts()
    # COCO gives -1 to a class with no true box in these photos: shown as missing, not as 0
    table = pd.DataFrame(
        [
            {
                "class": name,
                "ap": per_class.get(label, -1.0),
                "ap_50": per_class_50.get(label, -1.0),
                "true_boxes": int(true_boxes.get(label - 1, 0)),
            }
            for name, label in classes.LABEL_IDS.items()
        ]
    )
    table[["ap", "ap_50"]] = table[["ap", "ap_50"]].where(table[["ap", "ap_50"]] >= 0)
    summary = {"map": float(results["ap"]["map"]), "map_50": float(results["ap"]["map_50"])}
    return summary, table
