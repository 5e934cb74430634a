"""The one criterion a model is judged by: its four parts, measured on photos whose answers are known."""

import pytest

from chocolib import annotations, classes, judge, predict, robustness, shifts
from chocolib.errors import ChocoError
from conftest import RedSquareCounter, red_squares_photo

# (stem, top-left corners of its red squares): 40-px squares on a 240 × 160 table
PHOTOS = {"L1": ((20, 20), (100, 60), (170, 100)), "L2": ((30, 40),)}


def _split(folder):
    """A split folder (images/, labels/) whose labels are the red squares, all of the first class."""
    for stem, squares in PHOTOS.items():
        red_squares_photo(folder / "images" / f"{stem}.png", squares=squares)
        lines = [f"0 {(x + 20) / 240:.6f} {(y + 20) / 160:.6f} {40 / 240:.6f} {40 / 160:.6f}" for x, y in squares]
        (folder / "labels").mkdir(parents=True, exist_ok=True)
        (folder / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return folder


def _counted_set(folder, counts):
    """A dev-hard-like set of the same photos, with the counts of the first class given."""
    for stem, squares in PHOTOS.items():
        red_squares_photo(folder / "photos" / f"{stem}.png", squares=squares)
    rows = [f"{stem[1:]},{counts[stem]}," + ",".join("0" * 12) for stem in PHOTOS]
    (folder / "counts.csv").write_text(",".join(classes.CSV_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    return folder


def test_the_criterion_is_the_mean_of_its_four_parts(tmp_path):
    """A counter right on every clean photo: clean F1 1. The counted set says 2 for L1's three
    squares: F1 2·2 / (2·2 + 1) = 0.8 there, 1 on L2, 0.9 in all."""
    val = _split(tmp_path / "val")
    hard = _counted_set(tmp_path / "hard", {"L1": 2, "L2": 1})
    counter = RedSquareCounter(label=1)
    result = judge.judge(counter, val, None, hard, threshold=0.5, corruptions=["resolution", "jpeg"])
    assert list(result.parts) == list(judge.PARTS)
    # each photo is shown once clean (both suites reuse it), once per suite setting, once in dev-hard
    settings = (2 + len(shifts.SHIFTS)) * len(shifts.SEVERITIES)
    assert len(counter.seen) == len(PHOTOS) * (1 + settings) + len(PHOTOS)
    assert result.threshold == 0.5
    assert result.parts["clean F1"] == 1.0
    assert result.parts["dev-hard F1"] == pytest.approx(0.9)
    assert result.dev_hard["photos"] == 2 and result.dev_hard["chocolates"] == 3
    assert set(result.corruptions["corruption"]) == {"clean", "resolution", "jpeg"}
    assert set(result.shifts["shift"]) == {"clean", "zoom_out", "zoom_in", "occlusion", "shadow"}
    # the suites' parts are their tables' means over every shifted setting
    for part, table in (("corruption F1", result.corruptions), ("shift F1", result.shifts)):
        assert result.parts[part] == pytest.approx(table.loc[table["severity"] > 0, "f1"].mean())
        assert 0.0 <= result.parts[part] <= 1.0
    parts = result.parts
    expected = (1.0 + parts["corruption F1"] + parts["shift F1"] + 0.9) / 4
    assert result.criterion == pytest.approx(expected) and result.row()["criterion"] == pytest.approx(expected)


def test_without_a_counted_set_three_parts_and_the_threshold_is_chosen_on_validation(tmp_path):
    val = _split(tmp_path / "val")
    result = judge.judge(RedSquareCounter(label=1), val, None, corruptions=["resolution"])
    assert list(result.parts) == ["clean F1", "corruption F1", "shift F1"] and result.dev_hard is None
    # every score is 0.9: the sweep's plateau of F1 1 spans every threshold up to 0.9
    assert result.threshold <= 0.9 and result.parts["clean F1"] == 1.0


class SizeScoredCounter(RedSquareCounter):
    """Scores a square by its size, as a detector scores a far chocolate lower: 0.9 at the photos'
    40 × 40 px, down to 0.55 at a quarter of it (zoom out to 0.5)."""

    def score(self, pixels: int) -> float:
        return 0.55 + 0.35 * min(1.0, max(0.0, (pixels - 400) / 1200))


def test_the_threshold_is_chosen_where_the_suites_still_count_unless_asked_for_clean_validation(tmp_path):
    val = _split(tmp_path / "val")
    counter = SizeScoredCounter(label=1)
    clean = judge.judge(counter, val, None, corruptions=["resolution"], choose_on="clean")
    suites = judge.judge(counter, val, None, corruptions=["resolution"])
    # clean photos: every square at 0.9, so clean validation's plateau is 0.05–0.90, its middle 0.47;
    # zoomed out to 0.5 a square scores 0.55, which only the suites see: their plateau ends there
    assert clean.threshold == pytest.approx(0.47) and suites.threshold == pytest.approx(0.30)  # middle of 0.05–0.55
    assert clean.parts["clean F1"] == suites.parts["clean F1"] == 1.0
    with pytest.raises(ValueError, match="choose_on 'dev-hard'"):
        judge.judge(counter, val, None, choose_on="dev-hard")


def test_a_wrong_class_loses_every_part(tmp_path):
    """The same squares taken for the second class: found, but none counted right."""
    val = _split(tmp_path / "val")
    hard = _counted_set(tmp_path / "hard", {"L1": 3, "L2": 1})
    result = judge.judge(RedSquareCounter(label=2), val, None, hard, threshold=0.5, corruptions=["resolution"])
    assert result.parts["clean F1"] == 0.0 and result.parts["dev-hard F1"] == 0.0
    assert result.criterion <= 0.25


def test_parts_not_measured_are_left_out_of_the_mean():
    assert judge.parts(1.0, 0.5, 0.75, 0.25) == dict(zip(judge.PARTS, (1.0, 0.5, 0.75, 0.25)))
    assert judge.criterion(judge.parts(1.0, 0.5, 0.75, 0.25)) == 0.625  # (1 + 0.5 + 0.75 + 0.25) / 4
    assert judge.criterion(judge.parts(0.9, 0.6, 0.3)) == pytest.approx(0.6)  # no counted set: three parts
    assert list(judge.parts(0.9, None, 0.3)) == ["clean F1", "shift F1"]


def test_per_class_thresholds_are_chosen_on_validation_and_reach_every_suite(tmp_path):
    val = _split(tmp_path / "val")
    hard = _counted_set(tmp_path / "hard", {"L1": 3, "L2": 1})
    chosen = judge.judge(RedSquareCounter(label=1), val, None, hard, corruptions=["resolution"], per_class=True)
    assert set(chosen.threshold) == set(classes.KAGGLE_NAMES) and chosen.threshold[classes.KAGGLE_NAMES[0]] <= 0.9
    assert chosen.parts["clean F1"] == 1.0 and chosen.row()["threshold"].startswith("per class ")
    # the first class's floor above the counter's 0.9: nothing counted, in the clean photos and in every suite
    strict = {name: 0.5 for name in classes.KAGGLE_NAMES} | {classes.KAGGLE_NAMES[0]: 0.95}
    result = judge.judge(RedSquareCounter(label=1), val, None, hard, threshold=strict, corruptions=["resolution"])
    assert result.parts == dict.fromkeys(judge.PARTS, 0.0)
    assert judge.describe(strict) == "per class 0.50–0.95" and judge.describe(0.861) == "0.86"


def test_clean_detections_of_other_photos_are_refused_by_both_suites(tmp_path):
    val = _split(tmp_path / "val")
    other = predict.detect(RedSquareCounter(label=1), _split(tmp_path / "other").joinpath("images"), None)
    other.ids = ["9"]  # the same table, said to be of another photo
    labels = annotations.read_labels(val / "labels")
    with pytest.raises(ChocoError, match="not of these photos"):
        robustness.detect_corrupted(RedSquareCounter(label=1), val / "images", None, names=["jpeg"], clean=other)
    with pytest.raises(ChocoError, match="not of these photos"):
        shifts.detect_shifted(RedSquareCounter(label=1), val / "images", labels, None, clean=other)


class HesitantCounter(RedSquareCounter):
    """Every red square is given twice: as label 1 and as label 2, both at 0.45 — a model torn
    between two classes, the first one right."""

    def __call__(self, images):
        import torch

        outputs = super().__call__(images)
        for output in outputs:
            n = len(output["boxes"])
            output["boxes"] = output["boxes"].repeat(2, 1)
            output["scores"] = torch.full((2 * n,), 0.45)
            output["labels"] = torch.cat([torch.full((n,), 1), torch.full((n,), 2)])
        return outputs


def test_the_cross_class_rule_is_chosen_with_the_threshold_and_reaches_every_part(tmp_path):
    """As the counter gives them, no threshold counts right (both classes or neither); one box per
    chocolate (suppress) counts every photo right: chosen, and applied to every part."""
    val = _split(tmp_path / "val")
    hard = _counted_set(tmp_path / "hard", {"L1": 3, "L2": 1})
    chosen = judge.judge(HesitantCounter(), val, None, hard, corruptions=["resolution"])
    assert chosen.cross_class == "suppress" and chosen.row()["cross_class"] == "suppress"
    assert chosen.parts["clean F1"] == 1.0 and chosen.parts["dev-hard F1"] == 1.0
    assert chosen.parts["corruption F1"] > 0.9 and chosen.parts["shift F1"] > 0.5
    given = judge.judge(HesitantCounter(), val, None, hard, corruptions=["resolution"], cross_class="off")
    assert given.cross_class == "off" and given.parts["clean F1"] < 1.0 and given.parts["dev-hard F1"] < 1.0
    assert given.criterion < chosen.criterion
    fixed = judge.judge(HesitantCounter(), val, None, hard, threshold=0.3, corruptions=["resolution"])
    assert fixed.cross_class == "off" and fixed.parts["dev-hard F1"] < 1.0  # a given threshold keeps the detections as given
