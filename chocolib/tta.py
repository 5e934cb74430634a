"""Test-time augmentation: the model sees each photo several ways (flipped, turned), each view's
boxes are mapped back to the photo, and the views' detections are merged class by class with
weighted box fusion (Solovyev et al., "Weighted boxes fusion", 2021): boxes of one class that
overlap enough become one box, the score-weighted mean of theirs, scored by the sum of their scores
over the number of views — so a chocolate every view finds keeps its score, and a detection only
one view of four makes keeps a quarter of it.

Boxes here are normalised to their image (x0, y0, x1, y1 in [0, 1]), so a view that turns the
photo changes nothing but the coordinates.

A view can also show the photo *larger* (`sizes`: the Faster R-CNN's input side × 1.25, so a
chocolate seen from far away covers more of its features) — views that complement each other
rather than agree: a far chocolate only the larger view finds must keep its score, so those views'
boxes are fused scored by their best view, not their mean (`SCORE_RULES`).
"""

from __future__ import annotations

import contextlib

import numpy as np

from chocolib.errors import ChocoError

# a view: (the image tensor C × H × W → the view, a view's boxes → the photo's boxes)
_VIEW = {
    "identity": (lambda x: x, lambda b: b),
    "hflip": (lambda x: x.flip(-1), lambda b: np.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], 1)),
    "vflip": (lambda x: x.flip(-2), lambda b: np.stack([b[:, 0], 1 - b[:, 3], b[:, 2], 1 - b[:, 1]], 1)),
    "rot180": (lambda x: x.flip(-1).flip(-2), lambda b: np.stack([1 - b[:, 2], 1 - b[:, 3], 1 - b[:, 0], 1 - b[:, 1]], 1)),
    # torch.rot90 by one quarter (counter-clockwise): a photo point (x, y) lands at (y, 1 − x)
    "rot90": (lambda x: x.rot90(1, (-2, -1)), lambda b: np.stack([1 - b[:, 3], b[:, 0], 1 - b[:, 1], b[:, 2]], 1)),
    # three quarters: (x, y) lands at (1 − y, x)
    "rot270": (lambda x: x.rot90(3, (-2, -1)), lambda b: np.stack([b[:, 1], 1 - b[:, 2], b[:, 3], 1 - b[:, 0]], 1)),
}

_VIEW["larger"] = _VIEW["identity"]
#: views that change the detector's input size, by this factor of its own (min_size, max_size)
INPUT_SCALES = {"larger": 1.25}

#: The TTA settings: which views the model sees (``none``: the photo once, as without TTA).
MODES = {
    "none": ("identity",),
    "hflip": ("identity", "hflip"),
    "flips": ("identity", "hflip", "vflip", "rot180"),
    "flips_turns": ("identity", "hflip", "vflip", "rot180", "rot90", "rot270"),
    "sizes": ("identity", "larger"),
}
#: how a fused box is scored: ``mean`` over all views (views that should agree: one view's lone
#: box is likely wrong) or ``max``, its best view's (views that see different chocolates)
SCORE_RULES = {"sizes": "max"}
#: Boxes of one class with at least this IoU are one chocolate.
FUSION_IOU = 0.55


def views(mode: str) -> tuple[str, ...]:
    if mode not in MODES:
        raise ChocoError(f"unknown test-time augmentation {mode!r}: one of {', '.join(MODES)}")
    return MODES[mode]


def view_image(image, view: str):
    return _VIEW[view][0](image)


def words(mode: str) -> str:
    """``without test-time augmentation`` or ``with test-time augmentation sizes``: for sentences."""
    return "without test-time augmentation" if views(mode) == ("identity",) else f"with test-time augmentation {mode}"


def score_rule(mode: str) -> str:
    return SCORE_RULES.get(mode, "mean")


@contextlib.contextmanager
def input_size(model, view: str):
    """The model sees `view` at its input size (`INPUT_SCALES`): a Faster R-CNN's transform
    resizes every image to (min_size, max_size), so the view scales those, and they are restored
    after."""
    scale = INPUT_SCALES.get(view, 1.0)
    if scale == 1.0:
        yield
        return
    transform = getattr(model, "transform", None)
    if transform is None:
        raise ChocoError(f"the {view!r} view changes a Faster R-CNN's input size; this model counts at one square side")
    min_size, max_size = transform.min_size, transform.max_size
    transform.min_size, transform.max_size = tuple(round(side * scale) for side in min_size), round(max_size * scale)
    try:
        yield
    finally:
        transform.min_size, transform.max_size = min_size, max_size


def to_photo(boxes: np.ndarray, view: str) -> np.ndarray:
    """A view's normalised boxes (N × 4, x0 y0 x1 y1) in the photo's normalised coordinates."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return _VIEW[view][1](boxes) if len(boxes) else boxes


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return inter / np.maximum(union, 1e-12)


def fuse(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, n_views: int, iou: float = FUSION_IOU, rule: str = "mean"):
    """Weighted box fusion of the detections of all views of one photo, class by class:
    (boxes, scores, labels) of the fused detections, highest score first. `rule`: a fused box's
    score is the sum of its members' over `n_views` (``mean``) or its best member's (``max``)."""
    if rule not in ("mean", "max"):
        raise ChocoError(f"unknown fusion score rule {rule!r}: mean or max")
    boxes, scores, labels = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64), np.asarray(labels)
    if n_views == 1 or not len(boxes):
        order = np.argsort(-scores, kind="stable")
        return boxes[order], scores[order], labels[order]
    fused_boxes, fused_scores, fused_labels = [], [], []
    for label in np.unique(labels):
        mine = np.flatnonzero(labels == label)
        mine = mine[np.argsort(-scores[mine], kind="stable")]
        clusters: list[list[int]] = []
        centres = np.zeros((0, 4))
        for index in mine:
            overlap = _iou(boxes[index], centres) if len(centres) else np.zeros(0)
            best = int(np.argmax(overlap)) if len(overlap) else -1
            if best >= 0 and overlap[best] >= iou:
                clusters[best].append(index)
                weight = scores[clusters[best]]
                centres[best] = (boxes[clusters[best]] * weight[:, None]).sum(0) / weight.sum()
            else:
                clusters.append([index])
                centres = np.vstack([centres, boxes[index]])
        for members, centre in zip(clusters, centres):
            fused_boxes.append(centre)
            fused_scores.append(min(1.0, scores[members].sum() / n_views) if rule == "mean" else scores[members].max())
            fused_labels.append(label)
    order = np.argsort(-np.array(fused_scores), kind="stable")
    return np.array(fused_boxes)[order], np.array(fused_scores)[order], np.array(fused_labels)[order]
