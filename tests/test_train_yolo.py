"""YOLO12s's own loop: the online draws, the warm-up and cosine, resumption, loading, the CLI."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from chocolib import models, predict, profiles, train, train_yolo
from chocolib.errors import ChocoError
from chocolib.models import yolo12
from conftest import assert_user_error, run_cli

TIMING = ["seconds", "images_per_s"]
SIZE = 128


def _configs(**overrides):
    return train_yolo.configs_for(profiles.get("tiny"), 0, **{"image_size": SIZE, "steps_per_epoch": 2, "epochs": 2, **overrides})


def test_draws_are_square_reproducible_and_new_each_epoch(tiny_split):
    draws = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0)
    split = json.loads((tiny_split / "split.json").read_text())
    assert draws.stems == split["train"] and len(draws) == len(split["train"])
    image, target, count = draws[0]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.uint8 and count >= 1
    boxes = target["boxes"]
    assert len(boxes) == len(target["labels"]) > 0
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= SIZE).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    assert ((target["labels"] >= 1) & (target["labels"] <= 13)).all()
    again, target_again, _ = draws[0]
    assert torch.equal(image, again) and torch.equal(boxes, target_again["boxes"])
    draws.set_epoch(2)
    assert not torch.equal(image, draws[0][0])


def test_letterboxed_draw_of_an_unaltered_photo_keeps_its_boxes(tiny_split):
    draws = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0)
    draws.keep_original = 1.0  # every draw is the photo, only resized and padded
    image, target, _ = draws[0]
    original, truth = draws.versions[draws.indices[0]]
    height, width = original.shape[-2:]
    scale = SIZE / max(height, width)
    rows, cols = yolo12.letterbox_shape(height, width, SIZE)
    expected = truth["boxes"].as_subclass(torch.Tensor).clone()
    xyxy = torch.cat([expected[:, :2] - expected[:, 2:] / 2, expected[:, :2] + expected[:, 2:] / 2], dim=1) * scale
    assert torch.allclose(target["boxes"], xyxy, atol=1.0)
    grey = round(yolo12.PAD_VALUE * 255)
    assert (image[:, rows:, :] == grey).all() and (image[:, :, cols:] == grey).all()


def test_an_empty_draw_is_drawn_again(tiny_split, monkeypatch):
    draws = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0)
    real, calls = draws.draw, []

    def empty_first(image, target):
        calls.append(1)
        pixels, drawn, extent = real(image, target)
        if len(calls) == 1:
            drawn = {"boxes": drawn["boxes"][:0], "labels": drawn["labels"][:0]}
        return pixels, drawn, extent

    monkeypatch.setattr(draws, "draw", empty_first)
    _, target, count = draws[0]
    assert count == 2 and len(target["labels"]) > 0
    _, _, redrawn = train_yolo.collate_draws([draws[1], (torch.zeros(3, SIZE, SIZE, dtype=torch.uint8), target, 3)])
    assert redrawn == 2


def test_a_crop_is_a_window_of_the_photo_at_the_scale_it_is_counted_at(tiny_split):
    whole = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0)
    cropped = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0, crop=64)
    whole.keep_original = cropped.keep_original = 1.0  # the photo only resized: the same picture for both
    picture, truth, _ = whole[0]
    windows = [cropped[0]]
    cropped.set_epoch(2)
    windows.append(cropped[0])
    grey = round(yolo12.PAD_VALUE * 255)
    rows, cols = yolo12.letterbox_shape(*whole.versions[whole.indices[0]][0].shape[-2:], SIZE)
    offsets = []
    for image, target, _ in windows:
        assert image.shape == (3, 64, 64) and cropped.side == 64
        # the window's pixels are the letterboxed photo's at one offset, not rescaled
        found = [
            (x, y) for y in range(rows - 64 + 1) for x in range(cols - 64 + 1) if torch.equal(picture[:, y : y + 64, x : x + 64], image)
        ]
        assert found, "the crop is not a window of the photo at its letterboxed scale"
        x, y = found[0]
        offsets.append((x, y))
        # its boxes are the photo's, shifted and clipped; a chocolate mostly outside the window is dropped
        shifted = truth["boxes"] - torch.tensor([x, y, x, y], dtype=torch.float32)
        clipped = shifted.clamp(0, 64)
        area = lambda b: (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)  # noqa: E731
        kept = (area(clipped) >= train_yolo.MIN_VISIBLE * area(shifted)) & (area(clipped) > 0)
        assert torch.allclose(target["boxes"], clipped[kept]) and torch.equal(target["labels"], truth["labels"][kept])
        assert not (image == grey).all()
    assert offsets[0] != offsets[1]  # a new window each epoch
    mosaic = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0, crop=64, mosaic=1.0)
    image, target, _ = mosaic[0]
    assert image.shape == (3, 64, 64) and ((target["boxes"] >= 0) & (target["boxes"] <= 64)).all()


def test_copy_paste_draws_carry_more_chocolates_reproducibly_and_only_the_splits_own(tiny_split):
    """With copy-paste a photo comes out of its draws with pasted chocolates (more boxes on
    average, each inside the draw), the same draw twice for the same epoch; its bank holds the
    chocolates of the split's training photos only, not of the offline versions."""
    plain = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0)
    pasted = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0, copy_paste=True)
    plain.keep_original = pasted.keep_original = 1.0  # no RandomResizedCrop: the counts compare
    assert plain.paste is None and len(pasted.paste.bank) == len(pasted.indices)
    counts = {"plain": 0, "pasted": 0}
    for epoch in (1, 2, 3):
        for draws, name in ((plain, "plain"), (pasted, "pasted")):
            draws.set_epoch(epoch)
            for index in range(len(draws)):
                image, target, _ = draws[index]
                boxes = target["boxes"]
                assert image.shape == (3, SIZE, SIZE) and ((boxes >= 0) & (boxes <= SIZE)).all()
                counts[name] += len(target["labels"])
    assert counts["pasted"] > 1.1 * counts["plain"], counts
    image, target, _ = pasted[0]
    again, target_again, _ = pasted[0]
    assert torch.equal(image, again) and torch.equal(target["boxes"], target_again["boxes"])
    model_config, config = _configs(copy_paste=True, crop=64, close_mosaic=1)
    of_run = train_yolo.TrainingDraws.of_run(tiny_split, model_config, config)
    assert of_run.paste is not None and of_run.side == 64 and of_run.mosaic_until == config.epochs - 1
    assert train_yolo.TrainingDraws.of_run(tiny_split, *_configs()).paste is None


def test_a_photo_of_the_split_missing_from_train_is_named(tiny_split, tmp_path):
    broken = shutil.copytree(tiny_split, tmp_path / "augmented")
    split = json.loads((broken / "split.json").read_text())
    split["train"].append("L999")
    (broken / "split.json").write_text(json.dumps(split))
    with pytest.raises(ChocoError, match=r"split\.json.*L999|L999.*split\.json"):
        train_yolo.TrainingDraws(broken, SIZE)


def test_warm_up_then_cosine():
    config = train_yolo.YoloTrainConfig(epochs=10, warmup_epochs=2, lr=1e-3, final_lr_fraction=0.01)
    rates = train_yolo.planned_learning_rates(config, steps_per_epoch=10)
    assert len(rates) == 100
    assert rates[0] == pytest.approx(1e-3 * train_yolo.WARMUP_START)
    assert np.all(np.diff(rates[:20]) > 0) and rates[20] == pytest.approx(1e-3)
    assert np.all(np.diff(rates[20:]) < 0) and rates[-1] == pytest.approx(1e-5, rel=0.05)
    mid = 20 + 40  # half way through the cosine: the mean of its two ends
    assert rates[mid] == pytest.approx((1e-3 + 1e-5) / 2, rel=0.01)


@pytest.mark.slow
def test_training_resumes_to_the_same_history_and_the_checkpoint_predicts(tiny_split, tmp_path):
    model_config, config = _configs()
    straight = train_yolo.train_yolo(tiny_split, tmp_path / "straight", model_config, config)
    history = straight.history
    for column in ("train_box_loss", "train_cls_loss", "train_dfl_loss", "val_loss", "val_f1", "val_f1_best", "lr", "redrawn"):
        assert column in history
    assert list(history["epoch"]) == [1, 2] and np.isfinite(history["train_loss"]).all()
    assert history["train_loss"].iloc[0] == pytest.approx(history[["train_box_loss", "train_cls_loss", "train_dfl_loss"]].iloc[0].sum())

    first = train_yolo.train_yolo(tiny_split, tmp_path / "resumed", model_config, config, stop_after_epochs=1)
    assert len(first.history) == 1
    resumed = train_yolo.train_yolo(tiny_split, tmp_path / "resumed", model_config, config)
    assert resumed.resumed_from == 1
    a, b = history.drop(columns=TIMING), resumed.history.drop(columns=TIMING)
    assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-5, atol=1e-6), (a, b)
    assert train_yolo.train_yolo(tiny_split, tmp_path / "resumed", model_config, config).skipped

    detector, loaded = models.load_model(tmp_path / "straight" / "best.pt")
    assert isinstance(detector, yolo12.YoloDetector) and loaded == model_config
    found = predict.detect(detector, tiny_split / "val" / "images", max_side=None)
    assert found.ids and set(found.table["id"]) <= set(found.ids)
    if len(found.table):
        assert found.table[["x0", "y0", "x1", "y1"]].to_numpy().min() >= -0.01

    other_model, other = _configs(epochs=3)
    with pytest.raises(ChocoError, match="epochs: 2 → 3"):
        train_yolo.train_yolo(tiny_split, tmp_path / "straight", other_model, other)


def test_a_non_finite_loss_names_the_batch(tiny_split, tmp_path, monkeypatch):
    def nan_loss(model, images, targets, preds=None):
        return torch.tensor(math.nan, requires_grad=True), dict.fromkeys(yolo12.LOSS_NAMES, math.nan)

    monkeypatch.setattr(yolo12, "loss", nan_loss)
    model_config, config = _configs(epochs=1)
    with pytest.raises(ChocoError, match="non-finite loss.* at epoch 1, step 1.*the batch's photos: L"):
        train_yolo.train_yolo(tiny_split, tmp_path / "nan", model_config, config)


def test_train_command_refuses_faster_rcnn_settings_for_yolo(tiny_split, tmp_path):
    result = run_cli("train", "--model", "yolo12", "--data", tiny_split, "--out", tmp_path / "y", "--min-size", "128")
    assert_user_error(result, "--min-size", "YOLO12 takes --image-size")
    result = run_cli("train", "--data", tiny_split, "--out", tmp_path / "f", "--image-size", "128")
    assert_user_error(result, "--image-size is YOLO12's setting")
    result = run_cli("train", "--model", "yolo12", "--data", tiny_split, "--out", tmp_path / "y", "--image-size", "100")
    assert_user_error(result, "multiple of 32")


def test_the_train_command_turns_copy_paste_on_for_either_model(tiny_split, tmp_path):
    """`--copy-paste` reaches YOLO12s's settings (its draws get the bank, its run key the params)
    and the Faster R-CNN's, `--no-copy-paste` turns the recipe's off."""
    from chocolib import cli

    parser = cli.build_parser()
    for flag, expected in (("--copy-paste", True), ("--no-copy-paste", False)):
        args = parser.parse_args(["train", "--model", "yolo12", "--data", str(tiny_split), "--out", str(tmp_path), flag])
        _, config = train_yolo.configs_for(profiles.get("cpu"), copy_paste=args.copy_paste)
        assert config.copy_paste is expected
        args = parser.parse_args(["train", "--data", str(tiny_split), "--out", str(tmp_path), "--recipe", "finetune", flag])
        _, config = train.configs_for(profiles.get("cpu"), recipe=args.recipe, copy_paste=args.copy_paste)
        assert config.copy_paste is expected
    result = run_cli("train", "--model", "yolo12", "--data", tiny_split, "--out", tmp_path / "y", "--epochs", "1", "--copy-paste")
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "y" / "config.json").read_text())
    assert saved["train"]["copy_paste"] is True and saved["online"]["copy_paste"]["paste_p"] > 0


def test_bad_settings(tiny_split):
    with pytest.raises(ChocoError, match="warmup_epochs"):
        train_yolo.YoloTrainConfig(epochs=3, warmup_epochs=3)
    with pytest.raises(ChocoError, match="multiple of 32"):
        train_yolo.YoloTrainConfig(crop=100)
    with pytest.raises(ChocoError, match="not be larger than the input side"):
        train_yolo.TrainingDraws(tiny_split, SIZE, crop=2 * SIZE)
    with pytest.raises(ChocoError, match="unknown YOLO12 training setting"):
        train_yolo.configs_for(profiles.get("tiny"), 0, min_size=3)
    # the sweep's best count F1 can pick YOLO12s's epoch; the Faster R-CNN's loop does not log it
    assert train_yolo.YoloTrainConfig(monitor="val_f1_best").monitor == "val_f1_best"
    with pytest.raises(ChocoError, match="monitor must be val_loss or val_f1, not 'val_f1_best'"):
        train.TrainConfig(monitor="val_f1_best")
    # the cpu profile keeps YOLO12s's epoch by it, its Faster R-CNN by validation loss; a flag wins
    assert train_yolo.configs_for(profiles.get("cpu"))[1].monitor == "val_f1_best"
    assert train.configs_for(profiles.get("cpu"))[1].monitor == "val_loss"
    assert train_yolo.configs_for(profiles.get("cpu"), monitor="val_loss")[1].monitor == "val_loss"
    assert train_yolo.configs_for(profiles.get("tiny"))[1].monitor == "val_loss"
    assert train_yolo.configs_for(profiles.get("cpu"))[1].warmup_epochs == 1  # a tenth of 10 epochs
    assert train_yolo.configs_for(profiles.get("full"))[1].warmup_epochs == 3  # Ultralytics' 3 of 100
    assert train_yolo.configs_for(profiles.get("tiny"))[1].warmup_epochs == 1


def test_a_mosaic_draw_is_square_reproducible_and_keeps_the_boxes_it_shows(tiny_split):
    draws = train_yolo.TrainingDraws(tiny_split, SIZE, seed=0, mosaic=1.0, mosaic_until=1)
    draws.keep_original = 1.0  # each of the four pictures is its photo, only resized: boxes are exact
    image, target, _ = draws[0]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.uint8
    again, target_again, _ = draws[0]
    assert torch.equal(image, again) and torch.equal(target["boxes"], target_again["boxes"])
    boxes = target["boxes"]
    assert len(boxes) == len(target["labels"]) > 0
    assert (boxes >= 0).all() and (boxes <= SIZE).all() and (boxes[:, 2:] > boxes[:, :2]).all()
    # pixels under a kept box come from a photo, not from the grey canvas
    grey = round(yolo12.PAD_VALUE * 255)
    for x0, y0, x1, y1 in boxes.round().int().tolist():
        patch = image[:, y0:y1, x0:x1]
        if patch.numel():
            assert (patch != grey).any()
    # the mosaic ends after `mosaic_until`: epoch 2 draws single photos again
    draws.set_epoch(2)
    assert draws.mosaic_share() == 0.0
    draws.set_epoch(1)
    assert draws.mosaic_share() == 1.0


def test_the_recipes_are_the_seeds_and_ultralytics():
    _, seed = train_yolo.configs_for(profiles.get("cpu"), 0, recipe="seed")
    assert (seed.optimizer, seed.lr, seed.ema, seed.mosaic, seed.close_mosaic) == ("sgd", 1e-3, False, 0.0, 0)
    _, ultra = train_yolo.configs_for(profiles.get("cpu"), 0, recipe="ultralytics")
    assert (ultra.optimizer, ultra.lr, ultra.ema, ultra.mosaic) == ("adamw", 0.000588, True, 1.0)
    assert ultra.close_mosaic == math.ceil(ultra.epochs / 10)
    assert train_yolo.configs_for(profiles.get("cpu"), 0, recipe="ultralytics", lr=0.01)[1].lr == 0.01
    optimizer, _ = train_yolo.build_optimizer(torch.nn.Linear(2, 2), ultra, total_steps=10)
    assert isinstance(optimizer, torch.optim.AdamW)
    with pytest.raises(ChocoError, match="unknown YOLO recipe 'fast'"):
        train_yolo.configs_for(profiles.get("cpu"), 0, recipe="fast")
    with pytest.raises(ChocoError, match="optimizer must be sgd or adamw"):
        train_yolo.YoloTrainConfig(epochs=3, warmup_epochs=1, optimizer="adam")


def test_train_command_refuses_the_other_models_recipe_and_weights(tiny_split, tmp_path):
    result = run_cli("train", "--model", "yolo12", "--data", tiny_split, "--out", tmp_path / "y", "--recipe", "finetune")
    assert_user_error(result, "--recipe finetune", "YOLO12 takes")
    result = run_cli("train", "--model", "yolo12", "--data", tiny_split, "--out", tmp_path / "y", "--pretrained", "imagenet")
    assert_user_error(result, "--pretrained imagenet")
    result = run_cli("train", "--data", tiny_split, "--out", tmp_path / "f", "--recipe", "ultralytics")
    assert_user_error(result, "unknown recipe 'ultralytics'")
