"""Test-time augmentation: each view's boxes map back to the photo, and the fusion merges one
chocolate seen in several views into one box."""

import numpy as np
import pytest
import torch

from chocolib import tta
from chocolib.errors import ChocoError

ALL_VIEWS = sorted({view for views in tta.MODES.values() for view in views})


def _tight_box(mask: torch.Tensor) -> np.ndarray:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    height, width = mask.shape
    return np.array([[xs.min().item() / width, ys.min().item() / height, (xs.max().item() + 1) / width, (ys.max().item() + 1) / height]])


@pytest.mark.parametrize("view", ALL_VIEWS)
def test_a_box_found_in_a_view_maps_back_to_where_it_is_in_the_photo(view):
    image = torch.zeros(3, 40, 60)
    image[:, 10:20, 5:17] = 1  # a chocolate at x 5–17, y 10–20 of a 60 × 40 photo
    seen = tta.view_image(image, view)
    assert seen.shape[0] == 3 and sorted(seen.shape[1:]) == [40, 60]
    np.testing.assert_allclose(tta.to_photo(_tight_box(seen[0] > 0), view), [[5 / 60, 10 / 40, 17 / 60, 20 / 40]])


def test_the_merge_of_a_flipped_detection_returns_the_original_box():
    original = np.array([[0.1, 0.2, 0.3, 0.5]])
    seen_flipped = np.array([[0.7, 0.2, 0.9, 0.5]])  # the same chocolate, as the model finds it in the flipped photo
    boxes = np.vstack([original, tta.to_photo(seen_flipped, "hflip")])
    fused_boxes, scores, labels = tta.fuse(boxes, np.array([0.9, 0.7]), np.array([4, 4]), n_views=2)
    np.testing.assert_allclose(fused_boxes, original)
    assert labels.tolist() == [4] and scores.tolist() == pytest.approx([0.8])


def test_fusion_keeps_classes_apart_and_discounts_a_box_one_view_alone_found():
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2], [0.6, 0.6, 0.7, 0.7], [0.101, 0.1, 0.2, 0.201]])
    fused_boxes, scores, labels = tta.fuse(boxes, np.array([0.9, 0.8, 0.9, 0.7]), np.array([1, 2, 1, 1]), n_views=2)
    assert sorted(zip(labels.tolist(), np.round(scores, 3).tolist())) == [(1, 0.45), (1, 0.8), (2, 0.4)]
    assert list(scores) == sorted(scores, reverse=True)


def test_without_tta_the_detections_pass_unchanged_sorted_by_score():
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2]])
    fused_boxes, scores, labels = tta.fuse(boxes, np.array([0.5, 0.9]), np.array([1, 1]), n_views=1)
    assert scores.tolist() == [0.9, 0.5] and len(fused_boxes) == 2


def test_an_unknown_mode_is_named():
    with pytest.raises(ChocoError, match="unknown test-time augmentation 'mirror'"):
        tta.views("mirror")


def test_views_that_see_different_chocolates_keep_their_best_score():
    """`sizes`' views complement each other: a far chocolate only the larger view finds keeps its
    score (the mean over two views would halve it), one both views find takes the better one."""
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2], [0.6, 0.6, 0.62, 0.62]])
    _, scores, labels = tta.fuse(boxes, np.array([0.7, 0.9, 0.85]), np.array([1, 1, 1]), n_views=2, rule="max")
    assert scores.tolist() == pytest.approx([0.9, 0.85]) and labels.tolist() == [1, 1]
    assert tta.score_rule("sizes") == "max" and tta.score_rule("flips") == "mean"
    with pytest.raises(ChocoError, match="unknown fusion score rule 'median'"):
        tta.fuse(boxes, np.ones(3), np.ones(3), n_views=2, rule="median")


def test_the_larger_view_scales_the_detectors_input_and_restores_it():
    class Transform:
        min_size, max_size = (512,), 768

    class Detector:
        transform = Transform()

    model = Detector()
    with tta.input_size(model, "larger"):
        assert (model.transform.min_size, model.transform.max_size) == ((640,), 960)
    assert (model.transform.min_size, model.transform.max_size) == ((512,), 768)
    with tta.input_size(model, "hflip"):
        assert model.transform.max_size == 768
    with pytest.raises(ChocoError, match="changes a Faster R-CNN's input size"):
        with tta.input_size(object(), "larger"):
            pass
