"""Numeric precision: what ``amp=auto`` chooses where, what a resumed run keeps, and that a bf16
step and bf16 detections agree with fp32's."""

import math

import pytest
import torch

from chocolib import engine, precision, profiles, train, train_yolo
from chocolib.errors import ChocoError
from chocolib.models import yolo12

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def bf16_units(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) bf16 units."""

    def set_units(present: bool):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: present)

    return set_units


def test_auto_follows_the_device_and_the_measurement(bf16_units):
    bf16_units(False)
    assert precision.resolve("auto", CPU, "yolo12").dtype == "fp32"  # emulated bf16 would be slower
    assert precision.resolve("auto", CPU, "faster_rcnn").dtype == "fp32"
    bf16_units(True)
    assert precision.resolve("auto", CPU, "yolo12").dtype == "bf16"
    assert precision.resolve("auto", CPU, "faster_rcnn").dtype == "fp32"  # measured slower under bf16
    assert precision.resolve("auto", CUDA, "faster_rcnn").dtype == "fp16"
    assert precision.resolve("auto", torch.device("mps"), "yolo12").dtype == "fp32"
    assert precision.resolve("off", CUDA, "yolo12").dtype == "fp32"
    assert precision.resolve("bf16", CPU, "faster_rcnn").dtype == "bf16"  # asked: honoured


def test_what_each_precision_wraps_the_step_in(bf16_units):
    bf16_units(True)
    fp32 = precision.resolve("off", CPU, "yolo12")
    assert fp32.grad_scaler() is None and not torch.is_autocast_enabled("cpu")
    with fp32.autocast():
        assert not torch.is_autocast_enabled("cpu")
    bf16 = precision.resolve("auto", CPU, "yolo12")
    assert bf16.grad_scaler() is None  # bf16 keeps fp32's exponent: no loss scaling
    with bf16.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.bfloat16


def test_bad_or_impossible_settings():
    with pytest.raises(ChocoError, match="amp must be one of auto, bf16, fp16, off"):
        precision.normalise("fp8")
    with pytest.raises(ChocoError, match="fp16 needs a CUDA device"):
        precision.resolve("fp16", CPU, "yolo12")
    with pytest.raises(ChocoError, match="amp must be one of"):
        train.TrainConfig(amp="half")


def test_older_configs_booleans_still_load():
    assert train.TrainConfig(amp=True).amp == "auto" and train.TrainConfig(amp=False).amp == "off"
    assert train_yolo.YoloTrainConfig(amp=True).amp == "auto"


def test_a_resumed_run_keeps_the_precision_it_started_in(bf16_units):
    bf16_units(True)
    started = precision.for_run("auto", CPU, "yolo12")
    assert started.dtype == "bf16"
    state = {"precision": precision.as_dict(started)}
    # resumed on a machine (or with a setting) that would choose fp32: the run stays in bf16
    bf16_units(False)
    assert precision.for_run("auto", CPU, "yolo12", state).dtype == "bf16"
    assert precision.for_run("off", CPU, "yolo12", state).dtype == "bf16"
    # on another kind of device it is a new choice; older checkpoints recorded none
    assert precision.for_run("auto", CUDA, "yolo12", state).dtype == "fp16"
    assert precision.for_run("auto", CPU, "yolo12", {}).dtype == "fp32"
    assert "amp" in engine.RESUMABLE_CHANGES  # not part of the run key: a resume is not refused for it


def _yolo_loss(numeric, model, images, targets) -> float:
    with numeric.autocast():
        loss, _ = yolo12.loss(model, images, targets)
    loss.backward()
    return loss.item()


def test_a_bf16_training_step_is_finite_and_near_fp32s():
    """YOLO12s (the model auto puts in bf16): the same step's loss and gradients in both."""
    torch.manual_seed(0)
    model_config, _ = train_yolo.configs_for(profiles.get("tiny"), 0, image_size=128, pretrained="none")
    model = yolo12.build_yolo12(model_config).train()
    images = torch.rand(2, 3, 128, 128)
    targets = [
        {"boxes": torch.tensor([[40.0, 40.0, 70.0, 66.0]]), "labels": torch.tensor([3])},
        {"boxes": torch.tensor([[20.0, 60.0, 52.0, 80.0], [80.0, 10.0, 110.0, 40.0]]), "labels": torch.tensor([7, 12])},
    ]
    losses, grads = {}, {}
    for name in ("off", "bf16"):
        model.zero_grad(set_to_none=True)
        losses[name] = _yolo_loss(precision.resolve(name, CPU, "yolo12"), model, images, targets)
        grads[name] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert math.isfinite(losses["bf16"]) and losses["bf16"] == pytest.approx(losses["off"], rel=0.05), losses
    cosine = torch.nn.functional.cosine_similarity(grads["off"], grads["bf16"].float(), dim=0)
    assert cosine > 0.95, float(cosine)


def test_under_bf16_the_faster_rcnn_makes_anchors_and_decodes_boxes_in_fp32():
    """bf16's 8-bit mantissa puts a box corner at 256–512 px on a 2-px grid: the convolutions run in
    autocast, the anchors and the heads' outputs that boxes are decoded from stay fp32."""
    from chocolib.models import DetectorConfig, build_detector

    model, _ = build_detector(DetectorConfig(backbone="efficientnet_lite0", pretrained="none", min_size=320, max_size=480))
    model.eval()
    seen = {}

    def record(name, dtypes):
        def hook(module, inputs, output):
            seen[name] = dtypes(output)  # returns None: the output is left as it is

        return hook

    model.backbone.register_forward_hook(record("features", lambda out: {t.dtype for t in out.values()}))
    model.rpn.anchor_generator.register_forward_hook(record("anchors", lambda anchors: {a.dtype for a in anchors}))
    model.rpn.head.register_forward_hook(record("rpn", lambda out: {t.dtype for t in out[0] + out[1]}))
    model.roi_heads.box_predictor.register_forward_hook(record("predictor", lambda out: {t.dtype for t in out}))
    with torch.no_grad(), precision.resolve("bf16", CPU, "faster_rcnn").autocast():
        model([torch.rand(3, 300, 450)])
    assert seen["features"] == {torch.bfloat16}  # autocast still runs the network
    assert seen["anchors"] == seen["rpn"] == seen["predictor"] == {torch.float32}


def test_under_bf16_yolo12_decodes_its_boxes_and_computes_its_loss_in_fp32(tmp_path):
    """Ultralytics' head decodes boxes in its output dtype: in bf16 a corner 40 cells out lies on a
    quarter-cell grid. The convolutions run in autocast, the decoding and the criterion in fp32 —
    and the model still pickles, as Ultralytics saves its checkpoints."""
    import copy

    model_config, _ = train_yolo.configs_for(profiles.get("tiny"), 0, image_size=128, pretrained="none")
    model = yolo12.build_yolo12(model_config).eval()
    images = torch.rand(1, 3, 128, 128)
    with torch.no_grad(), precision.resolve("bf16", CPU, "yolo12").autocast():
        raw, found, _, _ = yolo12.infer(model, list(images), model_config)
        ema_raw, _, _, _ = yolo12.infer(copy.deepcopy(model), list(images), model_config)  # the EMA's copy
    assert raw[0].dtype == ema_raw[0].dtype == torch.float32 and {t.dtype for t in raw[1]["feats"]} == {torch.bfloat16}
    with torch.no_grad():
        reference, _, _, _ = yolo12.infer(model, list(images), model_config)  # fp32 throughout
    # an fp32 pass caches fp32 anchors, which promote bf16 distances to fp32: still decoded again
    with torch.no_grad(), precision.resolve("bf16", CPU, "yolo12").autocast():
        again, _, _, _ = yolo12.infer(model, list(images), model_config)
    assert torch.equal(again[0], raw[0])
    assert (raw[0][:, :4] - reference[0][:, :4]).abs().max() < 8.0  # corners within a stride of fp32's
    targets = [{"boxes": torch.tensor([[40.0, 40.0, 70.0, 66.0]]), "labels": torch.tensor([3])}]
    with precision.resolve("bf16", CPU, "yolo12").autocast():
        total, _ = yolo12.loss(model.train(), images, targets)
    assert total.dtype == torch.float32 and math.isfinite(total.item())
    torch.save(model, tmp_path / "model.pt")
    assert isinstance(torch.load(tmp_path / "model.pt", weights_only=False), type(model))
