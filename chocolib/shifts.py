"""Counting where the camera and the table differ from the training photos: a geometric shift suite
beside the corruption suite of `chocolib.robustness`.

The corruptions change pixels and keep every chocolate where it is. The shifts here change what a
chocolate *is* in the picture, and the true counts with it where a chocolate leaves the frame:

* ``zoom_out`` — the camera farther away: the photo shrunk onto a canvas of its own size, the
  border filled with the photo's own table (its chocolates masked out, smoothed, its grain kept),
  every box scaled with it;
* ``zoom_in`` — the camera closer: a crop of 1/z of the side, enlarged back to the photo's size;
  a chocolate counts when at least half of it is left in the frame, and the crop is placed where
  few chocolates are cut (15–85 % left) (a person counting the photo would hesitate over those);
* ``occlusion`` — things lying across chocolates: a pen-like bar over the edge of about half the
  chocolates, covering this share of each one's box and of no box more (a pen also crosses its
  neighbours); the boxes and counts are kept;
* ``shadow`` — a hard directional shadow (an edge a few pixels soft) over part of the photo,
  this much darker and a little bluer, as outdoor or lamp light casts.

Each shift is drawn from its own random stream, seeded by (seed, photo, shift, severity), so a
table is reproducible to the byte. The generators are deliberately not the training's own
(`chocolib.copy_paste` pastes other occluders, `augment.online_geometry` fills zoom-outs with a
flat colour), so the suite measures generalisation rather than recognising its own augmentation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from chocolib import classes, dataset, metric
from chocolib.errors import ChocoError

if TYPE_CHECKING:
    from chocolib.predict import Detections

log = logging.getLogger(__name__)

#: a chocolate cut by the frame of a zoom-in counts when this share of its box is left
MIN_VISIBLE = 0.5
#: the suite's version: numbers judged under another are not comparable (2: no pen hides any
#: chocolate beyond the occlusion setting's share; 1 let pens hide their neighbours whole)
SUITE_VERSION = 2


@dataclass
class Scene:
    """One photo as the model receives it: H × W × 3 uint8 pixels, boxes in pixels (x0, y0, x1,
    y1) and their class indices (Kaggle order)."""

    pixels: np.ndarray
    boxes: np.ndarray
    cls: np.ndarray

    def counts(self) -> np.ndarray:
        return np.bincount(self.cls.astype(np.int64), minlength=classes.NUM_CLASSES)


def table_fill(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """A canvas of the photo's own table: the photo with its chocolates masked out, the masked
    places filled from their surroundings (a normalised blur), then its fine grain (the photo's
    high frequencies, away from the chocolates) laid back over it, so the border is neither flat
    nor a copy of a chocolate."""
    import cv2

    height, width = scene.pixels.shape[:2]
    x = scene.pixels.astype(np.float32)
    free = np.ones((height, width), np.float32)
    for x0, y0, x1, y1 in scene.boxes:
        margin = 0.15 * max(x1 - x0, y1 - y0)
        free[max(0, int(y0 - margin)) : int(np.ceil(y1 + margin)), max(0, int(x0 - margin)) : int(np.ceil(x1 + margin))] = 0
    sigma = 0.04 * max(height, width)
    weight = cv2.GaussianBlur(free, (0, 0), sigma)[..., None]
    smooth = cv2.GaussianBlur(x * free[..., None], (0, 0), sigma) / np.maximum(weight, 1e-3)
    fallback = x.reshape(-1, 3).mean(0)
    smooth = np.where(weight > 1e-3, smooth, fallback)
    grain = (x - cv2.GaussianBlur(x, (0, 0), 3.0)) * free[..., None]
    # the grain of the free table, shifted by a random offset so its objects do not line up with the photo's
    grain = np.roll(grain, (int(rng.integers(height)), int(rng.integers(width))), axis=(0, 1))
    return np.clip(smooth + grain, 0, 255)


def _zoom_out(scene: Scene, share: float, rng) -> Scene:
    import cv2

    height, width = scene.pixels.shape[:2]
    small_w, small_h = max(8, round(width * share)), max(8, round(height * share))
    canvas = table_fill(scene, rng)
    left, top = int(rng.integers(0, width - small_w + 1)), int(rng.integers(0, height - small_h + 1))
    small = cv2.resize(scene.pixels, (small_w, small_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    # a feathered seam: the photo fades into the table over a few pixels
    alpha = np.zeros((small_h, small_w), np.float32)
    edge = max(2, round(0.01 * max(small_w, small_h)))
    alpha[edge:-edge, edge:-edge] = 1
    alpha = cv2.GaussianBlur(alpha, (0, 0), edge / 2)[..., None]
    region = canvas[top : top + small_h, left : left + small_w]
    canvas[top : top + small_h, left : left + small_w] = small * alpha + region * (1 - alpha)
    scale = np.array([small_w / width, small_h / height] * 2)
    boxes = scene.boxes * scale + [left, top, left, top]
    return Scene(np.rint(canvas).astype(np.uint8), boxes, scene.cls.copy())


def _visible(boxes: np.ndarray, window) -> np.ndarray:
    x0, y0, x1, y1 = window
    inter_w = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
    inter_h = np.clip(np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    return inter_w * inter_h / area


def _zoom_in(scene: Scene, zoom: float, rng) -> Scene:
    import cv2

    height, width = scene.pixels.shape[:2]
    crop_w, crop_h = width / zoom, height / zoom
    best = None
    for _ in range(24):
        left, top = rng.uniform(0, width - crop_w), rng.uniform(0, height - crop_h)
        visible = _visible(scene.boxes, (left, top, left + crop_w, top + crop_h))
        # a chocolate cut by the frame, neither a sliver nor nearly whole, is one a person would hesitate over
        doubtful = int(((visible > 0.15) & (visible < 0.85)).sum())
        kept = int((visible >= MIN_VISIBLE).sum())
        key = (doubtful, -kept)
        if kept and (best is None or key < best[0]):
            best = (key, left, top, visible)
    if best is None:  # no chocolate fits any crop: the centre
        left, top = (width - crop_w) / 2, (height - crop_h) / 2
        visible = _visible(scene.boxes, (left, top, left + crop_w, top + crop_h))
    else:
        _, left, top, visible = best
    matrix = np.array([[zoom, 0, -left * zoom], [0, zoom, -top * zoom]], np.float32)
    pixels = cv2.warpAffine(scene.pixels, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    keep = visible >= MIN_VISIBLE
    boxes = (scene.boxes[keep] - [left, top, left, top]) * zoom
    boxes = np.clip(boxes, 0, [width, height, width, height])
    return Scene(pixels, boxes, scene.cls[keep].copy())


def _bar(grid_y: np.ndarray, grid_x: np.ndarray, centre, angle: float, half_width: float, half_length: float) -> np.ndarray:
    """A pen-shaped mask (a bar with round ends) over the pixel grid (`grid_y`, `grid_x`: float32
    row and column of every pixel), H × W float32 in [0, 1], edges anti-aliased."""
    import cv2

    along = (grid_x - centre[0]) * np.cos(angle) + (grid_y - centre[1]) * np.sin(angle)
    across = -(grid_x - centre[0]) * np.sin(angle) + (grid_y - centre[1]) * np.cos(angle)
    beyond = np.clip(np.abs(along) - half_length, 0, None)
    distance = np.sqrt(beyond**2 + across**2)
    return cv2.GaussianBlur(np.clip(half_width - distance + 0.5, 0, 1).astype(np.float32), (0, 0), 0.7)


#: draws of a pen's direction and length before its chocolate is left without one
PEN_TRIES = 12
#: what anti-aliasing may add to a setting's share of a box
PEN_SLACK = 0.03


def _covered(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The share of each box (pixels) that `mask` (H × W in [0, 1]) hides, a pixel hidden past half."""
    shares = np.zeros(len(boxes))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        inside = mask[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
        shares[i] = (inside > 0.5).mean() if inside.size else 0.0
    return shares


def _occlusion(scene: Scene, cover: float, rng) -> Scene:
    """Pens over the edge of about half the chocolates, each hiding `cover` of its chocolate's box.
    A pen is long (2.4–4.4 of its chocolate) and its direction is drawn again (`PEN_TRIES`) until,
    with the pens already laid, it hides no chocolate beyond `cover`: the severity is the share of a
    box hidden, for every chocolate, not for the chosen ones only (a pen laid without that check hid
    its neighbours whole on a crowded table; docs/robustness-and-generalisation.md, "Occlusion: what
    the suite hid").
    A chocolate with no such direction is left without a pen."""
    height, width = scene.pixels.shape[:2]
    x = scene.pixels.astype(np.float32)
    n = len(scene.boxes)
    chosen = rng.permutation(n)[: max(1, n // 2)] if n else []
    rows, columns = np.mgrid[0:height, 0:width]  # one pixel grid for every pen of the photo
    grid_y, grid_x = rows.astype(np.float32), columns.astype(np.float32)
    hidden = np.zeros((height, width), np.float32)  # what the pens laid so far cover
    for index in chosen:
        x0, y0, x1, y1 = scene.boxes[index]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ys, xs = np.mgrid[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
        if not xs.size:
            continue
        for _ in range(PEN_TRIES):
            angle = rng.uniform(0, np.pi)
            normal = np.array([-np.sin(angle), np.cos(angle)])
            # the bar lies along `angle`; its inner edge is the line that leaves `cover` of the box on the far side
            depth = (xs - cx) * normal[0] + (ys - cy) * normal[1]
            edge = float(np.quantile(depth, 1 - cover))
            half_width = 0.5 * (depth.max() - edge) + 0.15 * max(x1 - x0, y1 - y0)
            centre = np.array([cx, cy]) + normal * (edge + half_width)
            mask = _bar(grid_y, grid_x, centre, angle, half_width, rng.uniform(1.2, 2.2) * max(x1 - x0, y1 - y0))
            if _covered(np.maximum(hidden, mask), scene.boxes).max() <= cover + PEN_SLACK:
                break
        else:
            continue
        hidden = np.maximum(hidden, mask)
        colour = rng.choice([[30, 30, 35], [20, 50, 150], [170, 30, 30], [235, 235, 230], [40, 120, 60], [200, 170, 40]]).astype(np.float32)
        colour = colour * rng.uniform(0.85, 1.15)
        # a lengthwise highlight makes it a round pen, not a painted stripe
        across = (columns - centre[0]) * normal[0] + (rows - centre[1]) * normal[1]
        shine = np.exp(-((across + 0.35 * half_width) ** 2) / (2 * (0.2 * half_width) ** 2))[..., None]
        paint = np.clip(colour + (255 - colour) * 0.45 * shine, 0, 255)
        x = paint * mask[..., None] + x * (1 - mask[..., None])
    return Scene(np.rint(np.clip(x, 0, 255)).astype(np.uint8), scene.boxes.copy(), scene.cls.copy())


def _shadow(scene: Scene, darkness: float, rng) -> Scene:
    import cv2

    height, width = scene.pixels.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    signed = (grid_x - width / 2) * np.cos(angle) + (grid_y - height / 2) * np.sin(angle)
    # the edge crosses the photo so that 30–60 % of it lies in the shadow
    edge = np.quantile(signed, 1 - rng.uniform(0.3, 0.6))
    inside = (signed > edge).astype(np.float32)
    inside = cv2.GaussianBlur(inside, (0, 0), rng.uniform(1.0, 3.0))[..., None]
    tint = np.array([0.92, 0.97, 1.08], np.float32)  # skylight: shadows are bluer
    gain = 1 - inside * (1 - darkness * tint)
    return Scene(np.rint(np.clip(scene.pixels * gain, 0, 255)).astype(np.uint8), scene.boxes.copy(), scene.cls.copy())


@dataclass(frozen=True)
class Shift:
    name: str
    what: str
    levels: tuple  # severity 1, 2, 3
    apply: Callable


SHIFTS: dict[str, Shift] = {
    s.name: s
    for s in (
        Shift("zoom_out", "camera farther away: the photo shrunk to this share of its side", (0.8, 0.65, 0.5), _zoom_out),
        Shift("zoom_in", "camera closer: a crop enlarged by this factor", (1.3, 1.6, 2.0), _zoom_in),
        Shift("occlusion", "pens across half the chocolates, hiding at most this share of any box", (0.10, 0.20, 0.35), _occlusion),
        Shift("shadow", "a hard shadow over part of the photo, light kept at this share", (0.75, 0.6, 0.45), _shadow),
    )
}
SEVERITIES = (1, 2, 3)


def shift_seed(seed: int, photo: str, name: str, severity: int) -> int:
    digest = hashlib.sha256(f"shift:{seed}:{photo}:{name}:{severity}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def shift(scene: Scene, name: str, severity: int, seed: int = 0, photo: str = "") -> Scene:
    """`scene` under shift `name` at `severity` (1–3): new pixels (the same size), boxes and classes;
    deterministic for (seed, photo, name, severity)."""
    if name not in SHIFTS:
        raise ChocoError(f"unknown shift {name!r}: one of {', '.join(SHIFTS)}")
    if severity not in SEVERITIES:
        raise ChocoError(f"severity {severity} is not one of {SEVERITIES}")
    entry = SHIFTS[name]
    rng = np.random.default_rng(shift_seed(seed, photo, name, severity))
    return entry.apply(scene, entry.levels[severity - 1], rng)


def read_scenes(images, labels: pd.DataFrame, side: int | None) -> list[tuple[str, str, Scene]]:
    """(id, stem, scene) of every photo of the folder `images`, decoded at `side` as the model
    receives it, with its boxes from `labels` (`annotations.read_labels`)."""
    from chocolib import predict

    photos = predict.TestDataset(images, side)
    scenes = []
    for photo_id, (stem, path) in zip(photos.ids, photos.photos):
        pixels = np.asarray(dataset.read_photo(path, max_side=side).convert("RGB")).copy()
        height, width = pixels.shape[:2]
        rows = labels[labels["stem"] == stem]
        boxes = np.stack(
            [
                (rows["cx"] - rows["w"] / 2) * width,
                (rows["cy"] - rows["h"] / 2) * height,
                (rows["cx"] + rows["w"] / 2) * width,
                (rows["cy"] + rows["h"] / 2) * height,
            ],
            axis=1,
        ).reshape(-1, 4)
        scenes.append((photo_id, stem, Scene(pixels, boxes.astype(np.float64), rows["cls"].to_numpy(np.int64))))
    return scenes


def _truth(ids, scenes) -> pd.DataFrame:
    return pd.DataFrame(np.stack([scene.counts() for scene in scenes]), index=pd.Index(ids, name="id"), columns=list(classes.KAGGLE_NAMES))


def class_errors(truth: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Per Kaggle class over the photos of one setting: chocolates there, missed (counted too few)
    and extra (counted too many)."""
    difference = counts.to_numpy() - truth.to_numpy()
    return pd.DataFrame(
        {
            "class": list(classes.KAGGLE_NAMES),
            "true": truth.to_numpy().sum(0),
            "missed": np.clip(-difference, 0, None).sum(0),
            "extra": np.clip(difference, 0, None).sum(0),
        }
    )


def match(kept: pd.DataFrame, scene: Scene, iou: float = 0.5) -> tuple[np.ndarray, list[int]]:
    """One photo's kept detections (`Detections.kept` rows of its id) against its true boxes: each
    detection, best score first, takes the unmatched true box it overlaps most (IoU ≥ `iou`).
    Returns the class index each true box was detected as (−1: missed) and the class indices of the
    detections that took no box (false detections)."""
    import torch
    from torchvision.ops import box_iou

    height, width = scene.pixels.shape[:2]
    rows = kept.sort_values("score", ascending=False)
    detected = rows[["x0", "y0", "x1", "y1"]].to_numpy(np.float64) * [width, height, width, height]
    predicted = np.array([classes.KAGGLE_NAMES.index(c) for c in rows["class"]], np.int64)
    overlaps = (
        box_iou(torch.from_numpy(detected), torch.from_numpy(scene.boxes)).numpy()
        if len(detected) and len(scene.boxes)
        else np.zeros((len(detected), len(scene.boxes)))
    )
    given = np.full(len(scene.boxes), -1, np.int64)
    false = []
    for d, label in enumerate(predicted):
        candidates = np.where((given < 0) & (overlaps[d] >= iou))[0] if overlaps.shape[1] else []
        if len(candidates):
            given[candidates[np.argmax(overlaps[d, candidates])]] = label
        else:
            false.append(int(label))
    return given, false


def confusion(found, scenes, ids, threshold: float, iou: float = 0.5) -> np.ndarray:
    """Detection-level confusion of one setting: (13 + 1) × (13 + 1) counts, rows the true class
    (the last row: no chocolate there, a false detection), columns the class detected (the last
    column: none, a missed chocolate), the detections matched to true boxes by `match`."""
    n = classes.NUM_CLASSES
    matrix = np.zeros((n + 1, n + 1), np.int64)
    kept = found.kept(threshold)
    for photo_id, scene in zip(ids, scenes):
        given, false = match(kept[kept["id"] == photo_id], scene, iou)
        for true_class, label in zip(scene.cls, given):
            matrix[true_class, label if label >= 0 else n] += 1
        for label in false:
            matrix[n, label] += 1
    return matrix


def _most_confused(matrix: np.ndarray, true_class: int) -> str:
    row = matrix[true_class, :-1].copy()
    row[true_class] = 0
    return classes.KAGGLE_NAMES[int(row.argmax())] if row.max() > 0 else ""


@dataclass
class ShiftedRun:
    """The raw detections of one folder's photos, clean and under every shift and severity, with
    one test-time augmentation, beside each setting's scenes (a shift moves and hides chocolates,
    so each setting has its own truth): what `rows` scores at any threshold without the model."""

    tta: str
    ids: list[str]
    settings: list[tuple[str, int, list[Scene], Detections]]  # (shift, severity, scenes, detections); clean first

    def counted_sets(self) -> list[tuple[Detections, pd.DataFrame]]:
        """Every shifted setting (not the clean one) with its true counts: the shift part of
        `predict.choose_threshold`'s objective."""
        return [(found, _truth(self.ids, scenes)) for _, severity, scenes, found in self.settings if severity > 0]

    def one_per_chocolate(self, rule: str) -> ShiftedRun:
        """Every setting's detections under the cross-class `rule` (`predict.one_per_chocolate`)."""
        return ShiftedRun(self.tta, self.ids, [(n, s, scenes, f.one_per_chocolate(rule)) for n, s, scenes, f in self.settings])

    def rows(self, threshold) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Count F1 at `threshold` per setting: one row each (tta, shift, severity, level,
        threshold, chocolates, f1, images_per_s), the clean row first (severity 0); and the
        per-class errors of every setting (`class_errors`, with shift and severity, and from
        `confusion`: how many of the class were detected as another class, and as which most often)."""
        from chocolib import predict

        rows, errors = [], []
        for name, severity, scenes, found in self.settings:
            truth = _truth(self.ids, scenes)
            rows.append(
                {
                    "tta": self.tta,
                    "shift": name,
                    "severity": severity,
                    "level": SHIFTS[name].levels[severity - 1] if severity else "",
                    "threshold": threshold,
                    "chocolates": int(truth.to_numpy().sum()),
                    "f1": predict.f1_at(found, truth, threshold),
                    "images_per_s": found.images_per_s,
                }
            )
            matrix = confusion(found, scenes, self.ids, threshold)
            errors.append(
                class_errors(truth, found.counts(threshold, self.ids)).assign(
                    shift=name,
                    severity=severity,
                    swapped=matrix[:-1, :-1].sum(1) - np.diag(matrix[:-1, :-1]),
                    swapped_to=[_most_confused(matrix, c) for c in range(classes.NUM_CLASSES)],
                )
            )
        columns = ["tta", "shift", "severity", "level", "threshold", "chocolates", "f1", "images_per_s"]
        return pd.DataFrame(rows, columns=columns), pd.concat(errors, ignore_index=True)


def detect_shifted(
    model,
    images,
    labels: pd.DataFrame,
    side: int | None,
    seed: int = 0,
    names=None,
    batch_size: int = 4,
    tta: str = "none",
    clean: Detections | None = None,
) -> ShiftedRun:
    """Raw detections on the photos of `images` (a folder, boxes from `labels`), clean and under
    every shift of `names` (default: all) at every severity. `clean`: the clean photos' detections
    when the caller has them already (`predict.detect` of the same folder, model, side and `tta`)."""
    from tqdm.auto import tqdm

    from chocolib import predict

    names = list(names or SHIFTS)
    decoded = read_scenes(images, labels, side)
    ids = [photo_id for photo_id, _, _ in decoded]
    if clean is not None and clean.ids != ids:
        raise ChocoError("the clean detections given are not of these photos", images)
    settings = []
    for name, severity in tqdm([("clean", 0)] + [(n, s) for n in names for s in SEVERITIES], desc=f"shifts (TTA {tta})", unit="setting"):
        scenes = [scene if severity == 0 else shift(scene, name, severity, seed, stem) for _, stem, scene in decoded]
        if severity == 0 and clean is not None:
            found = clean
        else:
            photos = [(predict.as_tensor(Image.fromarray(s.pixels)), i) for s, i in zip(scenes, ids)]
            found = predict.detect_photos(model, photos, ids, batch_size, tta=tta, desc=None)
        settings.append((name, severity, scenes, found))
    log.info("shifts: %d photos, %d settings, TTA %s", len(decoded), len(settings) - 1, tta)
    return ShiftedRun(tta, ids, settings)


def shift_table(
    model,
    images,
    labels: pd.DataFrame,
    side: int | None,
    threshold: float,
    seed: int = 0,
    names=None,
    batch_size: int = 4,
    tta: str = "none",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`ShiftedRun.rows` of `detect_shifted` at `threshold`."""
    return detect_shifted(model, images, labels, side, seed, names, batch_size, tta).rows(threshold)


def summary(table: pd.DataFrame) -> dict:
    """The clean F1, the shift F1 (the mean over every shift and severity), the worst shift's
    mean and the worst setting of one `shift_table`."""
    shifted = table[table["severity"] > 0]
    means = shifted.groupby("shift", sort=False)["f1"].mean()
    worst = shifted.loc[shifted["f1"].idxmin()] if len(shifted) else None
    return {
        "clean_f1": float(table.loc[table["severity"] == 0, "f1"].iloc[0]),
        "shift_f1": float(shifted["f1"].mean()) if len(shifted) else float("nan"),
        "worst_shift": [str(means.idxmin()), float(means.min())] if len(means) else None,
        "worst_setting": [str(worst["shift"]), int(worst["severity"]), float(worst["f1"])] if worst is not None else None,
    }


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One `shift_table` as one row per shift and one column per severity, with the row mean."""
    return metric.severity_grid(table, "shift", SHIFTS)


def errors_by_class(errors: pd.DataFrame) -> pd.DataFrame:
    """Per class, summed over every shifted setting: chocolates, missed and extra, and the share of
    its chocolates missed — where the model still fails when the camera or the table changes."""
    under = errors[errors["severity"] > 0]
    shifted = under.groupby("class", sort=False)[["true", "missed", "extra", "swapped"]].sum()
    shifted["missed share"] = shifted["missed"] / shifted["true"].clip(lower=1)
    swaps = under[under["swapped_to"] != ""].groupby("class")["swapped_to"].agg(lambda s: s.value_counts().index[0])
    shifted["most often taken for"] = swaps.reindex(shifted.index).fillna("")
    return shifted.loc[list(classes.KAGGLE_NAMES)]
