"""What the Faster R-CNN learned: activation heat maps, RoI features in 2D and 3D, the gallery.

* Heat maps (the seed's Figure 3): a forward hook on every convolution of the backbone (the
  body — EfficientNet-Lite or the seed's MobileNetV3-Large — and the FPN); each layer's mean activation over its channels, cropped to
  the picture (torchvision pads the batch to a multiple of 32), upsampled to the photo and
  normalised to [0, 1], ready to overlay. Squeeze-and-excitation convolutions act on 1 × 1 pooled
  maps (MobileNetV3 has 16; EfficientNet-Lite none): they are counted, but have no map to draw.
* RoI features (Figures 4–5): a hook on the RoI head's ``box_head`` gives the 512-d embedding of
  every proposal, a hook on ``box_predictor`` its class scores; each kept detection is matched to
  the proposal it came from by its score for its class (the very number torchvision kept), and to
  the true box it overlaps most (IoU ≥ 0.5) for its true class.
* Embeddings: PCA (with the explained variance of its components) and t-SNE in 2D and 3D
  (scikit-learn), and their silhouette scores by predicted and by true class: a number for "well
  separated".
* Gallery (Figure 6): raw detections before thresholding on the most cluttered photo (most
  detections on no chocolate), the most close-packed one (nearest true neighbours closest relative
  to their size) and the validation misclassifications, found automatically.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from chocolib import classes, dataset
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

#: IoU from which a detection is the detection of a true box
MATCH_IOU = 0.5
#: fewer RoI features than this at the chosen threshold: the raw detections are used instead
MIN_POINTS = 10


# --------------------------------------------------------------------------------------------
# Heat maps
# --------------------------------------------------------------------------------------------
@dataclass
class LayerMap:
    number: int  # 1-based, in forward order over every convolution of the backbone
    name: str  # the module's name in model.backbone
    channels: int
    grid: tuple[int, int]  # the map's size before upsampling
    heat: np.ndarray | None  # (H, W) in [0, 1] over the photo; None for a 1 × 1 map


def backbone_convolutions(model) -> list[tuple[str, object]]:
    """Every Conv2d of the detector's backbone (body, then FPN), in module order."""
    import torch

    return [(name, module) for name, module in model.backbone.named_modules() if isinstance(module, torch.nn.Conv2d)]


def activation_maps(model, image) -> list[LayerMap]:
    """Each backbone convolution's mean activation for one float image (3, H, W) in [0, 1]."""
    import torch

    convolutions = backbone_convolutions(model)
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        module.register_forward_hook(lambda _m, _i, output, name=name: captured.__setitem__(name, output.detach()))
        for name, module in convolutions
    ]
    model.eval()
    try:
        with torch.inference_mode():
            batch, _ = model.transform([image])
            model.backbone(batch.tensors)
    finally:
        for hook in hooks:
            hook.remove()
    (height, width), (padded_h, padded_w) = batch.image_sizes[0], batch.tensors.shape[-2:]
    out_h, out_w = image.shape[-2:]
    maps = []
    for number, (name, module) in enumerate(convolutions, start=1):
        output = captured[name][0]
        grid = tuple(output.shape[-2:])
        heat = None
        if grid[0] > 1 and grid[1] > 1:
            mean = output.float().mean(dim=0)
            rows, cols = max(1, round(grid[0] * height / padded_h)), max(1, round(grid[1] * width / padded_w))
            mean = torch.nn.functional.interpolate(
                mean[:rows, :cols][None, None], size=(out_h, out_w), mode="bilinear", align_corners=False
            )[0, 0]
            low, high = mean.min(), mean.max()
            heat = ((mean - low) / (high - low) if high > low else torch.zeros_like(mean)).cpu().numpy()
        maps.append(LayerMap(number, name, module.out_channels, grid, heat))
    return maps


def spread_layers(maps: list[LayerMap], count: int = 12) -> list[LayerMap]:
    """`count` layers with a spatial map, evenly spread from the first to the last."""
    spatial = [m for m in maps if m.heat is not None]
    picks = np.unique(np.linspace(0, len(spatial) - 1, min(count, len(spatial))).round().astype(int))
    return [spatial[i] for i in picks]


# --------------------------------------------------------------------------------------------
# Matching detections to true boxes
# --------------------------------------------------------------------------------------------
def match_truth(detections: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """`detections` (normalised x0, y0, x1, y1 and id) with ``iou`` and ``true_class``: the true box
    of the same photo it overlaps most, its class when the IoU is at least MATCH_IOU, else None.
    `labels`: `annotations.read_labels` rows (normalised cx, cy, w, h). IoU is unchanged by scaling
    each axis, so normalised coordinates do."""
    import torch
    from torchvision.ops import box_iou

    result = detections.copy()
    result["iou"], result["true_class"] = 0.0, None
    for photo, rows in result.groupby("id"):
        truth = labels[labels["id"] == photo]
        if truth.empty or rows.empty:
            continue
        true_boxes = torch.tensor(
            np.stack(
                [truth["cx"] - truth["w"] / 2, truth["cy"] - truth["h"] / 2, truth["cx"] + truth["w"] / 2, truth["cy"] + truth["h"] / 2],
                axis=1,
            ),
            dtype=torch.float64,
        )
        found = torch.tensor(rows[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.float64))
        best, which = box_iou(found, true_boxes).max(dim=1)
        result.loc[rows.index, "iou"] = best.numpy()
        names = truth["class"].to_numpy()[which.numpy()]
        result.loc[rows.index, "true_class"] = [n if iou >= MATCH_IOU else None for n, iou in zip(names, best.numpy())]
    return result


# --------------------------------------------------------------------------------------------
# RoI features
# --------------------------------------------------------------------------------------------
@dataclass
class RoIFeatures:
    """One row per kept detection (id, split, label, class, score, box, iou, true_class) and its
    512-d box-head embedding (row i of `features`)."""

    table: pd.DataFrame
    features: np.ndarray
    threshold: float
    source: str = "threshold"  # or "raw" / "top": too few detections at the threshold (see roi_features)


def _box_head_outputs(model, photos: dict[str, tuple[Path, str]]) -> tuple[pd.DataFrame, np.ndarray]:
    """Every detection the model outputs on `photos`, with its proposal's box-head embedding."""
    import torch

    from chocolib import predict

    head, predictor = model.roi_heads.box_head, model.roi_heads.box_predictor
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        head.register_forward_hook(lambda _m, _i, output: captured.__setitem__("embedding", output.detach())),
        predictor.register_forward_hook(lambda _m, _i, output: captured.__setitem__("logits", output[0].detach())),
    ]
    device = next(model.parameters()).device
    rows, vectors = [], []
    model.eval()
    try:
        with torch.inference_mode():
            for photo, (path, split) in photos.items():
                pixels = torch.from_numpy(np.asarray(dataset.read_photo(path)).copy()).permute(2, 0, 1).float() / 255
                height, width = pixels.shape[-2:]
                (output,) = model([pixels.to(device)])
                scores = torch.softmax(captured["logits"].float(), dim=-1).cpu()
                for box, label, score in zip(output["boxes"].cpu(), output["labels"].cpu(), output["scores"].cpu()):
                    # the proposal whose score for this class is the kept score (torchvision keeps that very number)
                    proposal = int(torch.argmin((scores[:, int(label)] - score).abs()))
                    rows.append(
                        {
                            "id": photo,
                            "split": split,
                            "label": int(label),
                            "class": classes.NAMES_BY_LABEL_ID[int(label)],
                            "score": float(score),
                            "x0": float(box[0]) / width,
                            "y0": float(box[1]) / height,
                            "x1": float(box[2]) / width,
                            "y1": float(box[3]) / height,
                        }
                    )
                    vectors.append(captured["embedding"][proposal].float().cpu().numpy())
    finally:
        for hook in hooks:
            hook.remove()
    table = pd.DataFrame(rows, columns=["id", "split", *predict.DETECTION_COLUMNS[1:]])
    return table, (np.stack(vectors) if vectors else np.zeros((0, head.fc7.out_features), dtype=np.float32))


def roi_features(model, photos: dict[str, tuple[Path, str]], labels: pd.DataFrame, threshold: float) -> RoIFeatures:
    """The box-head embedding of every detection scoring at least `threshold` on `photos` (id →
    (path, split name)), decoded at their own size. With fewer than MIN_POINTS of them, every raw
    detection instead ("raw"); with fewer raw detections still (an untrained model), the model's
    top detections whatever their score ("top": its score floor lowered to 0 for this pass). Logged."""
    table, features = _box_head_outputs(model, photos)
    kept, source = (table["score"] >= threshold).to_numpy(), "threshold"
    if kept.sum() < MIN_POINTS:
        kept, source = np.ones(len(table), dtype=bool), "raw"
        if len(table) < MIN_POINTS:
            floor = model.roi_heads.score_thresh
            model.roi_heads.score_thresh = 0.0
            try:
                table, features = _box_head_outputs(model, photos)
            finally:
                model.roi_heads.score_thresh = floor
            kept, source = np.ones(len(table), dtype=bool), "top"
        log.warning(
            "only %d detections score at least %.2f: the embeddings use %d %s detections",
            (table["score"] >= threshold).sum(),
            threshold,
            kept.sum(),
            "raw" if source == "raw" else "top-scoring (score floor 0)",
        )
    table = match_truth(table[kept].reset_index(drop=True), labels)
    return RoIFeatures(table, features[kept], threshold, source)


# --------------------------------------------------------------------------------------------
# Embeddings and their separation
# --------------------------------------------------------------------------------------------
@dataclass
class Embeddings:
    scaled: np.ndarray  # the standardised 512-d features
    pca_2d: np.ndarray
    pca_3d: np.ndarray
    tsne_2d: np.ndarray
    tsne_3d: np.ndarray
    explained_variance: np.ndarray  # ratio of each principal component (the first ten at most)

    def spaces(self) -> dict[str, np.ndarray]:
        return {"512-d features": self.scaled, "PCA 2D": self.pca_2d, "t-SNE 2D": self.tsne_2d, "t-SNE 3D": self.tsne_3d}


def silhouette(points: np.ndarray, labels) -> float:
    """scikit-learn's silhouette score of `points` grouped by `labels`; NaN when it is undefined
    (fewer than two groups, or as many groups as points)."""
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels)
    groups = len(set(labels.tolist()))
    if len(points) < 3 or not 2 <= groups <= len(points) - 1:
        return float("nan")
    return float(silhouette_score(points, labels))


def embed(features: np.ndarray, seed: int = 0) -> Embeddings:
    """PCA and t-SNE (2D and 3D) of standardised RoI features; t-SNE's perplexity is 30, or less
    for few points. Fewer than 4 points give empty embeddings."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    count = len(features)
    if count < 4:
        return Embeddings(features, np.zeros((count, 2)), np.zeros((count, 3)), np.zeros((count, 2)), np.zeros((count, 3)), np.zeros(0))
    scaled = StandardScaler().fit_transform(features)
    pca = PCA(n_components=min(10, count, scaled.shape[1]), random_state=seed).fit(scaled)
    projected = pca.transform(scaled)
    perplexity = float(min(30.0, (count - 1) / 3))
    tsne = {dims: TSNE(n_components=dims, perplexity=perplexity, init="pca", random_state=seed).fit_transform(scaled) for dims in (2, 3)}
    return Embeddings(scaled, projected[:, :2], projected[:, :3], tsne[2], tsne[3], pca.explained_variance_ratio_)


def separation(embeddings: Embeddings, table: pd.DataFrame) -> pd.DataFrame:
    """Silhouette scores of each space: by predicted class (every point) and by true class (the
    points on a true box). From −1 (mixed) through 0 (overlapping) to 1 (apart)."""
    on_truth = table["true_class"].notna().to_numpy()
    rows = {}
    for name, points in embeddings.spaces().items():
        rows[name] = {
            "by predicted class": silhouette(points, table["class"]) if len(points) else float("nan"),
            "by true class": silhouette(points[on_truth], table["true_class"][on_truth]) if len(points) else float("nan"),
        }
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------------------------
# The gallery
# --------------------------------------------------------------------------------------------
def packing(labels: pd.DataFrame) -> pd.Series:
    """Per photo with at least 3 true boxes: the median, over its chocolates, of the distance to the
    nearest other chocolate's centre divided by the chocolate's side. Small: close-packed."""
    values = {}
    for photo, rows in labels.groupby("id"):
        if len(rows) < 3:
            continue
        centres = rows[["cx", "cy"]].to_numpy()
        distances = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
        np.fill_diagonal(distances, np.inf)
        side = np.sqrt(rows["w"].to_numpy() * rows["h"].to_numpy())
        values[photo] = float(np.median(distances.min(axis=1) / side))
    return pd.Series(values, dtype=float)


@dataclass
class GalleryChoice:
    cluttered: str | None  # photo id with the most raw detections on no chocolate
    cluttered_background: int
    close_packed: str | None  # photo id whose chocolates lie closest together
    close_packing: float
    misclassified: pd.DataFrame  # detections at the threshold on a chocolate of another class


def choose_gallery(raw: pd.DataFrame, labels: pd.DataFrame, threshold: float, limit: int = 4) -> GalleryChoice:
    """The gallery's photos, from raw detections (a `predict.Detections` table) and true boxes."""
    matched = match_truth(raw, labels)
    background = matched[matched["true_class"].isna()].groupby("id").size()
    cluttered = background.idxmax() if len(background) else None
    packed = packing(labels)
    close = packed.idxmin() if len(packed) else None
    wrong = matched[(matched["score"] >= threshold) & matched["true_class"].notna() & (matched["true_class"] != matched["class"])]
    return GalleryChoice(
        cluttered,
        int(background.max()) if len(background) else 0,
        close,
        float(packed.min()) if len(packed) else float("nan"),
        wrong.sort_values("score", ascending=False).head(limit).reset_index(drop=True),
    )


def crop_panel(image, truth: pd.DataFrame, detection: pd.Series, margin: float = 1.5) -> tuple:
    """A close-up of one detection: (cropped image, true boxes and the detection in the crop's
    normalised coordinates)."""
    width, height = image.size
    cx, cy = (detection["x0"] + detection["x1"]) / 2 * width, (detection["y0"] + detection["y1"]) / 2 * height
    half = max((detection["x1"] - detection["x0"]) * width, (detection["y1"] - detection["y0"]) * height) * margin
    left, top = max(0, round(cx - half)), max(0, round(cy - half))
    right, bottom = min(width, round(cx + half)), min(height, round(cy + half))
    if right <= left or bottom <= top:
        raise ChocoError(f"detection of {detection['class']} on photo {detection['id']} lies outside its photo")
    crop = image.crop((left, top, right, bottom))
    sx, sy, cw, ch = left / width, top / height, (right - left) / width, (bottom - top) / height
    moved = truth.copy()
    moved["cx"], moved["cy"] = (moved["cx"] - sx) / cw, (moved["cy"] - sy) / ch
    moved["w"], moved["h"] = moved["w"] / cw, moved["h"] / ch
    box = detection.to_frame().T.copy()
    for column, (shift, scale) in {"x0": (sx, cw), "x1": (sx, cw), "y0": (sy, ch), "y1": (sy, ch)}.items():
        box[column] = (box[column].astype(float) - shift) / scale
    return crop, moved, box


def gallery_panels(choice: GalleryChoice, raw: pd.DataFrame, labels: pd.DataFrame, folder: str | Path) -> list[tuple]:
    """Panels for `plots.detections_grid`: the cluttered and close-packed photos with every raw
    detection (before any threshold), then a close-up of each misclassification."""
    photos = {dataset.photo_id(stem): path for stem, path in dataset.list_photos(folder).items()}
    panels = []
    for photo, title in (
        (choice.cluttered, f"cluttered background: {choice.cluttered_background} raw detections on no chocolate"),
        (choice.close_packed, f"close-packed: nearest neighbour at {choice.close_packing:.2f} × a chocolate's side"),
    ):
        if photo is not None:
            found = raw[raw["id"] == photo]
            panels.append(
                (
                    f"{photo}, {title}\n{len(found)} raw detections, score ≥ {found['score'].min():.2f}"
                    if len(found)
                    else f"{photo}, {title}",
                    dataset.read_photo(photos[photo]),
                    labels[labels["id"] == photo],
                    found,
                )
            )
    for _, detection in choice.misclassified.iterrows():
        image = dataset.read_photo(photos[detection["id"]])
        crop, truth, box = crop_panel(image, labels[labels["id"] == detection["id"]], detection)
        panels.append(
            (f"{detection['id']}: a {detection['true_class']}\nseen as {detection['class']} ({detection['score']:.2f})", crop, truth, box)
        )
    return panels


def focus_table(maps: list[LayerMap], boxes: pd.DataFrame) -> pd.DataFrame:
    """Per layer with a map: how much more it responds on the chocolates than on the background —
    the mean heat inside the true `boxes` (normalised cx, cy, w, h) over the mean heat outside
    them (1: no preference) — with its stage (early, middle, deep: thirds of the layers)."""
    spatial = [m for m in maps if m.heat is not None]
    if not spatial:
        return pd.DataFrame(columns=["layer", "stage", "cells", "inside / outside"])
    height, width = spatial[0].heat.shape
    inside = np.zeros((height, width), dtype=bool)
    for box in boxes.itertuples():
        inside[
            max(0, int((box.cy - box.h / 2) * height)) : int(np.ceil((box.cy + box.h / 2) * height)),
            max(0, int((box.cx - box.w / 2) * width)) : int(np.ceil((box.cx + box.w / 2) * width)),
        ] = True
    rows = []
    for layer in spatial:
        outside = layer.heat[~inside].mean() if (~inside).any() else np.nan
        stage = "early" if layer.number <= len(maps) / 3 else "middle" if layer.number <= 2 * len(maps) / 3 else "deep"
        rows.append(
            {
                "layer": layer.number,
                "stage": stage,
                "cells": f"{layer.grid[0]}×{layer.grid[1]}",
                "inside / outside": float(layer.heat[inside].mean() / max(outside, 1e-6)) if inside.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def split_photos(augmented: str | Path) -> tuple[dict[str, tuple[Path, str]], pd.DataFrame]:
    """Notebook 02's validation photos and original training photos (id → (path, split)) and their
    true boxes (`annotations.read_labels` rows)."""
    import json

    from chocolib import annotations

    augmented = Path(augmented)
    stems = json.loads((augmented / "split.json").read_text())["train"]
    photos = {dataset.photo_id(p.stem): (p, "val") for p in sorted((augmented / "val" / "images").glob("*.jpg"))}
    photos.update({dataset.photo_id(stem): (augmented / "train" / "images" / f"{stem}.jpg", "train") for stem in stems})
    train = annotations.read_labels(augmented / "train" / "labels")
    labels = pd.concat([annotations.read_labels(augmented / "val" / "labels"), train[train["stem"].isin(stems)]], ignore_index=True)
    return photos, labels


def confusions(kept: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Detections (already thresholded) matched to the true boxes, and the count of each (true
    class, predicted class) confusion among those on a true chocolate, most frequent first."""
    matched = match_truth(kept, labels)
    on_truth = matched[matched["true_class"].notna()]
    wrong = on_truth[on_truth["true_class"] != on_truth["class"]]
    return matched, wrong.groupby(["true_class", "class"]).size().sort_values(ascending=False)
