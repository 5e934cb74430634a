"""A second look at each detected chocolate: a small ImageNet classifier that reads the chocolate's
own crop and names its kind.

Why: on photos where each chocolate has its own aspect, colour and light (the public hard set,
`../shared/data/iapr2025-dev-hard`) nearly every error of the Faster R-CNN is one swap: Comtesse
(grainy, matte, round) counted as Jelly White (smooth, glossy, oval), or back. The detector's RoI
head names a chocolate from 7 × 7 pooled features of a 768-px input, where shape is the loudest cue
and a twisted aspect fools it; a classifier trained on the chocolates' own crops, squared around
each box at 112 px, sees the grain. The counting rule ``classify`` (`chocolib.predict`) asks both:
a chocolate is counted where the detector finds one, as the kind the two agree on best.

The classifier is timm's EfficientNet-Lite0 from the ImageNet weights the detector's backbone
starts from (`chocolib.models.backbones`), trained on the ground-truth boxes of the training
split with each crop's own colour, turn and aspect (`chocolib.train_crops`), a few minutes on 2
cores. A crop blurrier than the chocolates it learnt from has lost the grain it reads, so there
its word counts less (`CropClassifier.scores`: the probability tempered by the crop's sharpness,
down to no say at all on a crop with no detail). This module holds the model, its crops and its
inference.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from chocolib import classes
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

#: The file beside a detector's checkpoint (best.pt) that gives it the second look.
FILE = "crop_classifier.pt"


@dataclass(frozen=True)
class CropSettings:
    """How the crops are cut and the classifier trained (a profile sets `epochs` and `side`:
    `chocolib.train_crops.settings_for`)."""

    #: EfficientNet-Lite variant of the ImageNet start (`chocolib.models.backbones`)
    variant: str = "lite0"
    #: side of the square crop the classifier reads, in pixels
    side: int = 112
    #: the crop's side as a multiple of the box's longer side: the chocolate and a rim of table
    context: float = 1.25
    #: training crops are cut wider (this multiple) and at side × train_context / context, so that a
    #: random turn and a random window (`augmentation`) still hold the whole chocolate
    train_context: float = 1.6
    epochs: int = 3
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    #: the sharpness floor is this quantile of the validation crops' sharpness: a crop as sharp as
    #: three chocolates in four of the validation split's gets the classifier's full word
    sharpness_quantile: float = 0.25

    @property
    def train_side(self) -> int:
        return int(round(self.side * self.train_context / self.context))

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Crops
# --------------------------------------------------------------------------------------------
def crop_boxes(image, boxes_xyxy, context: float, side: int):
    """Square crops (uint8, N × C × side × side) of `image` (C × H × W, uint8 or float in [0, 1])
    around each box (N × 4, XYXY pixels): centred on the box, `context` × its longer side wide,
    resampled bilinearly; what lies outside the photo is black."""
    import torch
    from torchvision.ops import roi_align

    boxes = torch.as_tensor(np.asarray(boxes_xyxy, dtype=np.float32)).reshape(-1, 4)
    if len(boxes) == 0:
        return torch.zeros((0, image.shape[0], side, side), dtype=torch.uint8)
    pixels = image.float() if image.dtype == torch.uint8 else image.float() * 255
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).amax(dim=1, keepdim=True) * context / 2
    squares = torch.cat([centre - half, centre + half], dim=1)
    out = roi_align(pixels[None], [squares], output_size=(side, side), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    return out.round().clamp(0, 255).to(torch.uint8)


def sharpness(crops) -> np.ndarray:
    """Each crop's detail (N uint8 crops → N floats): the variance of the Laplacian of its grey
    image on the 0–255 scale, at the side the classifier reads. A sharp chocolate's grain and edges
    give tens to hundreds; blur, a lost resolution or a far camera bring it towards 0."""
    import torch

    if len(crops) == 0:
        return np.zeros(0)
    grey = crops.float().mean(dim=1, keepdim=True)
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])[None, None]
    return torch.nn.functional.conv2d(grey, laplacian).flatten(1).var(dim=1).double().numpy()


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
def build(variant: str, pretrained: bool = True):
    """timm's EfficientNet-Lite classifier with 13 outputs; from ImageNet when `pretrained` (the
    package's weights; a random start, with one warning, when they are not installed)."""
    import timm

    from chocolib.models import backbones

    model = None
    if pretrained:
        try:
            model = backbones.imagenet_classifier(variant)
        except ChocoError as exc:
            log.warning("crop classifier: ImageNet weights unavailable (%s): starting from random initialisation", exc)
    if model is None:
        model = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False)
    model.reset_classifier(classes.NUM_CLASSES)
    return model


def normalised(crops):
    """uint8 crops → the inputs the ImageNet weights expect: (x − 0.5) / 0.5 for x in [0, 1]."""
    return (crops.float() / 255 - 0.5) / 0.5


class CropClassifier:
    """A trained classifier: the probability of each Kaggle class for boxes of a photo, and the
    sharpness below which its word counts less (None: always in full)."""

    def __init__(self, model, settings: CropSettings, sharpness_floor: float | None = None, batch_size: int = 128):
        import torch

        # the same weights in channels-last memory: its convolutions run about 1.4× faster on the CPU
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.settings = settings
        self.sharpness_floor = sharpness_floor
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str | Path) -> CropClassifier:
        from chocolib.models import read_checkpoint

        state = read_checkpoint(path, ("crop_classifier", "model"), "crop classifier")
        settings = CropSettings(**state["crop_classifier"])
        model = build(settings.variant, pretrained=False)
        model.load_state_dict(state["model"])
        return cls(model, settings, state.get("sharpness_floor"))

    def probabilities(self, image, boxes_xyxy) -> np.ndarray:
        """N × 13 class probabilities (Kaggle order) of the boxes (XYXY pixels) of `image`."""
        return self.of_crops(crop_boxes(image.cpu(), boxes_xyxy, self.settings.context, self.settings.side))

    def of_crops(self, crops) -> np.ndarray:
        """N × 13 class probabilities of crops already cut (`crop_boxes`, uint8)."""
        import torch

        if len(crops) == 0:
            return np.zeros((0, classes.NUM_CLASSES), np.float64)
        with torch.inference_mode():
            parts = [
                self.model(normalised(crops[i : i + self.batch_size]).contiguous(memory_format=torch.channels_last)).softmax(1)
                for i in range(0, len(crops), self.batch_size)
            ]
        return torch.cat(parts).double().numpy()

    def scores(self, image, boxes_xyxy, labels) -> np.ndarray:
        """For each box (XYXY pixels of `image`) the probability of its Kaggle label id (1–13),
        tempered by the crop's sharpness: p ** min(1, sharpness / floor). At the floor or sharper,
        the classifier's probability; on a blurred crop, nearer 1 for every class, so that the
        vote of ``classify`` (`chocolib.predict`) falls back to the detector's own scores."""
        crops = crop_boxes(image.cpu(), boxes_xyxy, self.settings.context, self.settings.side)
        labels = np.asarray(labels, dtype=np.int64)
        probability = self.of_crops(crops)[np.arange(len(labels)), labels - 1]
        if self.sharpness_floor is None:
            return probability
        return probability ** np.minimum(1.0, sharpness(crops) / self.sharpness_floor)


def beside(checkpoint: str | Path) -> Path:
    return Path(checkpoint).parent / FILE


def attach(model, checkpoint: str | Path) -> bool:
    """Give `model` (a detector loaded from `checkpoint`) the crop classifier saved beside it, if
    any: `chocolib.predict` then scores every detection's crop too (column ``crop_score``)."""
    path = beside(checkpoint)
    if not path.is_file():
        return False
    model.crop_classifier = CropClassifier.load(path)
    log.info("crop classifier: %s gives every detection a second look", path)
    return True
