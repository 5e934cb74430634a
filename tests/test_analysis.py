"""Notebook 06's analysis: heat maps, RoI features traced to their proposals, embeddings, the gallery."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from chocolib import analysis, models


def _labels(rows):
    """True boxes as annotations.read_labels gives them: (id, class, cx, cy, w, h)."""
    return pd.DataFrame(rows, columns=["id", "class", "cx", "cy", "w", "h"]).assign(stem=lambda t: "L" + t["id"])


def _detections(rows):
    return pd.DataFrame(rows, columns=["id", "label", "class", "score", "x0", "y0", "x1", "y1"])


@pytest.fixture(scope="module")
def small_detector():
    torch.manual_seed(0)
    model, _ = models.build_detector(models.DetectorConfig(min_size=128, max_size=192, pretrained="none", box_score_thresh=0.0))
    return model.eval()


def test_match_truth_by_iou():
    labels = _labels([("1", "Arabia", 0.25, 0.25, 0.2, 0.2), ("1", "Comtesse", 0.75, 0.75, 0.2, 0.2)])
    found = _detections(
        [
            ("1", 1, "Jelly White", 0.9, 0.15, 0.15, 0.35, 0.35),  # exactly the Arabia
            ("1", 1, "Jelly White", 0.8, 0.67, 0.67, 0.87, 0.87),  # IoU 0.6 with the Comtesse
            ("1", 1, "Jelly White", 0.7, 0.40, 0.40, 0.50, 0.50),  # on nothing
            ("2", 1, "Jelly White", 0.6, 0.10, 0.10, 0.20, 0.20),
        ]
    )  # a photo without labels
    matched = analysis.match_truth(found, labels)
    assert matched["iou"].iloc[0] == pytest.approx(1.0)
    assert matched["iou"].iloc[1] == pytest.approx(0.0324 / 0.0476, rel=1e-6)  # 0.18² over 2 × 0.2² − 0.18²
    assert list(matched["true_class"]) == ["Arabia", "Comtesse", None, None]


def test_packing_and_gallery_choice():
    # photo 1: three chocolates of side 0.1 in a row, centres 0.2 apart (2 sides); photo 2: 0.1 apart (1 side)
    labels = _labels(
        [("1", "Arabia", x, 0.5, 0.1, 0.1) for x in (0.2, 0.4, 0.6)]
        + [("2", "Arabia", x, 0.5, 0.1, 0.1) for x in (0.2, 0.3, 0.4)]
        + [("3", "Arabia", 0.5, 0.5, 0.1, 0.1), ("3", "Arabia", 0.7, 0.5, 0.1, 0.1)]
    )
    packing = analysis.packing(labels)
    assert packing.to_dict() == pytest.approx({"1": 2.0, "2": 1.0})  # photo 3 has fewer than 3 chocolates
    raw = _detections(
        [
            ("1", 4, "Amandina", 0.9, 0.15, 0.45, 0.25, 0.55),  # an Arabia seen as Amandina
            ("1", 12, "Arabia", 0.3, 0.35, 0.45, 0.45, 0.55),  # right, but below the threshold
            ("3", 12, "Arabia", 0.2, 0.0, 0.0, 0.05, 0.05),  # background ×2 on photo 3
            ("3", 12, "Arabia", 0.1, 0.9, 0.9, 0.95, 0.95),
            ("2", 12, "Arabia", 0.1, 0.9, 0.0, 0.95, 0.05),
        ]
    )  # background ×1 on photo 2
    choice = analysis.choose_gallery(raw, labels, threshold=0.5)
    assert (choice.cluttered, choice.cluttered_background) == ("3", 2)
    assert (choice.close_packed, choice.close_packing) == ("2", pytest.approx(1.0))
    assert list(zip(choice.misclassified["true_class"], choice.misclassified["class"])) == [("Arabia", "Amandina")]
    matched, confusions = analysis.confusions(raw[raw["score"] >= 0.5], labels)
    assert confusions.to_dict() == {("Arabia", "Amandina"): 1}


def test_crop_panel_moves_the_boxes_into_the_crop():
    image = Image.new("RGB", (200, 100))
    truth = _labels([("1", "Arabia", 0.5, 0.5, 0.1, 0.2)])
    detection = _detections([("1", 12, "Arabia", 0.9, 0.45, 0.4, 0.55, 0.6)]).iloc[0]
    crop, moved, box = analysis.crop_panel(image, truth, detection, margin=1.0)
    assert crop.size == (40, 40)  # 20 px box side, 1.0 × side each way
    assert moved[["cx", "cy"]].iloc[0].tolist() == pytest.approx([0.5, 0.5])
    assert moved[["w", "h"]].iloc[0].tolist() == pytest.approx([0.5, 0.5])
    assert box[["x0", "y0", "x1", "y1"]].astype(float).iloc[0].tolist() == pytest.approx([0.25, 0.25, 0.75, 0.75])


def test_silhouette_and_embeddings_separate_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 512)) * 10
    features = np.concatenate([c + rng.normal(size=(20, 512)) for c in centres]).astype(np.float32)
    names = np.repeat(["Arabia", "Comtesse", "Triangolo"], 20)
    assert analysis.silhouette(features, names) > 0.5
    assert np.isnan(analysis.silhouette(features, ["Arabia"] * 60))  # one class: undefined
    embeddings = analysis.embed(features, seed=0)
    assert embeddings.pca_2d.shape == (60, 2) and embeddings.tsne_3d.shape == (60, 3)
    assert 0 < embeddings.explained_variance[:2].sum() <= 1 and np.all(np.diff(embeddings.explained_variance) <= 1e-9)
    table = pd.DataFrame({"class": names, "true_class": [None] * 30 + list(names[30:])})
    separation = analysis.separation(embeddings, table)
    assert list(separation.index) == ["512-d features", "PCA 2D", "t-SNE 2D", "t-SNE 3D"]
    assert (separation["by predicted class"].iloc[:3] > 0.5).all() and separation["by predicted class"].iloc[3] > 0
    assert np.isfinite(separation["by true class"]).all()  # two true classes among the 30 matched
    few = analysis.embed(features[:3])
    assert few.pca_2d.shape == (3, 2) and len(few.explained_variance) == 0


def test_activation_maps_cover_every_backbone_convolution(small_detector):
    image = torch.rand(3, 90, 150)
    maps = analysis.activation_maps(small_detector, image)
    convolutions = analysis.backbone_convolutions(small_detector)
    assert [m.name for m in maps] == [name for name, _ in convolutions] and len(maps) == 66
    spatial = [m for m in maps if m.heat is not None]
    assert len(spatial) == 50  # the 16 squeeze-and-excitation convolutions act on 1 × 1 maps
    for layer in spatial:
        assert layer.heat.shape == (90, 150) and layer.heat.min() >= 0 and layer.heat.max() <= 1
    shown = analysis.spread_layers(maps, 12)
    assert len(shown) == 12 and shown[0].number == 1 and shown[-1] is spatial[-1]
    boxes = _labels([("1", "Arabia", 0.5, 0.5, 0.2, 0.2)])
    focus = analysis.focus_table(maps, boxes)
    assert len(focus) == 50 and set(focus["stage"]) == {"early", "middle", "deep"} and (focus["inside / outside"] > 0).all()


def test_roi_features_are_the_embeddings_of_the_kept_detections(small_detector, tmp_path):
    photo = tmp_path / "L7.jpg"
    Image.fromarray((np.random.default_rng(1).random((96, 144, 3)) * 255).astype(np.uint8)).save(photo)
    labels = _labels([("7", "Arabia", 0.5, 0.5, 0.3, 0.3)])
    roi = analysis.roi_features(small_detector, {"7": (photo, "val")}, labels, threshold=0.0)
    assert len(roi.table) == len(roi.features) > 0 and roi.features.shape[1] == 512
    assert set(roi.table["split"]) == {"val"} and roi.source == "threshold"
    with torch.inference_mode():
        logits, _ = small_detector.roi_heads.box_predictor(torch.from_numpy(roi.features))
    rescored = torch.softmax(logits, dim=-1)[torch.arange(len(roi.table)), torch.tensor(roi.table["label"].to_numpy())]
    assert rescored.numpy() == pytest.approx(roi.table["score"].to_numpy(), abs=1e-5)
    high = analysis.roi_features(small_detector, {"7": (photo, "val")}, labels, threshold=1.1)  # none pass: all raw ones
    assert high.source == "raw" and len(high.table) == len(roi.table)
    small_detector.roi_heads.score_thresh = 0.99  # no raw detection either: the top ones, whatever their score
    try:
        top = analysis.roi_features(small_detector, {"7": (photo, "val")}, labels, threshold=0.5)
    finally:
        small_detector.roi_heads.score_thresh = 0.0
    assert top.source == "top" and len(top.table) == len(roi.table) and small_detector.roi_heads.score_thresh == 0.0
