"""The shift suite: each shift moves the boxes with the pixels, changes the truth only where a
chocolate leaves the frame, and is seeded; the table and its per-class errors against a stand-in
model whose answers are known."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from chocolib import classes, shifts
from chocolib.errors import ChocoError
from conftest import RedSquareCounter

RED = (220, 30, 30)


def _scene() -> shifts.Scene:
    """A 160 × 240 noisy table with three red squares, each labelled with its own box."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(90, 130, (160, 240, 3)).astype(np.uint8)
    boxes = np.array([[20, 20, 60, 60], [100, 60, 140, 100], [170, 100, 210, 140]], np.float64)
    for x0, y0, x1, y1 in boxes.astype(int):
        pixels[y0:y1, x0:x1] = RED
    return shifts.Scene(pixels, boxes, np.array([0, 3, 3]))


def _red_share(scene: shifts.Scene, box) -> float:
    x0, y0, x1, y1 = np.rint(box).astype(int)
    patch = scene.pixels[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].astype(int)
    return float(((patch[..., 0] > 180) & (patch[..., 1] < 80)).mean())


@pytest.mark.parametrize("severity", shifts.SEVERITIES)
def test_zoom_out_shrinks_every_chocolate_and_its_box_alike(severity):
    scene = _scene()
    out = shifts.shift(scene, "zoom_out", severity, seed=0, photo="L1")
    share = shifts.SHIFTS["zoom_out"].levels[severity - 1]
    assert out.pixels.shape == scene.pixels.shape
    assert list(out.cls) == list(scene.cls)
    sides = out.boxes[:, 2] - out.boxes[:, 0]
    assert np.allclose(sides, 40 * share, atol=1.0)
    for box in out.boxes:
        assert _red_share(out, box) > 0.9  # the box is still on its square
    # nothing red outside the boxes: the border is the table, not a copy of a chocolate
    red = (out.pixels[..., 0] > 180) & (out.pixels[..., 1] < 80)
    inside = np.zeros(red.shape, bool)
    for x0, y0, x1, y1 in np.rint(out.boxes).astype(int):
        inside[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = True
    assert not (red & ~inside).any()


def test_zoom_in_keeps_a_chocolate_when_half_of_it_is_left_and_moves_its_box():
    scene = _scene()
    for severity in shifts.SEVERITIES:
        out = shifts.shift(scene, "zoom_in", severity, seed=1, photo="L1")
        zoom = shifts.SHIFTS["zoom_in"].levels[severity - 1]
        assert out.pixels.shape == scene.pixels.shape
        assert 1 <= len(out.boxes) <= len(scene.boxes)
        for box in out.boxes:
            assert _red_share(out, box) > 0.8
            assert (box[2] - box[0]) <= 40 * zoom + 1
        # the count is the truth: every red blob left at least half in the frame has a box
        assert out.counts().sum() == len(out.boxes)


def test_occlusion_covers_part_of_some_chocolates_and_keeps_every_box():
    scene = _scene()
    out = shifts.shift(scene, "occlusion", 3, seed=0, photo="L1")
    assert np.array_equal(out.boxes, scene.boxes) and list(out.cls) == list(scene.cls)
    shares = [_red_share(out, box) for box in scene.boxes]
    assert min(shares) < 0.9  # at least one chocolate is partly under a pen
    assert max(shares) > 0.45  # and each chosen one is still more chocolate than pen
    assert all(s > 0.3 for s in shares)


@pytest.mark.parametrize("severity", shifts.SEVERITIES)
def test_no_pen_hides_any_chocolate_beyond_the_severitys_share(severity):
    """On a crowded table (4 × 6 chocolates, a few pixels apart) a long pen laid over one chocolate
    crosses its neighbours: none of them may be hidden beyond the setting's share either, and
    about half the chocolates still get a pen."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(90, 130, (170, 250, 3)).astype(np.uint8)
    boxes = np.array([[8 + 40 * i, 8 + 40 * j, 40 + 40 * i, 40 + 40 * j] for j in range(4) for i in range(6)], np.float64)
    for x0, y0, x1, y1 in boxes.astype(int):
        pixels[y0:y1, x0:x1] = RED
    scene = shifts.Scene(pixels, boxes, np.zeros(len(boxes), np.int64))
    share = shifts.SHIFTS["occlusion"].levels[severity - 1]
    for seed in range(3):
        out = shifts.shift(scene, "occlusion", severity, seed=seed, photo="L1")
        hidden = np.array([1 - _red_share(out, box) for box in boxes])
        assert hidden.max() <= share + 0.08, (seed, hidden.max())  # anti-aliased edges and the 1-px rim
        assert (hidden > 0.5 * share).sum() >= len(boxes) // 4, (seed, hidden)


def test_shadow_darkens_part_of_the_photo_and_not_the_rest():
    scene = _scene()
    out = shifts.shift(scene, "shadow", 3, seed=0, photo="L1")
    ratio = out.pixels.astype(float).sum(2) / np.maximum(scene.pixels.astype(float).sum(2), 1)
    dark = (ratio < 0.6).mean()
    assert 0.2 < dark < 0.7, dark
    assert (np.abs(ratio - 1) < 0.02).mean() > 0.2  # the lit part is untouched


@pytest.mark.parametrize("name", shifts.SHIFTS)
def test_the_same_seed_gives_the_same_pixels_and_another_seed_others(name):
    scene = _scene()
    first = shifts.shift(scene, name, 2, seed=0, photo="L1")
    again = shifts.shift(scene, name, 2, seed=0, photo="L1")
    other = shifts.shift(scene, name, 2, seed=5, photo="L1")
    assert first.pixels.tobytes() == again.pixels.tobytes() and np.array_equal(first.boxes, again.boxes)
    assert first.pixels.tobytes() != other.pixels.tobytes()


def test_unknown_shift_or_severity_is_refused():
    with pytest.raises(ChocoError, match="unknown shift"):
        shifts.shift(_scene(), "tilt", 1)
    with pytest.raises(ChocoError, match="severity 4"):
        shifts.shift(_scene(), "zoom_in", 4)


def test_shift_table_scores_a_perfect_counter_at_one_and_a_mislabelling_one_with_swaps(tmp_path):
    scene = _scene()
    (tmp_path / "images").mkdir()
    Image.fromarray(scene.pixels).save(tmp_path / "images" / "L1.png")
    # the same class for all three, so a counter of red squares is right
    labels = pd.DataFrame(
        {
            "stem": "L1",
            "id": "1",
            "class": classes.KAGGLE_NAMES[0],
            "cls": 0,
            "cx": (scene.boxes[:, 0] + scene.boxes[:, 2]) / 2 / 240,
            "cy": (scene.boxes[:, 1] + scene.boxes[:, 3]) / 2 / 160,
            "w": 40 / 240,
            "h": 40 / 160,
        }
    )
    rows, errors = shifts.shift_table(RedSquareCounter(label=1), tmp_path / "images", labels, None, 0.5, names=["zoom_out"])
    assert list(rows["shift"]) == ["clean", "zoom_out", "zoom_out", "zoom_out"]
    assert np.allclose(rows["f1"], 1.0)
    assert rows.loc[0, "chocolates"] == 3
    assert (errors["missed"] == 0).all() and (errors["swapped"] == 0).all()
    summary = shifts.summary(rows)
    assert summary["shift_f1"] == 1.0 and summary["clean_f1"] == 1.0

    # the class of label 2 for everything: 3 of 3 found, all swapped to the second class, F1 0
    rows, errors = shifts.shift_table(RedSquareCounter(label=2), tmp_path / "images", labels, None, 0.5, names=["zoom_out"])
    assert np.allclose(rows["f1"], 0.0)
    by_class = shifts.errors_by_class(errors)
    first, second = classes.KAGGLE_NAMES[0], classes.KAGGLE_NAMES[1]
    assert by_class.loc[first, "swapped"] == 9 and by_class.loc[first, "missed"] == 9  # 3 severities × 3
    assert by_class.loc[first, "most often taken for"] == second
    assert by_class.loc[second, "extra"] == 9


def test_confusion_counts_misses_and_false_detections():
    from chocolib import predict

    scene = _scene()
    ids = ["1"]
    # one right detection of the first box, one wrong class on the second, one on empty table; the third missed
    table = pd.DataFrame(
        {
            "id": "1",
            "label": [1, 5, 1],
            "class": [classes.NAMES_BY_LABEL_ID[1], classes.NAMES_BY_LABEL_ID[5], classes.NAMES_BY_LABEL_ID[1]],
            "score": [0.9, 0.8, 0.7],
            "x0": [20 / 240, 100 / 240, 0.9],
            "y0": [20 / 160, 60 / 160, 0.0],
            "x1": [60 / 240, 140 / 240, 1.0],
            "y1": [60 / 160, 100 / 160, 0.1],
        }
    )
    found = predict.Detections(table, ids)
    matrix = shifts.confusion(found, [scene], ids, 0.5)
    n = classes.NUM_CLASSES
    assert matrix[0, classes.KAGGLE_NAMES.index(classes.NAMES_BY_LABEL_ID[1])] == 1
    assert matrix[3, classes.KAGGLE_NAMES.index(classes.NAMES_BY_LABEL_ID[5])] == 1
    assert matrix[3, n] == 1  # the third square: missed
    assert matrix[n].sum() == 1  # the detection on the table
    assert matrix.sum() == 4


def test_zoom_in_counts_only_chocolates_at_least_half_in_the_frame():
    """A table tiled with 40-px squares, so that any 2× crop cuts some: every square still counted
    has at least half its box in the frame, and the slivers the frame leaves are not counted."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(90, 130, (160, 240, 3)).astype(np.uint8)
    corners = [(x, y) for x in range(5, 240 - 40, 50) for y in range(5, 160 - 40, 50)]
    for x, y in corners:
        pixels[y : y + 40, x : x + 40] = RED
    boxes = np.array([[x, y, x + 40, y + 40] for x, y in corners], np.float64)
    scene = shifts.Scene(pixels, boxes, np.zeros(len(corners), np.int64))
    zoom, dropped = 2.0, 0
    for seed in range(6):
        out = shifts.shift(scene, "zoom_in", 3, seed=seed, photo="L1")
        areas = (out.boxes[:, 2] - out.boxes[:, 0]) * (out.boxes[:, 3] - out.boxes[:, 1])
        assert (areas >= shifts.MIN_VISIBLE * (40 * zoom) ** 2 - 1).all(), areas
        red = (out.pixels[..., 0] > 180) & (out.pixels[..., 1] < 80)
        boxed = np.zeros(red.shape, bool)
        for x0, y0, x1, y1 in np.rint(out.boxes).astype(int):
            boxed[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = True
        dropped += int((red & ~boxed).sum() > 0)
    assert dropped  # some crop left a sliver of a square, and it was not counted
