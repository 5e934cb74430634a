"""Inference: raw detections, counts at a threshold, the threshold choice, the submission, mAP."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from chocolib import classes, dataset, metric, predict
from chocolib.errors import ChocoError
from conftest import RedSquareCounter, assert_user_error, last_line, red_squares_photo, run_cli

NAMES = list(classes.KAGGLE_NAMES)


def _detections(rows, ids) -> predict.Detections:
    """rows: (id, class name, score); boxes do not matter for counting."""
    table = pd.DataFrame(
        [{"id": i, "label": classes.LABEL_IDS[c], "class": c, "score": s, "x0": 0.1, "y0": 0.1, "x1": 0.2, "y1": 0.2} for i, c, s in rows],
        columns=predict.DETECTION_COLUMNS,
    )
    return predict.Detections(table, list(ids))


def _photos(folder, names, size=(96, 64)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", size, (120, 90, 60)).save(folder / name)
    return folder


# --------------------------------------------------------------------------------------------
# Counting from a detections table
# --------------------------------------------------------------------------------------------
def test_counts_at_a_threshold_and_per_class():
    found = _detections([("1", "Amandina", 0.9), ("1", "Amandina", 0.55), ("1", "Arabia", 0.7), ("3", "Jelly White", 0.6)], ["1", "2", "3"])
    counts = found.counts(0.6)
    assert list(counts.columns) == NAMES and list(counts.index) == ["1", "2", "3"]
    assert counts.loc["1", "Amandina"] == 1 and counts.loc["1", "Arabia"] == 1
    assert counts.loc["2"].sum() == 0  # a photo without a detection is a row of zeros
    assert counts.loc["3", "Jelly White"] == 1  # at the threshold counts (score ≥ threshold)
    per_class = found.counts({**{n: 0.95 for n in NAMES}, "Amandina": 0.5})
    assert per_class.loc["1", "Amandina"] == 2 and per_class.to_numpy().sum() == 2
    assert found.counts(0.6, ids=["3", "1"]).index.tolist() == ["3", "1"]
    with pytest.raises(ChocoError, match="no detections run"):
        found.counts(0.6, ids=["4"])


def test_detections_round_trip_keeps_photos_without_detections(tmp_path):
    found = _detections([("2", "Comtesse", 0.8125), ("2", "Noblesse", 0.25)], ["1", "2", "3"])
    path = found.save(tmp_path / "d.csv")
    assert path.read_text().splitlines()[0] == ",".join(predict.DETECTION_COLUMNS)
    again = predict.read_detections(path)
    assert again.ids == ["1", "2", "3"] and len(again.table) == 2
    pd.testing.assert_frame_equal(again.counts(0.3), found.counts(0.3))
    (tmp_path / "bad.csv").write_text("id,score\n1,0.5\n")
    with pytest.raises(ChocoError, match=r"bad.csv:1: not a detections table"):
        predict.read_detections(tmp_path / "bad.csv")


def _boxed(rows, ids) -> predict.Detections:
    """rows: (id, class name, score, (x0, y0, x1, y1))."""
    table = pd.DataFrame(
        [
            {"id": i, "label": classes.LABEL_IDS[c], "class": c, "score": s, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3]}
            for i, c, s, b in rows
        ],
        columns=predict.DETECTION_COLUMNS,
    )
    return predict.Detections(table, list(ids), images_per_s=3.0)


CHOCOLATE = (0.10, 0.10, 0.30, 0.30)
NEARLY = (0.11, 0.10, 0.31, 0.30)  # IoU 0.90 with CHOCOLATE: the same chocolate
HALF = (0.10, 0.10, 0.30, 0.21)  # IoU 0.55: the detector's NMS would take it for the same chocolate
BESIDE = (0.22, 0.10, 0.42, 0.30)  # IoU 0.25: the chocolate next to it
FAR = (0.60, 0.60, 0.80, 0.80)


def test_boxes_of_different_classes_on_one_chocolate_are_one_chocolate_under_suppress_and_merge():
    found = _boxed(
        [
            ("1", "Comtesse", 0.50, CHOCOLATE),
            ("1", "Jelly White", 0.40, NEARLY),
            ("1", "Comtesse", 0.20, HALF),  # the same class again: the same evidence, not added twice
            ("1", "Jelly White", 0.30, BESIDE),  # a neighbour: its own chocolate
            ("1", "Arabia", 0.90, FAR),
            ("2", "Noblesse", 0.70, CHOCOLATE),  # another photo: never grouped with photo 1's boxes
        ],
        ["1", "2", "3"],
    )
    assert predict.one_per_chocolate(found, "off") is found
    suppressed = found.one_per_chocolate("suppress")
    merged = found.one_per_chocolate("merge")
    for resolved in (suppressed, merged):
        assert resolved.ids == ["1", "2", "3"] and resolved.images_per_s == 3.0
        assert list(resolved.table.columns) == predict.DETECTION_COLUMNS and resolved.table["label"].dtype == np.int64
        assert sorted(resolved.table["class"]) == ["Arabia", "Comtesse", "Jelly White", "Noblesse"]
        assert resolved.counts(0.05).loc["1", ["Comtesse", "Jelly White", "Arabia"]].tolist() == [1, 1, 1]
    score = {(r.id, r._3): r.score for r in merged.table.itertuples()}
    assert score[("1", "Comtesse")] == pytest.approx(0.90)  # 0.50 + Jelly White's 0.40, not + Comtesse's 0.20
    assert score[("1", "Jelly White")] == pytest.approx(0.30) and score[("1", "Arabia")] == pytest.approx(0.90)
    assert suppressed.table.set_index("class").loc["Comtesse", "score"] == pytest.approx(0.50)
    kept = merged.table.set_index("class").loc["Comtesse", ["x0", "y0", "x1", "y1"]].to_numpy(np.float64)
    np.testing.assert_allclose(kept, CHOCOLATE, atol=1e-6)  # the best class's own box
    # at 0.6 the hesitant chocolate is missed as the detector gives it, counted once merged
    assert found.counts(0.6).loc["1"].sum() == 1 and merged.counts(0.6).loc["1"].sum() == 2
    capped = _boxed([("1", "Comtesse", 0.7, CHOCOLATE), ("1", "Jelly White", 0.6, NEARLY)], ["1"]).one_per_chocolate("merge")
    assert capped.table["score"].tolist() == [1.0]
    with pytest.raises(ChocoError, match="unknown cross-class rule 'agnostic'"):
        found.one_per_chocolate("agnostic")


def test_choose_counting_takes_the_rule_that_counts_the_hesitant_chocolates_and_ties_to_off():
    """Photo 1 holds one Comtesse the model hesitates over (Comtesse 0.35, Jelly White 0.3 on the
    same box) and a clear Arabia; photo 2 a clear Noblesse and a false Amandina at 0.4. As given or
    suppressed, a threshold that drops the false one drops the Comtesse too; merged (0.65), 0.41–0.65
    counts both photos right. With no hesitation anywhere, the rules tie: off."""
    truth = pd.DataFrame(0, index=pd.Index(["1", "2"], name="id"), columns=NAMES)
    truth.loc["1", ["Comtesse", "Arabia"]], truth.loc["2", "Noblesse"] = 1, 1
    found = _boxed(
        [
            ("1", "Comtesse", 0.35, CHOCOLATE),
            ("1", "Jelly White", 0.3, NEARLY),
            ("1", "Arabia", 0.95, FAR),
            ("2", "Noblesse", 0.95, CHOCOLATE),
            ("2", "Amandina", 0.4, FAR),
        ],
        ["1", "2"],
    )
    choice = predict.choose_counting(found, truth)
    assert choice.cross_class == "merge" and choice.f1 == pytest.approx(1.0) and 0.41 <= choice.threshold <= 0.65
    assert choice.rules["cross_class"].tolist() == ["off", "suppress", "merge"]  # classify needs crop scores
    by_rule = choice.rules.set_index("cross_class")["objective"]
    assert by_rule["merge"] == pytest.approx(1.0) and by_rule["off"] < 1.0 and by_rule["suppress"] < 1.0
    assert choice.as_dict()["cross_class"] == "merge" and len(choice.as_dict()["cross_class_rules"]) == 3
    # the shifted suite decides too: each part is scored under the rule
    suites = {"shift F1": [(found, truth)]}
    with_suite = predict.choose_counting(found.one_per_chocolate("off"), truth, suites)
    assert with_suite.cross_class == "merge" and with_suite.rules.set_index("cross_class").loc["merge", "shift F1"] == pytest.approx(1.0)
    # the winner's choice is choose_threshold's on its resolved sets, per-class thresholds included
    alone = predict.choose_threshold(found.one_per_chocolate("merge"), truth, {"shift F1": [(found.one_per_chocolate("merge"), truth)]})
    assert (with_suite.threshold, with_suite.per_class, with_suite.per_class_objective) == (
        alone.threshold,
        alone.per_class,
        alone.per_class_objective,
    )
    pd.testing.assert_frame_equal(with_suite.sweep, alone.sweep)
    clear = _boxed([("1", "Comtesse", 0.9, CHOCOLATE), ("1", "Arabia", 0.95, FAR), ("2", "Noblesse", 0.95, CHOCOLATE)], ["1", "2"])
    assert predict.choose_counting(clear, truth).cross_class == "off"


# --------------------------------------------------------------------------------------------
# The threshold
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "f1, expected",
    [
        ([0.1, 0.5, 0.3], 0.31),  # one best
        ([0.5, 0.5, 0.5, 0.2], 0.31),  # a plateau of three: its middle
        ([0.5, 0.5, 0.2, 0.5, 0.5, 0.5, 0.5], 0.34),  # two plateaus: the longer one's middle (0.33–0.36 → 0.34)
        ([0.5, 0.2, 0.5], 0.30),  # equally long: the earlier
        ([0.2, 0.5, 0.5, 0.5, 0.5], 0.32),  # an even plateau: the lower middle
    ],
)
def test_plateau_middle(f1, expected):
    sweep = pd.DataFrame({"threshold": np.round(0.30 + 0.01 * np.arange(len(f1)), 2), "f1": f1})
    assert predict.plateau_middle(sweep) == pytest.approx(expected)


def test_choose_threshold_against_hand_computed_f1():
    # photo 1 holds 2 Amandina; photo 2 one Arabia. Scores: Amandina 0.95 and 0.65, a false Arabia
    # at 0.5 on photo 1, the true Arabia at 0.8 on photo 2.
    truth = pd.DataFrame(0, index=pd.Index(["1", "2"], name="id"), columns=NAMES)
    truth.loc["1", "Amandina"], truth.loc["2", "Arabia"] = 2, 1
    found = _detections([("1", "Amandina", 0.95), ("1", "Amandina", 0.65), ("1", "Arabia", 0.5), ("2", "Arabia", 0.8)], ["1", "2"])
    choice = predict.choose_threshold(found, truth)
    sweep = choice.sweep.set_index("threshold")["f1"]
    # ≤ 0.50: photo 1 TP 2, FPN 1 → 0.8; photo 2 → 1: mean 0.9
    assert sweep[0.30] == pytest.approx(0.9) and sweep[0.50] == pytest.approx(0.9)
    # 0.51–0.65: both right → 1.0; 0.66–0.80: photo 1 loses one Amandina → (2/3 + 1) / 2
    assert sweep[0.51] == sweep[0.65] == pytest.approx(1.0)
    assert sweep[0.66] == pytest.approx((2 / 3 + 1) / 2)
    assert choice.threshold == pytest.approx(0.58) and choice.f1 == pytest.approx(1.0)  # middle of 0.51–0.65
    assert choice.seed_f1 == pytest.approx(1.0)
    assert choice.seed_grid["threshold"].tolist() == list(predict.SEED_GRID)
    assert choice.per_class_f1 == pytest.approx(1.0)
    record = choice.as_dict()
    assert record["seed_threshold"] == 0.6 and set(record["per_class_thresholds"]) == set(NAMES)
    assert record["sweep"] == [0.05, 0.95]


def test_count_curve_scores_the_counts_of_detections_for_one_threshold_and_one_per_class():
    rng = np.random.default_rng(3)
    ids = [str(n) for n in range(6)]
    rows = [(rng.choice(ids), NAMES[rng.integers(3)], float(np.round(rng.uniform(0.05, 1), 2))) for _ in range(40)]
    found = _detections(rows, [*ids, "7"])  # a photo without detections, and one the truth lacks
    truth = pd.DataFrame(rng.integers(0, 3, (6, len(NAMES))), index=pd.Index(ids, name="id"), columns=NAMES)
    curve = predict.CountCurve(found, truth)
    on_a_score = sorted({score for _, _, score in rows})[::5]  # a detection scoring exactly the threshold is kept
    for threshold in (0.05, 0.37, 0.81, 0.99, *on_a_score, dict(zip(NAMES, np.linspace(0.2, 0.9, len(NAMES))))):
        counts = found.counts(threshold, truth.index)
        assert curve.f1(threshold) == metric.mean_count_f1(truth.to_numpy(), counts.to_numpy())
    undetected = pd.concat([truth, truth.iloc[:1].rename(index={"0": "8"})])
    with pytest.raises(ChocoError, match="no detections run, first: 8"):
        predict.f1_at(found, undetected, 0.5)


def test_a_suite_pulls_the_threshold_to_where_the_worse_photos_still_count():
    """Clean photos: every chocolate scores 0.95 and a false one 0.55, so 0.56–0.95 is right and the
    plateau middle 0.76. A shifted setting scores its true chocolate 0.62 only: on the mean of both,
    only 0.56–0.62 is right on both, so that is where the threshold goes."""
    truth = pd.DataFrame(0, index=pd.Index(["1"], name="id"), columns=NAMES)
    truth.loc["1", "Amandina"] = 1
    clean = _detections([("1", "Amandina", 0.95), ("1", "Arabia", 0.55)], ["1"])
    shifted = _detections([("1", "Amandina", 0.62), ("1", "Arabia", 0.50)], ["1"])
    alone = predict.choose_threshold(clean, truth)
    assert alone.threshold == pytest.approx(0.75) and alone.chosen_on == ["clean F1"]  # middle of 0.56–0.95 (40 values)
    both = predict.choose_threshold(clean, truth, {"shift F1": [(shifted, truth)]})
    assert both.threshold == pytest.approx(0.59) and both.f1 == 1.0  # middle of 0.56–0.62
    assert both.clean_threshold == pytest.approx(0.75) and both.clean_threshold_f1 == 1.0
    assert both.chosen_on == ["clean F1", "shift F1"]
    assert both.objective_at(0.75) == {"clean F1": 1.0, "shift F1": 0.0, "objective": 0.5}
    assert both.objective_at(both.threshold)["objective"] == 1.0
    assert both.as_dict()["objective_at_threshold"]["shift F1"] == 1.0
    # per class: Amandina below its shifted 0.62, Arabia above its false 0.55 — both right everywhere
    assert both.per_class["Amandina"] <= 0.62 and both.per_class["Arabia"] >= 0.56 and both.per_class_f1 == 1.0
    with pytest.raises(ChocoError, match="at least one part"):
        predict.Objective({"shift F1": []})


def test_the_sweep_reaches_down_to_what_the_detectors_keep():
    """A detector trained for minutes from random weights scores its chocolates low (the committed
    YOLO12s: count F1 0.102 at 0.30, 0.468 at 0.05): the sweep starts where the detectors' raw
    detections stop, so the chosen threshold can follow such scores."""
    from chocolib.models import DetectorConfig
    from chocolib.models.yolo12 import YoloConfig

    assert predict.SWEEP[0] == DetectorConfig().box_score_thresh == YoloConfig().score_thresh == 0.05
    truth = pd.DataFrame(0, index=pd.Index(["1", "2"], name="id"), columns=NAMES)
    truth.loc["1", "Amandina"], truth.loc["2", "Arabia"] = 2, 1
    # every true chocolate scores 0.12–0.2, a false Arabia 0.08
    found = _detections([("1", "Amandina", 0.2), ("1", "Amandina", 0.12), ("1", "Arabia", 0.08), ("2", "Arabia", 0.15)], ["1", "2"])
    choice = predict.choose_threshold(found, truth)
    assert choice.threshold == pytest.approx(0.10) and choice.f1 == pytest.approx(1.0)  # the middle of 0.09–0.12
    assert choice.seed_f1 == 0.0


def test_saved_threshold_is_what_predict_uses(tmp_path):
    assert predict.read_threshold(tmp_path) is None
    truth = pd.DataFrame(0, index=pd.Index(["1"], name="id"), columns=NAMES)
    choice = predict.choose_threshold(_detections([], ["1"]), truth)
    predict.save_threshold(tmp_path, choice)
    assert predict.read_threshold(tmp_path) == choice.threshold
    assert predict.read_tta(tmp_path) == "none"
    predict.save_threshold(tmp_path, choice, tta="flips")  # a threshold belongs to the TTA it was chosen with
    assert predict.read_tta(tmp_path) == "flips" and predict.tta_for(tmp_path / "best.pt", None) == "flips"
    assert predict.tta_for(tmp_path / "best.pt", "none") == "none"
    (tmp_path / "threshold.json").write_text('{"threshold": 0.5, "tta": "mirror"}')
    with pytest.raises(ChocoError, match="threshold.json: unknown test-time augmentation 'mirror'"):
        predict.read_tta(tmp_path)
    (tmp_path / "threshold.json").write_text("{}")
    with pytest.raises(ChocoError, match="threshold.json: cannot read the threshold"):
        predict.read_threshold(tmp_path)
    assert predict.read_tta(tmp_path / "elsewhere") == "none"
    # the cross-class rule too: "off" where threshold.json does not say (written before the rule)
    assert predict.read_cross_class(tmp_path) == "off" and predict.read_cross_class(tmp_path / "elsewhere") == "off"
    choice.cross_class = "merge"
    predict.save_threshold(tmp_path, choice)
    assert predict.read_cross_class(tmp_path) == "merge" and predict.cross_class_for(tmp_path / "best.pt", None) == "merge"
    assert predict.cross_class_for(tmp_path / "best.pt", "off") == "off"
    (tmp_path / "threshold.json").write_text('{"threshold": 0.5, "cross_class": "agnostic"}')
    with pytest.raises(ChocoError, match="threshold.json: unknown cross-class rule 'agnostic'"):
        predict.read_cross_class(tmp_path)


# --------------------------------------------------------------------------------------------
# The submission
# --------------------------------------------------------------------------------------------
def _sample(path, ids):
    path.write_text(",".join(classes.CSV_COLUMNS) + "\n" + "".join(f"{i}," + ",".join("0" * 13) + "\n" for i in ids))
    return path


def test_submission_has_the_sample_header_and_ids_sorted(tmp_path):
    sample = _sample(tmp_path / "sample_submission.csv", ["10", "9", "100"])
    found = _detections([("9", "Arabia", 0.9), ("100", "Triangolo", 0.9)], ["100", "10", "9"])
    out = predict.write_submission(found.counts(0.5), tmp_path / "sub.csv", sample)
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(classes.CSV_COLUMNS)
    assert [line.split(",")[0] for line in lines[1:]] == ["9", "10", "100"]  # by number, not as text
    assert dataset.read_counts(out).loc["9", "Arabia"] == 1
    with pytest.raises(ChocoError, match="1 id.* have no photo, first: 11"):
        predict.write_submission(found.counts(0.5), tmp_path / "x.csv", _sample(tmp_path / "s2.csv", ["9", "10", "100", "11"]))
    with pytest.raises(ChocoError, match="not in s3.csv, first: 9"):
        predict.write_submission(found.counts(0.5), tmp_path / "x.csv", _sample(tmp_path / "s3.csv", ["10", "100"]))
    assert not (tmp_path / "x.csv").exists()


# --------------------------------------------------------------------------------------------
# Running a model over a folder
# --------------------------------------------------------------------------------------------
class _FixedModel(torch.nn.Module):
    """Stands in for a detector: one Arabia box over the left half of every image, score 0.7."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, images):
        outputs = []
        for image in images:
            height, width = image.shape[-2:]
            self.seen.append((height, width))
            outputs.append(
                {
                    "boxes": torch.tensor([[0.0, 0.0, width / 2, height]]),
                    "labels": torch.tensor([classes.LABEL_IDS["Arabia"]]),
                    "scores": torch.tensor([0.7]),
                }
            )
        return outputs


def test_detect_normalises_boxes_and_names_photos_by_kaggle_id(tmp_path):
    folder = _photos(tmp_path / "test", ["L1000757.JPG", "L1000758.jpg", "notes.txt"][:2], size=(300, 200))
    (folder / "notes.txt").write_text("not a photo")
    model = _FixedModel()
    found = predict.detect(model, folder, max_side=150, batch_size=2)
    assert found.ids == ["1000757", "1000758"] and model.seen == [(100, 150), (100, 150)]  # decoded at the model's size
    assert found.table[["x0", "y0", "x1", "y1"]].to_numpy().tolist() == [[0, 0, 0.5, 1]] * 2
    assert found.counts(0.6)["Arabia"].tolist() == [1, 1] and found.counts(0.75).to_numpy().sum() == 0


def test_detect_with_tta_maps_each_view_back_and_fuses(tmp_path):
    folder = _photos(tmp_path / "test", ["L1.jpg"], size=(300, 200))
    model = _FixedModel()  # always the left half of what it sees: the photo's left half in two views, its right half in two
    found = predict.detect(model, folder, max_side=150, tta="flips")
    assert model.seen == [(100, 150)] * 4
    boxes = found.table.sort_values("x0")[["x0", "y0", "x1", "y1"]].to_numpy().tolist()
    assert boxes == [[0, 0, 0.5, 1], [0.5, 0, 1, 1]]
    assert found.table["score"].tolist() == pytest.approx([0.35, 0.35])  # each found in 2 of 4 views
    assert found.images_per_s > 0


def test_detect_with_sizes_shows_the_detector_each_photo_at_its_input_size_and_larger(tmp_path):
    from chocolib import models

    folder = _photos(tmp_path / "test", ["L1.jpg"], size=(300, 200))
    torch.manual_seed(0)
    model, _ = models.build_detector(models.DetectorConfig(backbone="efficientnet_lite0", pretrained="none", min_size=128, max_size=192))
    seen = []
    model.backbone.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[-2:])))
    predict.detect(model, folder, max_side=150, tta="sizes")
    # 150 × 100 → 192 × 128 and, 1.25× larger, 240 × 160 (padded to a multiple of 32)
    assert seen == [(128, 192), (160, 256)]
    assert (model.transform.min_size, model.transform.max_size) == ((128,), 192)
    with pytest.raises(ChocoError, match="changes a Faster R-CNN's input size"):
        predict.detect(_FixedModel(), folder, max_side=150, tta="sizes")


def test_remembered_detections_run_the_model_once_per_pixels_and_only_inside(tmp_path):
    folder = _photos(tmp_path / "test", ["L1.jpg", "L2.jpg"], size=(300, 200))
    model = _FixedModel()
    with predict.remembering_detections():
        first = predict.detect(model, folder, max_side=150)
        again = predict.detect(model, folder, max_side=150)
        assert again is first and len(model.seen) == 2  # the same pixels: the model ran once
        predict.detect(model, folder, max_side=120)  # other pixels (smaller): it runs
        assert len(model.seen) == 4
        predict.detect(model, folder, max_side=150, tta="flips")  # another TTA: it runs, 4 views of each photo
        assert len(model.seen) == 12
        predict.detect(_FixedModel(), folder, max_side=150)  # another model: its own run, not the first's
    predict.detect(model, folder, max_side=150)
    assert len(model.seen) == 14  # outside, nothing is remembered


def test_detect_refuses_an_empty_folder_and_a_corrupt_photo(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChocoError, match="no photos"):
        predict.detect(_FixedModel(), tmp_path / "empty", 100)
    folder = _photos(tmp_path / "photos", ["L1.jpg"])
    (folder / "L2.jpg").write_bytes((folder / "L1.jpg").read_bytes()[:100])  # truncated
    with pytest.raises(ChocoError, match="L2.jpg: cannot decode photo"):
        predict.detect(_FixedModel(), folder, 100)


def test_predict_command_writes_the_submission_and_the_raw_detections(tiny_checkpoint, tiny_source, tmp_path):
    out = tmp_path / "sub.csv"
    result = run_cli("predict", "--weights", tiny_checkpoint, "--images", tiny_source / "test", "--out", out, "--threshold", "0.05")
    assert result.returncode == 0, result.stderr[-2000:]
    assert last_line(result.stdout) == str(out)
    submission = dataset.read_counts(out)
    assert list(submission.index) == list(dataset.read_counts(tiny_source / "sample_submission.csv").index)
    detections = predict.read_detections(tmp_path / "sub_detections.csv")
    assert sorted(detections.ids) == sorted(submission.index)
    pd.testing.assert_frame_equal(detections.counts(0.05).loc[submission.index], submission, check_names=False)
    score = run_cli("score", "--truth", tiny_source / "test_truth.csv", "--submission", out)
    assert 0.0 <= float(last_line(score.stdout)) <= 1.0


def test_detect_gives_the_model_floats_in_0_1_and_counts_what_it_finds(tmp_path):
    """A stand-in that finds red squares: the counts are the squares of each photo, and a photo
    reaching the model in 0–255 (a lost ``/ 255``) is refused by it."""
    red_squares_photo(tmp_path / "photos" / "L1.png")
    red_squares_photo(tmp_path / "photos" / "L2.png", squares=((30, 40),))
    counter = RedSquareCounter(label=classes.LABEL_IDS["Comtesse"])
    found = predict.detect(counter, tmp_path / "photos", None, batch_size=2)
    counts = found.counts(0.5)
    assert counts.loc["1", "Comtesse"] == 3 and counts.loc["2", "Comtesse"] == 1 and counts.to_numpy().sum() == 4
    # the boxes are the squares', normalised to the photo: 40 px of 240 × 160
    first = found.table[found.table["id"] == "1"].sort_values("x0").iloc[0]
    assert (first["x0"], first["y0"], first["x1"], first["y1"]) == pytest.approx((20 / 240, 20 / 160, 60 / 240, 60 / 160), abs=1e-6)


def _model_copy(checkpoint, folder):
    import shutil

    folder.mkdir()
    shutil.copy(checkpoint, folder / "best.pt")
    shutil.copy(checkpoint.parent / "config.json", folder / "config.json")
    return folder / "best.pt"


def test_predict_without_threshold_uses_the_saved_one_and_every_option_reaches_it(tiny_checkpoint, tiny_source, tmp_path, caplog, capsys):
    """The predict command's own parser and function, in this process (a subprocess per option
    would cost a torch import each)."""
    import json
    import logging

    from chocolib import cli

    weights = _model_copy(tiny_checkpoint, tmp_path / "model")
    images = tiny_source / "test"

    def run(name, *options):
        out = tmp_path / f"{name}.csv"
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert cli.main(["predict", "--weights", str(weights), "--images", str(images), "--out", str(out), *options]) == 0
        return dataset.read_counts(out), predict.read_detections(tmp_path / f"{name}_detections.csv"), caplog.text

    _, raw, _ = run("raw", "--threshold", "0.05")
    scores = np.sort(raw.table["score"].to_numpy())
    assert len(scores) >= 4, "the tiny model found too little to tell thresholds apart"
    saved = float(np.round((scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2, 6))  # between two scores
    assert (scores >= saved).sum() not in ((scores >= predict.SEED_THRESHOLD).sum(), len(scores))
    (tmp_path / "model" / "threshold.json").write_text(json.dumps({"threshold": saved, "tta": "none"}))
    counts, _, log = run("saved")
    assert counts.to_numpy().sum() == (scores >= saved).sum()  # the saved threshold, not the seed's 0.6
    assert f"threshold {saved:.2f}, chosen on validation (threshold.json)" in log

    _, batch_of_one, _ = run("batch1", "--threshold", "0.05", "--batch-size", "1")
    pd.testing.assert_frame_equal(batch_of_one.counts(0.05), raw.counts(0.05))
    _, small, _ = run("small", "--threshold", "0.05", "--work-side", "96")
    assert not small.table[["x0", "y0", "x1", "y1"]].equals(raw.table[["x0", "y0", "x1", "y1"]])  # other pixels reached the model
    tta_counts, flipped, _ = run("tta", "--threshold", "0.05", "--tta", "hflip")
    assert not flipped.table["score"].equals(raw.table["score"])
    pd.testing.assert_frame_equal(flipped.counts(0.05).loc[tta_counts.index], tta_counts, check_names=False)
    suppressed = raw.one_per_chocolate("suppress").counts(0.05).loc[tta_counts.index]
    assert suppressed.to_numpy().sum() < raw.counts(0.05).to_numpy().sum(), "the tiny model put no two classes on one chocolate"
    rule_counts, rule_raw, _ = run("rule", "--threshold", "0.05", "--cross-class", "suppress")
    pd.testing.assert_frame_equal(rule_raw.counts(0.05), raw.counts(0.05))  # the detections are saved raw
    pd.testing.assert_frame_equal(rule_counts, suppressed, check_names=False)
    (tmp_path / "model" / "threshold.json").write_text(json.dumps({"threshold": 0.05, "tta": "none", "cross_class": "suppress"}))
    saved_rule_counts, _, log = run("saved_rule")
    pd.testing.assert_frame_equal(saved_rule_counts, suppressed, check_names=False)
    assert "boxes of different classes on one chocolate: suppress (threshold.json)" in log
    ids = list(dataset.read_counts(tiny_source / "sample_submission.csv").index)
    sample = _sample(tmp_path / "mine.csv", [*ids, "999"])  # not the default beside test/: one id too many
    assert (
        cli.main(
            [
                "predict",
                "--weights",
                str(weights),
                "--images",
                str(images),
                "--out",
                str(tmp_path / "s.csv"),
                "--sample-submission",
                str(sample),
            ]
        )
        == 2
    )
    assert "mine.csv: 1 id(s) of mine.csv have no photo, first: 999" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_predict_command_errors(tiny_checkpoint, tiny_source, tmp_path):
    assert_user_error(
        run_cli("predict", "--weights", tmp_path / "none.pt", "--images", tiny_source / "test", "--out", tmp_path / "s.csv"),
        "none.pt",
        "checkpoint not found",
    )
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    assert_user_error(
        run_cli("predict", "--weights", tmp_path / "broken.pt", "--images", tiny_source / "test", "--out", tmp_path / "s.csv"),
        "broken.pt",
        "cannot read checkpoint",
    )
    assert_user_error(
        run_cli(
            "predict", "--weights", tiny_checkpoint, "--images", tiny_source / "test", "--out", tmp_path / "s.csv", "--threshold", "1.5"
        ),
        "threshold 1.5",
    )
    assert not (tmp_path / "s.csv").exists()


# --------------------------------------------------------------------------------------------
# mAP (torchmetrics / pycocotools)
# --------------------------------------------------------------------------------------------
def _truth_boxes():
    return pd.DataFrame(
        {"id": ["1", "1", "2"], "cls": [0, 1, 0], "cx": [0.2, 0.6, 0.5], "cy": [0.2, 0.6, 0.5], "w": [0.1, 0.2, 0.2], "h": [0.1, 0.2, 0.2]}
    )


def _boxes_as_detections(truth, shift=0.0):
    return pd.DataFrame(
        {
            "id": truth["id"],
            "label": truth["cls"] + 1,
            "score": np.linspace(0.9, 0.6, len(truth)),
            "x0": truth["cx"] - truth["w"] / 2 + shift,
            "y0": truth["cy"] - truth["h"] / 2,
            "x1": truth["cx"] + truth["w"] / 2 + shift,
            "y1": truth["cy"] + truth["h"] / 2,
        }
    )


def test_map_is_one_for_perfect_boxes_and_drops_for_loose_ones():
    truth = _truth_boxes()
    summary, table = metric.detection_map(_boxes_as_detections(truth), truth, ["1", "2", "3"])
    assert summary == {"map": pytest.approx(1.0), "map_50": pytest.approx(1.0)}
    assert table.set_index("class").loc["Jelly White", "true_boxes"] == 2
    assert np.isnan(table.set_index("class").loc["Arabia", "ap"])  # no true box: no AP, not 0
    # one box 0.2 wide, shifted by 0.02: IoU = (0.18·0.2)/(0.22·0.2) = 0.818, a hit at the IoU
    # thresholds 0.50, 0.55, …, 0.80 (7 of 10) and a miss above
    one = truth.iloc[[2]]
    summary, _ = metric.detection_map(_boxes_as_detections(one, shift=0.02), one, ["2"])
    assert summary["map_50"] == pytest.approx(1.0) and summary["map"] == pytest.approx(0.7)


# --------------------------------------------------------------------------------------------
# count: one photo, one command
# --------------------------------------------------------------------------------------------
def test_count_command_prints_each_photos_counts_and_draws_them(tiny_checkpoint, tiny_source, tmp_path):
    photos = sorted((tiny_source / "test").glob("*.JPG"))[:2]
    result = run_cli("count", *photos, "--weights", tiny_checkpoint, "--threshold", "0.05", "--out", tmp_path / "drawn")
    assert result.returncode == 0, result.stderr[-2000:]
    model, side = predict.load_for_inference(tiny_checkpoint, "cpu")
    counts = predict.detect(model, photos, side).counts(0.05)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    for line, photo, (_, row) in zip(lines, photos, counts.iterrows()):
        found = ", ".join(f"{name} {n}" for name, n in row.items() if n)
        assert line.startswith(f"{photo.name}: {row.sum()} chocolate(s)") and found in line
        drawn = tmp_path / "drawn" / f"{photo.stem}_counted.jpg"
        assert f"(drawn: {drawn})" in line
        assert Image.open(drawn).size == dataset.read_photo(photo, side).size
    assert lines[-1] == f"2 photo(s), {counts.to_numpy().sum()} chocolate(s); drawn in {tmp_path / 'drawn'}"


def test_count_defaults_to_the_committed_then_the_make_all_checkpoint(monkeypatch, tmp_path, tiny_source):
    committed, make_all = tmp_path / "models" / "best.pt", tmp_path / "runs" / "cpu" / "best.pt"
    monkeypatch.setattr(predict, "DEFAULT_WEIGHTS", (committed, make_all))
    photo = sorted((tiny_source / "test").glob("*.JPG"))[0]
    with pytest.raises(ChocoError, match="make canonical"):
        predict.count_photos([photo], None, tmp_path / "drawn")
    make_all.parent.mkdir(parents=True)
    make_all.write_bytes(b"not a checkpoint")
    with pytest.raises(ChocoError, match=f"{make_all}: cannot read checkpoint"):
        predict.count_photos([photo], None, tmp_path / "drawn")


def test_drawn_detections_are_boxes_in_class_colours():
    image = Image.new("RGB", (200, 100), (255, 255, 255))
    kept = pd.DataFrame(
        [{"id": "1", "label": classes.LABEL_IDS["Arabia"], "class": "Arabia", "score": 0.9, "x0": 0.25, "y0": 0.5, "x1": 0.75, "y1": 0.9}]
    )
    drawn = predict.draw_detections(image, kept, "title")
    assert drawn.size == image.size and image.getpixel((100, 95)) == (255, 255, 255)
    color = tuple(int(classes.COLORS["Arabia"].lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    assert drawn.getpixel((100, 89)) == color  # the box's bottom edge at y1 = 0.9 · 100
