"""The seed's detector: torchvision's Faster R-CNN with a MobileNetV3-Large FPN backbone.

The seed replaced torchvision's RoI head by a narrower one: `TwoMLPHead` from the pooled
256 × 7 × 7 = 12 544 features to a 512-d embedding, then `FastRCNNPredictor` from 512 to 14 class
scores (13 chocolates + background) and 14 × 4 = 56 box deltas. Everything that changes what the
model sees or outputs (input size, post-processing) is a parameter, recorded with each checkpoint
so that `load_detector` rebuilds the same model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from dataclasses import asdict, dataclass

from chocolib import classes
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

PRETRAINED_CHOICES = ("auto", "coco", "none")


@dataclass(frozen=True)
class DetectorConfig:
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
    #: RoI-align backward pass on these dominates a CPU step, see README "Training on the CPU")
    box_batch_size_per_image: int = 512
    #: auto: COCO weights when they can be downloaded, else random initialisation (one log line);
    #: coco: COCO weights or an error; none: random initialisation
    pretrained: str = "auto"
    #: backbone stages left trainable with pretrained weights (torchvision's default: 3 of 6)
    trainable_backbone_layers: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def build_detector(config: DetectorConfig = DetectorConfig()):
    """Faster R-CNN + MobileNetV3-Large FPN with the seed's RoI head. Returns (model, weights used).

    `weights used` is ``"coco"`` or ``"none"``: what the model actually starts from.
    """
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_FPN_Weights, fasterrcnn_mobilenet_v3_large_fpn
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    if config.pretrained not in PRETRAINED_CHOICES:
        raise ChocoError(f"pretrained must be one of {', '.join(PRETRAINED_CHOICES)}, not {config.pretrained!r}")
    options = dict(min_size=config.min_size, max_size=config.max_size, box_score_thresh=config.box_score_thresh,
                   box_nms_thresh=config.box_nms_thresh, box_detections_per_img=config.box_detections_per_img,
                   box_batch_size_per_image=config.box_batch_size_per_image)
    model, used = None, "none"
    if config.pretrained in ("auto", "coco"):
        # torch.hub announces every download attempt on stderr; offline that line is noise
        # beside ours, so it is shown only when the download works
        announced = io.StringIO()
        try:
            with contextlib.redirect_stderr(announced):
                model = fasterrcnn_mobilenet_v3_large_fpn(weights=FasterRCNN_MobileNet_V3_Large_FPN_Weights.DEFAULT,
                                                          trainable_backbone_layers=config.trainable_backbone_layers, **options)
            sys.stderr.write(announced.getvalue())
            used = "coco"
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad download fails its hash check
            if config.pretrained == "coco":
                raise ChocoError(f"COCO weights could not be loaded ({exc}); use pretrained='auto' or 'none' offline") from None
            log.warning("COCO weights unavailable (%s): starting from random initialisation", str(exc).splitlines()[0])
    if model is None:
        model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None,
                                                  trainable_backbone_layers=config.trainable_backbone_layers, **options)

    pooled = model.roi_heads.box_roi_pool.output_size[0] * model.roi_heads.box_roi_pool.output_size[1]
    in_features = model.backbone.out_channels * pooled  # 256 × 7 × 7 = 12 544
    model.roi_heads.box_head = TwoMLPHead(in_features, config.representation_size)
    model.roi_heads.box_predictor = FastRCNNPredictor(config.representation_size, classes.NUM_CLASSES + 1)
    return model, used


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def describe(model) -> str:
    total, trainable = count_parameters(model)
    head = model.roi_heads.box_head
    predictor = model.roi_heads.box_predictor
    return (f"Faster R-CNN MobileNetV3-Large FPN: {total / 1e6:.2f} M parameters ({trainable / 1e6:.2f} M trainable); "
            f"RoI head {head.fc6.in_features} → {head.fc7.out_features}, predictor → "
            f"{predictor.cls_score.out_features} scores + {predictor.bbox_pred.out_features} box deltas")


def select_device(requested: str = "auto"):
    """cuda, then mps, then cpu for 'auto'; an explicit choice that is not available is an error."""
    import torch

    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
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
    import torch

    from pathlib import Path

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


def load_detector(checkpoint, device="cpu"):
    """The model saved in a checkpoint written by `chocolib.train` (best.pt or last.pt), in eval mode."""
    return _detector_from_state(read_checkpoint(checkpoint, ("detector", "model"), "detector"), device)


def _detector_from_state(state: dict, device="cpu"):
    config = DetectorConfig(**{**state["detector"], "pretrained": "none"})  # the weights come from the file
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
