"""The seed's detector: its head, its parameter groups, and the COCO-weights paths (offline).

The EfficientNet-Lite backbones and their ImageNet weights: tests/test_backbones.py."""

import logging
import urllib.error

import numpy as np
import pytest
import torch
import torchvision

from chocolib import engine, models, train
from chocolib.errors import ChocoError

SMALL = dict(min_size=128, max_size=192)


def _offline(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", refuse)


def test_the_seed_head_and_the_offline_fallback(monkeypatch, caplog):
    _offline(monkeypatch)
    with caplog.at_level(logging.WARNING):
        config = models.DetectorConfig(pretrained="auto", **SMALL)
        model, used = models.build_detector(config)
    assert used == "none"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (
        len(warnings) == 1
        and "COCO weights unavailable" in warnings[0].getMessage()
        and "random initialisation" in warnings[0].getMessage()
    )
    head, predictor = model.roi_heads.box_head, model.roi_heads.box_predictor
    assert (head.fc6.in_features, head.fc6.out_features, head.fc7.out_features) == (12544, 512, 512)
    assert (predictor.cls_score.out_features, predictor.bbox_pred.out_features) == (14, 56)
    total, trainable = models.count_parameters(model)
    assert total == trainable and 11_000_000 < total < 13_000_000  # all layers train from scratch
    line = models.describe(model, config, used)
    assert (
        line.startswith("Faster R-CNN MobileNetV3-Large FPN: ")
        and "M parameters" in line
        and line.endswith("starting from random initialisation")
    )


def test_coco_weights_are_an_error_offline(monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(ChocoError, match="COCO weights could not be loaded"):
        models.build_detector(models.DetectorConfig(pretrained="coco", **SMALL))


def test_coco_weights_when_they_download(monkeypatch):
    """With internet: the COCO model's weights are loaded, then the seed's head replaces COCO's."""
    coco = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91)
    marker = coco.backbone.fpn.layer_blocks[0][0].weight
    torch.nn.init.constant_(marker, 0.123)
    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", lambda self, *a, **k: coco.state_dict())
    model, used = models.build_detector(models.DetectorConfig(pretrained="auto", **SMALL))
    assert used == "coco"
    assert torch.all(model.backbone.fpn.layer_blocks[0][0].weight == 0.123)
    assert model.roi_heads.box_predictor.cls_score.out_features == 14
    _, trainable = models.count_parameters(model)
    assert trainable < models.count_parameters(model)[0]  # torchvision freezes the first backbone stages


def test_post_processing_and_input_size_are_parameters():
    config = models.DetectorConfig(
        min_size=200,
        max_size=300,
        box_score_thresh=0.3,
        box_nms_thresh=0.4,
        box_detections_per_img=7,
        box_batch_size_per_image=64,
        pretrained="none",
    )
    model, _ = models.build_detector(config)
    assert model.transform.min_size == (200,) and model.transform.max_size == 300
    heads = model.roi_heads
    assert (heads.score_thresh, heads.nms_thresh, heads.detections_per_img) == (0.3, 0.4, 7)
    assert heads.fg_bg_sampler.batch_size_per_image == 64
    # inference keeps 300 proposals (fewer RoIs for the head), training torchvision's 2 000
    assert model.rpn._post_nms_top_n == {"training": 2000, "testing": 300} and model.rpn._pre_nms_top_n["testing"] == 300
    with pytest.raises(ChocoError, match="pretrained must be one of"):
        models.build_detector(models.DetectorConfig(pretrained="best"))
    with pytest.raises(ChocoError, match="mobilenet_v3_large has no imagenet weights"):
        models.build_detector(models.DetectorConfig(pretrained="imagenet"))


def test_parameter_groups_decay_weights_only():
    model, _ = models.build_detector(models.DetectorConfig(pretrained="none", **SMALL))
    decay, no_decay = engine.parameter_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    exempt = {names[id(p)] for p in no_decay["params"]}
    assert not decayed & exempt and decayed | exempt == set(names.values())
    assert all(n.endswith(".weight") for n in decayed)
    assert "roi_heads.box_head.fc6.bias" in exempt and "roi_heads.box_head.fc6.weight" in decayed
    batch_norm = next(n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert f"{batch_norm}.weight" in exempt and f"{batch_norm}.bias" in exempt


def test_one_cycle_schedule_is_the_seeds():
    config = train.TrainConfig(epochs=10)
    rates = train.planned_learning_rates(config, steps_per_epoch=20)
    assert len(rates) == 200
    assert rates[0] == pytest.approx(0.02 / 25)  # OneCycleLR starts at max_lr / div_factor, not at SGD's lr
    assert rates.argmax() == pytest.approx(0.1 * 200, abs=1) and rates.max() == pytest.approx(0.02)
    assert rates[-1] == pytest.approx(0.02 / 25 / 1e4, rel=0.05)


@pytest.mark.parametrize("total_steps", [1, 2, 3, 5, 10, 19])
def test_one_cycle_schedule_of_a_handful_of_steps_warms_up_and_never_divides_by_zero(total_steps):
    # the tiny profile trains 2 epochs of a few steps: a 10 % warm-up of 10 steps is a single step
    config = train.TrainConfig(epochs=1, max_lr=0.005)
    rates = train.planned_learning_rates(config, steps_per_epoch=total_steps)
    assert len(rates) == total_steps and np.isfinite(rates).all()
    assert rates[0] == pytest.approx(0.005 / 25)
    if total_steps >= 4:
        assert rates.max() == pytest.approx(0.005, rel=0.01) and rates[-1] < rates.max()


def test_device_choice():
    assert models.select_device("auto").type in ("cuda", "mps", "cpu")
    assert models.select_device("cpu").type == "cpu"
    with pytest.raises(ChocoError, match="unknown device"):
        models.select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ChocoError, match="not available"):
            models.select_device("cuda")


def test_a_bad_checkpoint_is_named(tmp_path):
    with pytest.raises(ChocoError, match="checkpoint not found"):
        models.load_detector(tmp_path / "best.pt")
    (tmp_path / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ChocoError, match="cannot read checkpoint") as caught:
        models.load_detector(tmp_path / "best.pt")
    assert "best.pt" in str(caught.value)
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(ChocoError, match="not a chocolib detector checkpoint"):
        models.load_detector(tmp_path / "other.pt")


def test_training_builds_channels_last_a_classic_checkpoint_loads_channels_last_and_both_count_the_same(tmp_path):
    """Training builds the channels-last layout unless told otherwise; a checkpoint trained in the
    classic layout (runs before it) is loaded for inference channels-last too, and counts the same."""
    torch.manual_seed(0)
    default, _ = models.build_detector(models.DetectorConfig(backbone="efficientnet_lite0", pretrained="none", **SMALL))
    assert default.backbone.body.conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    config = models.DetectorConfig(backbone="efficientnet_lite0", pretrained="none", box_score_thresh=0.0, channels_last=False, **SMALL)
    classic, _ = models.build_detector(config)
    assert classic.backbone.body.conv_stem.weight.is_contiguous()
    path = tmp_path / "best.pt"
    torch.save({"model": classic.state_dict(), "detector": config.as_dict()}, path)
    fast, loaded_config = models.load_detector(path)
    conv = fast.backbone.body.conv_stem.weight
    assert loaded_config.channels_last and conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    image = [torch.rand(3, 128, 160, generator=torch.Generator().manual_seed(1))]
    with torch.inference_mode():
        a, b = fast(image)[0], classic.eval()(image)[0]
    assert len(a["scores"]) > 0 and torch.equal(a["labels"], b["labels"])
    torch.testing.assert_close(a["scores"], b["scores"], atol=1e-4, rtol=1e-4)
