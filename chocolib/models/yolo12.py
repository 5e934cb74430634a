"""YOLO12s for the 13 chocolates: Ultralytics' architecture and loss, nothing else of Ultralytics.

The seed was allowed to import YOLO12's architecture only, so it had neither loss outputs nor a
training pipeline. Here the model is built from Ultralytics' own YAML (``yolo12s.yaml``: the
``s`` scale of ``yolo12.yaml``) with 13 classes and random weights, and its loss is Ultralytics'
own ``v8DetectionLoss`` on that model (box IoU, class BCE, distribution focal loss), so the three
components exist and can be logged. Training, data and decoding are chocolib's.

Ultralytics is imported with its network features off: no settings sync, no update checks, no
font or weight downloads (``YOLO_OFFLINE``), and its settings file goes to a temporary folder
instead of the user's home (``YOLO_CONFIG_DIR``), so that importing it writes and prints nothing.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from chocolib import classes
from chocolib.errors import ChocoError

#: Ultralytics' default loss gains (its ``default.yaml``: box 7.5, cls 0.5, dfl 1.5)
LOSS_GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}
LOSS_NAMES = ("box_loss", "cls_loss", "dfl_loss")
#: what the logged loss sums (per image), for figure titles
LOSS_FORMULA = "7.5·box (IoU) + 0.5·cls (BCE) + 1.5·dfl"

_ENVIRONMENT = {
    "YOLO_OFFLINE": "1",  # is_online() answers False without a DNS query
    "YOLO_VERBOSE": "False",  # no banners or settings messages on import
    "YOLO_AUTOINSTALL": "False",  # never pip-installs a missing package at run time
}


def ultralytics():
    """Import Ultralytics offline and silent (see the module's docstring); returns the module."""
    import cv2

    for key, value in _ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "chocolib-ultralytics"))
    # Ultralytics' import sets OMP_NUM_THREADS=1 (inherited by every later child process, a
    # notebook kernel or a test's training, which then runs on one core and sums in another order)
    # and turns OpenCV's threads off: the process keeps the threads it had
    omp_threads, cv2_threads = os.environ.get("OMP_NUM_THREADS"), cv2.getNumThreads()
    import ultralytics as package
    from ultralytics.utils import SETTINGS

    if omp_threads is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp_threads
    cv2.setNumThreads(cv2_threads)

    if SETTINGS.get("sync"):
        SETTINGS.update({"sync": False})  # no analytics or crash reports, even if the environment was set before us
    return package


@dataclass(frozen=True)
class YoloConfig:
    """What defines the model: its scale, input side and post-processing."""

    scale: str = "s"  # n, s, m, l, x of yolo12.yaml; the seed used s
    image_size: int = 640  # square input, a multiple of the largest stride (32)
    score_thresh: float = 0.05  # raw detections kept from this class score (counts use their own threshold)
    nms_iou: float = 0.5
    max_detections: int = 100
    #: the start of training: auto: Ultralytics' COCO ``yolo12<scale>.pt`` when it downloads (the
    #: seed's situation), else random weights (one log line); coco: those weights or an error; none: random
    pretrained: str = "auto"

    def __post_init__(self):
        if self.image_size < 32 or self.image_size % 32:
            raise ChocoError(f"image_size must be a multiple of 32 (the largest stride), not {self.image_size}")
        if self.pretrained not in ("auto", "coco", "none"):
            raise ChocoError(f"pretrained must be auto, coco or none for YOLO12, not {self.pretrained!r}")

    def as_dict(self) -> dict:
        return asdict(self)


def build_yolo12(config: YoloConfig = YoloConfig()):
    """YOLO12 (``config.scale``) from Ultralytics' YAML with 13 classes and random weights.

    The model carries the loss gains Ultralytics' criterion reads (``model.args``).
    """
    from types import SimpleNamespace

    ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(f"yolo12{config.scale}.yaml", ch=3, nc=classes.NUM_CLASSES, verbose=False)
    model.names = dict(enumerate(classes.KAGGLE_NAMES))
    model.args = SimpleNamespace(**LOSS_GAINS)
    return model


def decoded_in_fp32(model, raw):
    """The eval-mode output `raw` (decoded boxes and scores, the head's raw maps) with the decoding
    done again in fp32 when the forward ran under bf16 (or fp16) autocast. Ultralytics' ``Detect``
    decodes in the head's output dtype: its distances and the corners they give, in grid cells of up
    to 40 at 320² (80 at 640²), lie on bf16's grid of a quarter cell there, 2 px at stride 8, a
    tenth of a chocolate. Redoing it costs the head's DFL only; the network stays in autocast. (A
    method patched onto the head would do it inside the forward, but a pickled model, as
    Ultralytics saves its checkpoints, could then not be loaded.)"""
    from chocolib.models import as_float

    decoded, preds = raw
    head = model.model[-1]
    maps = preds["one2many"] if "one2one" in preds else preds
    # the decoded tensor's dtype does not tell: anchors cached by an fp32 pass promote bf16 distances
    if maps["boxes"].dtype == torch.float32 or head.end2end:  # YOLO12's head is not end-to-end
        return raw
    head.shape = None  # its anchors are made again, in fp32
    with torch.autocast(decoded.device.type, enabled=False):
        return head._inference(as_float(maps)), preds


# --------------------------------------------------------------------------------------------
# Starting weights: Ultralytics' COCO checkpoint when it can be had
# --------------------------------------------------------------------------------------------
#: where Ultralytics publishes its YOLO12 COCO checkpoints (what ``YOLO("yolo12s.pt")`` downloads)
COCO_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo12{scale}.pt"


def download_coco_checkpoint(scale: str = "s") -> Path:
    """Ultralytics' COCO checkpoint of YOLO12 `scale`, downloaded once into torch's cache (the
    folder torchvision's COCO weights use). OSError / RuntimeError when it cannot be had."""
    import torch

    url = COCO_URL.format(scale=scale)
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=False)
    return path


def read_ultralytics_checkpoint(path: str | Path) -> dict:
    """An Ultralytics checkpoint (``yolo12s.pt``, or a ``best.pt`` of its trainer) as saved.
    Ultralytics pickles the model, so the file is trusted code: only its own releases and this
    machine's runs are read."""
    ultralytics()
    return torch.load(path, map_location="cpu", weights_only=False)


def checkpoint_state(checkpoint: dict, path: str | Path) -> dict:
    """The weights of an Ultralytics checkpoint read from `path`: its averaged weights when saved,
    else its model, as float32."""
    model = checkpoint.get("ema") or checkpoint.get("model")
    if model is None:
        raise ChocoError("not an Ultralytics checkpoint (no 'ema' or 'model')", Path(path))
    return {name: value.float() if value.is_floating_point() else value for name, value in model.state_dict().items()}


def transfer(model, state: dict) -> int:
    """Copy the tensors of `state` whose name and shape match into `model` (the class layers of an
    80-class COCO head do not fit 13 classes and stay as initialised); how many were copied."""
    own = model.state_dict()
    matching = {name: value for name, value in state.items() if name in own and own[name].shape == value.shape}
    model.load_state_dict(matching, strict=False)
    return len(matching)


def load_start_weights(model, pretrained: str, scale: str = "s") -> str:
    """Put the starting weights into a freshly built model; what it starts from: ``coco`` or ``none``."""
    import logging

    if pretrained == "none":
        return "none"
    try:
        path = download_coco_checkpoint(scale)
    except (OSError, RuntimeError) as exc:
        if pretrained == "coco":
            raise ChocoError(f"Ultralytics' COCO weights of YOLO12{scale} cannot be had ({type(exc).__name__}: {exc})") from None
        logging.getLogger(__name__).info("yolo12: COCO weights unavailable (offline?): YOLO12%s starts from random weights", scale)
        return "none"
    copied = transfer(model, checkpoint_state(read_ultralytics_checkpoint(path), path))
    logging.getLogger(__name__).info("yolo12: COCO start from %s (%d of %d tensors)", path.name, copied, len(model.state_dict()))
    return "coco"


def from_ultralytics_checkpoint(path: str | Path, device="cpu", config: YoloConfig | None = None):
    """A ``best.pt`` of Ultralytics' own trainer (13 classes, this YAML) as chocolib's detector:
    (YoloDetector in eval mode, YoloConfig), so that it is scored as chocolib's runs are."""
    checkpoint = read_ultralytics_checkpoint(path)
    config = config or YoloConfig(image_size=int(checkpoint["train_args"]["imgsz"]))
    model = build_yolo12(config)
    state = checkpoint_state(checkpoint, path)
    if transfer(model, state) != len(model.state_dict()):
        raise ChocoError("the checkpoint is not a 13-class YOLO12 of this scale", Path(path))
    return YoloDetector(model, config).to(device).eval(), config


def loss(model, images, targets, preds=None) -> tuple:
    """Ultralytics' detection loss for a batch: (the sum to back-propagate, {component: value}).

    `images`: a float tensor (B, 3, S, S) in [0, 1]; `targets`: one dict per image with ``boxes``
    (XYXY pixels of the S × S image) and ``labels`` (model label ids 1–13, as for the Faster R-CNN).
    `preds`: the model's output for `images` when already computed (in eval mode, the loss comes
    from the same forward pass as the detections). The returned sum is Ultralytics' (components ×
    gains × batch size), so gradients match its trainer.
    """
    size = images.shape[-1]
    batch_idx, cls, boxes = [], [], []
    for index, target in enumerate(targets):
        xyxy = target["boxes"].to(images.device, torch.float32).reshape(-1, 4)
        xywh = (
            torch.stack(
                [(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2, xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]], dim=1
            )
            / size
        )
        boxes.append(xywh)
        cls.append(target["labels"].to(images.device, torch.float32).reshape(-1, 1) - 1)  # YOLO classes start at 0
        batch_idx.append(torch.full((len(xyxy),), index, dtype=torch.float32, device=images.device))
    batch = {"img": images, "batch_idx": torch.cat(batch_idx), "cls": torch.cat(cls), "bboxes": torch.cat(boxes)}
    from chocolib.models import as_float

    if preds is None:
        preds = model(images)
    # the criterion decodes boxes and assigns them to anchors: in fp32, as `decoded_in_fp32`
    with torch.autocast(images.device.type, enabled=False):
        total, items = model.loss(batch, as_float(preds))
    values = items.values() if isinstance(items, dict) else items
    return total.sum(), dict(zip(LOSS_NAMES, (float(v) for v in values)))


def decode(raw, config: YoloConfig = YoloConfig()) -> list[dict]:
    """Detections from the eval-mode output (B, 4 + 13, anchors: centre x, y, w, h in pixels, then
    class probabilities): per anchor its best class, score ≥ ``score_thresh``, class-wise NMS
    (torchvision ``batched_nms``), at most ``max_detections``; boxes XYXY, labels 1–13."""
    from torchvision.ops import batched_nms, box_convert

    prediction = raw[0] if isinstance(raw, (tuple, list)) else raw
    # in fp32 whatever the forward ran in: batched_nms offsets boxes by class × the largest
    # coordinate, where bf16's 8-bit mantissa would merge neighbouring boxes
    prediction = prediction.float()
    outputs = []
    for per_image in prediction:
        boxes = box_convert(per_image[:4].T, "cxcywh", "xyxy")
        scores, labels = per_image[4:].T.max(dim=1)
        keep = scores >= config.score_thresh
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        kept = batched_nms(boxes, scores, labels, config.nms_iou)[: config.max_detections]
        outputs.append({"boxes": boxes[kept], "scores": scores[kept], "labels": labels[kept].to(torch.int64) + 1})
    return outputs


# --------------------------------------------------------------------------------------------
# Letterboxing: any photo → the square input, and detections back to the photo
# --------------------------------------------------------------------------------------------
#: Ultralytics' letterbox grey, as a fraction of 255
PAD_VALUE = 114 / 255


def letterbox_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) of a picture scaled so that its longer side is `size` (its aspect kept)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def letterbox(images, size: int):
    """Float images (each (3, h, w) in [0, 1], any sizes) → a (B, 3, size, size) batch, each scaled
    to `letterbox_shape` and padded right and bottom with grey; and each image's scale factor."""
    batch = torch.full((len(images), 3, size, size), PAD_VALUE, dtype=images[0].dtype, device=images[0].device)
    scales = []
    for index, image in enumerate(images):
        height, width = image.shape[-2:]
        new_h, new_w = letterbox_shape(height, width, size)
        resized = torch.nn.functional.interpolate(image[None], size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)[0]
        batch[index, :, :new_h, :new_w] = resized
        scales.append(new_w / width)
    return batch, torch.tensor(scales, dtype=torch.float32, device=images[0].device)


def infer(model, images, config: YoloConfig):
    """One eval-mode pass over float images of any sizes: (raw output, detections in each image's
    pixels, the letterboxed batch, the scales). The raw output also gives the loss (`loss(preds=)`)."""
    batch, scales = letterbox(images, config.image_size)
    raw = decoded_in_fp32(model, model(batch))
    detections = decode(raw, config)
    for found, scale, image in zip(detections, scales, images):
        height, width = image.shape[-2:]
        boxes = found["boxes"] / scale  # back to the image's pixels, inside the image (as Ultralytics clips)
        found["boxes"] = torch.stack(
            [boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height), boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], dim=1
        )
    return raw, detections, batch, scales


class YoloDetector(torch.nn.Module):
    """YOLO12 behind the Faster R-CNN's interface: a list of float images in, one dict per image out
    (``boxes`` XYXY in the image's pixels, ``labels`` 1–13, ``scores``), so that
    `chocolib.predict.detect` runs either model."""

    def __init__(self, model, config: YoloConfig):
        super().__init__()
        self.model, self.config = model, config

    def forward(self, images):
        return infer(self.model, list(images), self.config)[1]


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(model, config: YoloConfig) -> str:
    return (
        f"YOLO12{config.scale}: {count_parameters(model) / 1e6:.2f} M parameters, {classes.NUM_CLASSES} classes, "
        f"input {config.image_size}×{config.image_size}, strides {', '.join(str(int(s)) for s in model.stride)}"
    )


def load_yolo(checkpoint, device="cpu"):
    """The model saved in a checkpoint written by `chocolib.train_yolo` (best.pt or last.pt), in eval
    mode, with its settings: (YoloDetector, YoloConfig)."""
    from chocolib.models import read_checkpoint

    return from_state(read_checkpoint(checkpoint, ("yolo", "model"), "YOLO12"), device)


def from_state(state: dict, device="cpu"):
    """(YoloDetector in eval mode, YoloConfig) from a checkpoint's state already read."""
    config = YoloConfig(**state["yolo"])
    model = build_yolo12(config)
    model.load_state_dict(state["model"])
    return YoloDetector(model, config).to(device).eval(), config
