"""The crop classifier's second look: crops, training (resume, rerun), inference, and the rule ``classify``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from chocolib import classes, dataset, predict, profiles, train_crops
from chocolib.errors import ChocoError
from chocolib.models import crop_classifier
from conftest import RedSquareCounter, assert_user_error, last_line, red_squares_photo, run_cli

TINY = crop_classifier.CropSettings(side=32, epochs=2, batch_size=8)
CHOCOLATE = (0.10, 0.10, 0.30, 0.30)
NEARLY = (0.11, 0.10, 0.31, 0.30)  # IoU 0.90 with CHOCOLATE: the same chocolate
BESIDE = (0.22, 0.10, 0.42, 0.30)  # IoU 0.25: the chocolate next to it
FAR = (0.60, 0.60, 0.80, 0.80)


def _boxed(rows, ids) -> predict.Detections:
    """rows: (id, class name, score, (x0, y0, x1, y1))."""
    table = pd.DataFrame(
        [
            {"id": i, "label": classes.LABEL_IDS[c], "class": c, "score": s, "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3]}
            for i, c, s, b in rows
        ],
        columns=predict.DETECTION_COLUMNS,
    )
    return predict.Detections(table, list(ids))


def test_a_crop_is_the_square_around_its_box_with_a_rim_and_black_beyond_the_photo():
    image = torch.zeros((3, 100, 200), dtype=torch.uint8)
    image[0, 40:60, 90:110] = 255  # a red 20 × 20 square
    image[1, 10:30, 0:10] = 200  # a green block touching the left edge
    crops = crop_classifier.crop_boxes(image, [[90, 40, 110, 60], [0, 10, 10, 30]], context=2.0, side=40)
    assert crops.shape == (2, 3, 40, 40) and crops.dtype == torch.uint8
    red = crops[0, 0].numpy()
    # the box fills the middle half of a crop twice its side
    assert red[12:28, 12:28].min() == 255 and red[:8].max() == 0 and red[:, 32:].max() == 0
    green = crops[1, 1].numpy()  # a 10 × 20 box: squared on its longer side, x −15 to 25 around its centre x = 5
    assert green[12:28, 16:24].min() == 200  # the block itself, at crop columns 15–25
    assert green[:, :14].max() == 0  # beyond the photo's left edge: black
    floats = crop_classifier.crop_boxes(image.float() / 255, [[90, 40, 110, 60]], context=2.0, side=40)
    assert torch.equal(floats, crops[:1])
    assert crop_classifier.crop_boxes(image, np.zeros((0, 4)), 1.25, 16).shape == (0, 3, 16, 16)


def test_training_resumes_after_a_kill_reruns_to_the_same_weights_and_is_not_repeated(tiny_split, tmp_path, monkeypatch):
    whole = train_crops.train(tiny_split / "train", tiny_split / "val", tmp_path / "whole", TINY, seed=0)
    assert whole.path == tmp_path / "whole" / crop_classifier.FILE and not whole.skipped
    assert list(whole.history["epoch"]) == [1, 2] and 0.0 <= whole.val_accuracy <= 1.0
    assert not (tmp_path / "whole" / train_crops.LAST).exists() and (tmp_path / "whole" / train_crops.HISTORY).is_file()
    assert "2 epochs, validation accuracy" in whole.line()
    again = train_crops.train(tiny_split / "train", tiny_split / "val", tmp_path / "whole", TINY, seed=0)
    assert again.skipped and again.history.equals(whole.history)

    # killed after its first epoch: the second epoch's save never happens
    real_save = train_crops.engine.save_checkpoint
    saves = []

    def killed_at_the_second_save(path, state):
        saves.append(path.name)
        if len(saves) == 2:
            raise KeyboardInterrupt
        real_save(path, state)

    monkeypatch.setattr(train_crops.engine, "save_checkpoint", killed_at_the_second_save)
    with pytest.raises(KeyboardInterrupt):
        train_crops.train(tiny_split / "train", tiny_split / "val", tmp_path / "killed", TINY, seed=0)
    assert (tmp_path / "killed" / train_crops.LAST).is_file() and not (tmp_path / "killed" / crop_classifier.FILE).exists()
    monkeypatch.setattr(train_crops.engine, "save_checkpoint", real_save)
    resumed = train_crops.train(tiny_split / "train", tiny_split / "val", tmp_path / "killed", TINY, seed=0)
    first, second = (torch.load(p, weights_only=True)["model"] for p in (whole.path, resumed.path))
    assert all(torch.equal(first[name], second[name]) for name in first), "a resumed run must end where an unbroken one does"
    pd.testing.assert_frame_equal(
        resumed.history.drop(columns=["seconds", "crops_per_s"]), whole.history.drop(columns=["seconds", "crops_per_s"])
    )

    other = crop_classifier.CropSettings(side=32, epochs=3, batch_size=8)
    (tmp_path / "killed" / crop_classifier.FILE).unlink()
    real_save(tmp_path / "killed" / train_crops.LAST, {"key": {"other": 1}})
    with pytest.raises(ChocoError, match="other settings or data"):
        train_crops.train(tiny_split / "train", tiny_split / "val", tmp_path / "killed", other, seed=0)


def test_a_saved_classifier_scores_boxes_and_a_detector_beside_it_gets_the_second_look(tiny_split, tmp_path):
    summary = train_crops.train(
        tiny_split / "train", tiny_split / "val", tmp_path, crop_classifier.CropSettings(side=32, epochs=1, batch_size=8)
    )
    loaded = crop_classifier.CropClassifier.load(summary.path)
    assert loaded.settings.side == 32
    image = torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8)
    probabilities = loaded.probabilities(image, [[10, 10, 30, 30], [40, 20, 90, 60]])
    assert probabilities.shape == (2, classes.NUM_CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)

    photo = red_squares_photo(tmp_path / "photos" / "L1.jpg")
    counter = RedSquareCounter(label=classes.LABEL_IDS["Comtesse"])
    plain = predict.detect(counter, photo.parent, max_side=None)
    assert predict.CROP_SCORE not in plain.table.columns and "classify" not in predict.rules_for(plain)
    with pytest.raises(ChocoError, match="needs the crop classifier's scores"):
        plain.one_per_chocolate("classify")
    assert not crop_classifier.attach(counter, tmp_path / "elsewhere" / "best.pt")
    assert crop_classifier.attach(counter, tmp_path / "best.pt")
    looked = predict.detect(counter, photo.parent, max_side=None)
    scores = looked.table[predict.CROP_SCORE].to_numpy()
    assert len(scores) == 3 and ((scores > 0) & (scores < 1)).all()
    # each score is the classifier's probability of the detection's own class, on the detection's box,
    # tempered by the crop's sharpness (these flat red squares have little)
    pixels = predict.as_tensor(dataset.read_photo(photo))
    boxes = looked.table[["x0", "y0", "x1", "y1"]].to_numpy(np.float32) * np.array([240, 160, 240, 160], np.float32)
    own = loaded.probabilities(pixels, boxes)[:, classes.KAGGLE_NAMES.index("Comtesse")]
    crops = crop_classifier.crop_boxes(pixels, boxes, loaded.settings.context, loaded.settings.side)
    tempered = own ** np.minimum(1.0, crop_classifier.sharpness(crops) / loaded.sharpness_floor)
    np.testing.assert_allclose(scores, tempered, rtol=1e-3)
    assert "classify" in predict.rules_for(looked)
    saved = predict.read_detections(looked.save(tmp_path / "found.csv"))
    np.testing.assert_allclose(saved.table[predict.CROP_SCORE], scores, rtol=1e-5)
    assert len(looked.one_per_chocolate("classify").kept(0.5)) == 3


def test_classify_counts_the_chocolate_the_detector_finds_as_the_class_both_agree_on():
    rows = [
        ("1", "Jelly White", 0.95, CHOCOLATE),  # the detector's best guess
        ("1", "Comtesse", 0.84, NEARLY),  # its second, on the same chocolate
        ("1", "Arabia", 0.90, BESIDE),  # a neighbour the classifier doubts a little: kept as it is
        ("1", "Noblesse", 0.60, FAR),
        ("2", "Comtesse", 0.90, CHOCOLATE),  # a Comtesse the classifier confirms
        ("2", "Jelly White", 0.40, NEARLY),
    ]
    found = _boxed(rows, ["1", "2"])
    found.table[predict.CROP_SCORE] = [0.01, 0.97, 0.60, 0.99, 0.80, 0.30]
    classified = found.one_per_chocolate("classify")
    table = classified.table.set_index(["id", "class"])
    # photo 1: √(0.95 · 0.01) < √(0.84 · 0.97): a Comtesse, in the detector's best box, at its best score
    assert sorted(classified.table.loc[classified.table["id"] == "1", "class"]) == ["Arabia", "Comtesse", "Noblesse"]
    assert table.loc[("1", "Comtesse"), "score"] == pytest.approx(0.95)
    assert table.loc[("1", "Comtesse"), "label"] == classes.LABEL_IDS["Comtesse"]
    np.testing.assert_allclose(table.loc[("1", "Comtesse"), ["x0", "y0", "x1", "y1"]].to_numpy(np.float64), CHOCOLATE, atol=1e-6)
    assert classified.table.loc[classified.table["id"] == "2", "class"].tolist() == ["Comtesse"]
    # suppress keeps the detector's word
    assert "Jelly White" in set(found.one_per_chocolate("suppress").table["class"])
    truth = pd.DataFrame(0, index=pd.Index(["1", "2"], name="id"), columns=list(classes.KAGGLE_NAMES))
    truth.loc["1", ["Comtesse", "Arabia", "Noblesse"]], truth.loc["2", "Comtesse"] = 1, 1
    choice = predict.choose_counting(found, truth)
    assert choice.cross_class == "classify" and choice.f1 == pytest.approx(1.0)
    assert choice.rules["cross_class"].tolist() == list(predict.CROSS_CLASS_RULES)


def test_detections_tables_are_read_with_or_without_crop_scores_and_nothing_else(tmp_path):
    found = _boxed([("1", "Comtesse", 0.9, CHOCOLATE)], ["1"])
    assert list(predict.read_detections(found.save(tmp_path / "plain.csv")).table.columns) == predict.DETECTION_COLUMNS
    found.table[predict.CROP_SCORE] = [0.5]
    assert predict.read_detections(found.save(tmp_path / "looked.csv")).table[predict.CROP_SCORE].tolist() == [0.5]
    (tmp_path / "odd.csv").write_text("id,label,class,score,x0,y0,x1,y1,extra\n1,8,Comtesse,0.9,0,0,1,1,3\n")
    with pytest.raises(ChocoError, match=r"odd.csv:1"):
        predict.read_detections(tmp_path / "odd.csv")


def test_the_train_crops_command_prints_its_checkpoint_and_names_a_missing_split(tiny_split, tmp_path):
    result = run_cli("train-crops", "--data", tiny_split, "--out", tmp_path / "model", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert last_line(result.stdout) == str(tmp_path / "model" / crop_classifier.FILE)
    assert "1 epochs, validation accuracy" in result.stderr
    again = run_cli("train-crops", "--data", tiny_split, "--out", tmp_path / "model", "--epochs", "1")
    assert "already trained: nothing to do" in again.stderr
    assert_user_error(run_cli("train-crops", "--data", tmp_path / "nowhere", "--out", tmp_path / "other"), "nowhere")


def test_the_crop_weight_moves_the_vote_from_the_detector_to_the_classifier_and_back():
    found = _boxed([("1", "Jelly White", 0.95, CHOCOLATE), ("1", "Comtesse", 0.60, NEARLY)], ["1"])
    found.table[predict.CROP_SCORE] = [0.30, 0.70]
    voted = {}
    for weight in (0.0, 0.2, 0.5, 1.0):
        with predict.crop_weight(weight):
            voted[weight] = found.one_per_chocolate("classify").table["class"].tolist()
    # 0.2: 0.95^0.8 · 0.3^0.2 = 0.755 > 0.6^0.8 · 0.7^0.2 = 0.618; 0.5: √(0.285) = 0.534 < √(0.42) = 0.648
    assert voted == {0.0: ["Jelly White"], 0.2: ["Jelly White"], 0.5: ["Comtesse"], 1.0: ["Comtesse"]}
    assert predict.CROP_WEIGHT == 0.5  # restored after each block
    with pytest.raises(ChocoError, match="weight must lie in 0–1"), predict.crop_weight(1.5):
        pass


def test_sharpness_reads_the_detail_a_blur_or_a_lost_resolution_takes_away():
    grain = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 48, 48), dtype=np.uint8))
    blurred = torch.nn.functional.avg_pool2d(grain.float(), 5, stride=1, padding=2).round().to(torch.uint8)
    smaller = torch.nn.functional.interpolate(
        torch.nn.functional.interpolate(grain.float(), size=12, mode="area"), size=48, mode="bilinear"
    )
    flat = torch.full((1, 3, 48, 48), 120, dtype=torch.uint8)
    sharp, soft, low, none = (crop_classifier.sharpness(c)[0] for c in (grain, blurred, smaller.round().to(torch.uint8), flat))
    assert none == 0.0 and sharp > 20 * soft > 0 and sharp > 20 * low > 0
    assert crop_classifier.sharpness(torch.zeros((0, 3, 8, 8), dtype=torch.uint8)).shape == (0,)


def test_the_classifier_has_its_full_say_on_sharp_crops_and_none_on_a_crop_without_detail(tiny_split, tmp_path):
    summary = train_crops.train(
        tiny_split / "train", tiny_split / "val", tmp_path, crop_classifier.CropSettings(side=32, epochs=1, batch_size=8)
    )
    loaded = crop_classifier.CropClassifier.load(summary.path)
    val_crops, _ = train_crops.split_crops(tiny_split / "val", loaded.settings.context, loaded.settings.side)
    # the floor is the settings' quantile of the validation crops' sharpness, saved with the weights
    assert loaded.sharpness_floor == pytest.approx(np.quantile(crop_classifier.sharpness(val_crops), 0.25))

    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.integers(0, 256, (3, 64, 128), dtype=np.uint8))
    image[:, :, 64:] = 90  # the right half: no detail at all
    boxes, labels = [[8, 8, 56, 56], [72, 8, 120, 56]], [3, 3]
    own = loaded.probabilities(image, boxes)[:, 2]
    loaded.sharpness_floor = 1.0  # the noisy half is far sharper than that
    scores = loaded.scores(image, boxes, labels)
    assert scores[0] == pytest.approx(own[0]) and scores[1] == 1.0
    loaded.sharpness_floor = 1e9  # every crop far below the floor: the classifier nearly abstains
    assert (loaded.scores(image, boxes, labels) > own).all()
    loaded.sharpness_floor = None  # a classifier saved before the floor: its probabilities as they are
    np.testing.assert_allclose(loaded.scores(image, boxes, labels), own)


def test_a_profile_may_fix_the_rule_while_every_rule_is_still_compared():
    found = _boxed([("1", "Jelly White", 0.95, CHOCOLATE), ("1", "Comtesse", 0.60, NEARLY)], ["1"])
    found.table[predict.CROP_SCORE] = [0.99, 0.10]  # the classifier agrees with the detector: classify ties suppress
    truth = pd.DataFrame(0, index=pd.Index(["1"], name="id"), columns=list(classes.KAGGLE_NAMES))
    truth.loc["1", "Jelly White"] = 1
    free = predict.choose_counting(found, truth)
    assert free.cross_class == "off"  # every rule counts this photo right: ties go to the simplest
    fixed = predict.choose_counting(found, truth, allowed=("classify",))
    assert fixed.cross_class == "classify" and fixed.f1 == pytest.approx(1.0)
    assert fixed.rules["cross_class"].tolist() == list(predict.CROSS_CLASS_RULES)
    plain = _boxed([("1", "Jelly White", 0.95, CHOCOLATE)], ["1"])
    with pytest.raises(ChocoError, match="crop classifier's scores"):
        predict.choose_counting(plain, truth, allowed=("classify",))
    with pytest.raises(ChocoError, match="unknown cross-class rule"):
        predict.choose_counting(found, truth, allowed=("vote",))


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_a_profile_allows_only_rules_it_can_count_under(name):
    profile = profiles.PROFILES[name]
    allowed = profile.counting_rules or ()
    assert set(allowed) <= set(predict.CROSS_CLASS_RULES)
    assert "classify" not in allowed or profile.crop_epochs > 0, "classify needs the crop classifier the profile trains"
