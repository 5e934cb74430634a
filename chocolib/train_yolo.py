"""Training YOLO12s with chocolib's own loop: the seed's abandoned attempt, with the loss it lacked.

The seed could import Ultralytics' architecture only, so it had no loss outputs and no training
pipeline. Here the model is `chocolib.models.yolo12` (Ultralytics' YAML and its own
``v8DetectionLoss``), the bookkeeping (seeds, resume, early stopping, checkpoints, history, the
AMP step, the weight average) is `chocolib.engine`'s as for the Faster R-CNN, and this file holds
what is YOLO12s's own:

* data: the training photos of notebook 02's split (its ``split.json``; the originals, pass 0 of
  ``train/``), each drawn anew every epoch through the seed's chain (RandomResizedCrop, flips,
  rotation, brightness and contrast, Gaussian blur, SanitizeBoundingBoxes: notebook 02's settings
  from its ``manifest.json``) straight to the network's input, letterboxed to S × S; one draw in
  ``passes + 1`` is the photo unaltered, the mix of notebook 02's folder. With ``mosaic`` > 0 a
  draw is, that often, four such draws around a random centre, cropped to S × S (Ultralytics'
  mosaic, on the seed's chain), except in the last ``close_mosaic`` epochs. A draw left without a
  chocolate is drawn again (the seed's ``garbage.py`` removed such images), counted per epoch;
* validation: notebook 02's ``val/`` photos letterboxed the same way, i.e. the photos the Faster
  R-CNN is validated on; the three loss components and the count-F1 every epoch;
* the optimiser, by recipe (`RECIPES`): the seed's SGD (momentum 0.9, lr 1e-3), or what
  Ultralytics' trainer does for a short run (AdamW at 0.002 × 5 / (4 + classes), an exponential
  moving average of the weights, mosaic); both with weight decay on weights only, a per-step linear
  warm-up then cosine annealing, and gradients clipped at norm 10 as Ultralytics' trainer does.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from chocolib import augment, dataset, engine, fileio, metric, precision, predict
from chocolib import copy_paste as copy_paste_module
from chocolib.classes import NUM_CLASSES
from chocolib.errors import ChocoError
from chocolib.models import yolo12

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
#: draws of one photo before a draw left without a chocolate is kept anyway
MAX_DRAWS = 10
#: the warm-up starts at this fraction of `lr`
WARMUP_START = 0.01
#: a chocolate cut by a crop's or a mosaic's frame keeps its box when this share of it is left
#: (Ultralytics: 0.1); less, and it is dropped
MIN_VISIBLE = 0.4
#: what can pick the best epoch: besides the Faster R-CNN's two, the best count F1 of the validation
#: threshold sweep, which stays 0 at the fixed 0.6 while an undertrained YOLO12s's scores are low,
#: and which its validation loss does not follow (docs/yolo12.md, "Which epoch is kept")
MONITORS = ("val_loss", "val_f1", "val_f1_best")


@dataclass(frozen=True)
class YoloTrainConfig:
    epochs: int = 100
    patience: int = 10
    #: val_loss, val_f1 (count F1 at `val_threshold`) or val_f1_best (at the sweep's best threshold)
    monitor: str = "val_loss"
    batch_size: int = 16
    #: optimiser steps per epoch; None: one draw of each training photo
    steps_per_epoch: int | None = None
    #: "sgd" (the seed's, with momentum) or "adamw" (Ultralytics' choice for short runs; `momentum` is its beta 1)
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 3
    #: the cosine ends at `lr` × this
    final_lr_fraction: float = 0.01
    #: gradient norm clipping (Ultralytics' trainer: 10); None: off, as the seed
    grad_clip: float | None = 10.0
    #: validate and save an exponential moving average of the weights (`engine.ModelEMA`) instead of the weights
    ema: bool = False
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0
    #: the share of draws that are a mosaic of four (0: none, the seed's; Ultralytics: 1)
    mosaic: float = 0.0
    #: the last epochs drawn without mosaic (Ultralytics: the last 10 of 100)
    close_mosaic: int = 0
    #: train on crops of this side (a multiple of 32) cut from the photo letterboxed to the model's
    #: input side, so a chocolate is as large in training as when the whole photo is counted at that
    #: side; None: the whole photo at the input side (the seed's)
    crop: int | None = None
    #: before the seed's chain, copy-paste as the Faster R-CNN's finetune recipe has it
    #: (`chocolib.copy_paste`: each chocolate's own look, more chocolates pasted, things across
    #: them), so the 72 photos hold more chocolates, and more varied ones, per draw
    copy_paste: bool = False
    #: score threshold for the validation count-F1 logged per epoch (as notebook 04's)
    val_threshold: float = 0.6
    seed: int = 0
    device: str = "auto"
    #: numeric precision (`chocolib.precision`): auto, bf16, fp16 or off
    amp: str = "auto"
    workers: int | None = None

    def __post_init__(self):
        engine.check_loop_settings(self, MONITORS)
        object.__setattr__(self, "amp", precision.normalise(self.amp))  # older configs saved True/False
        if self.warmup_epochs < 0 or self.warmup_epochs >= self.epochs + (self.epochs == 1):
            raise ChocoError(f"warmup_epochs must be between 0 and epochs - 1, not {self.warmup_epochs}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ChocoError(f"optimizer must be sgd or adamw, not {self.optimizer!r}")
        if not 0 <= self.mosaic <= 1:
            raise ChocoError(f"mosaic must be a share between 0 and 1, not {self.mosaic}")
        if self.crop is not None and (self.crop < 32 or self.crop % 32):
            raise ChocoError(f"crop must be a multiple of 32 (the largest stride), not {self.crop}")

    def as_dict(self) -> dict:
        return asdict(self)


#: Ultralytics' learning rate for AdamW when its trainer chooses the optimiser ("auto", short runs)
ULTRALYTICS_ADAMW_LR = round(0.002 * 5 / (4 + NUM_CLASSES), 6)

#: Named recipes: a profile picks one (`Profile.yolo_recipe`), single settings override its values.
RECIPES = {
    # the seed's optimiser (SGD, lr 1e-3) on the seed's chain, nothing else
    "seed": {"optimizer": "sgd", "lr": 1e-3, "ema": False, "mosaic": 0.0},
    # what Ultralytics' trainer does that the seed's loop did not (benchmarks/yolo_anchor.py)
    "ultralytics": {"optimizer": "adamw", "lr": ULTRALYTICS_ADAMW_LR, "ema": True, "mosaic": 1.0},
}


def configs_for(profile, seed: int = 0, recipe: str | None = None, **overrides) -> tuple[yolo12.YoloConfig, YoloTrainConfig]:
    """The model and training settings of a profile (`chocolib.profiles`) and a recipe (None: the
    profile's), with overrides (None: the profile's). The warm-up is 3 epochs (Ultralytics'
    default) of a long run, a tenth of a short one (at least one); mosaic stops for the last tenth
    of the epochs (Ultralytics: 10 of 100)."""
    recipe = recipe or profile.yolo_recipe
    if recipe not in RECIPES:
        raise ChocoError(f"unknown YOLO recipe {recipe!r}; expected one of: {', '.join(RECIPES)}")
    model = dict(image_size=profile.yolo_image_size)
    training = dict(
        epochs=profile.yolo_epochs,
        patience=profile.patience,
        batch_size=profile.yolo_batch_size,
        steps_per_epoch=profile.yolo_steps_per_epoch,
        crop=profile.yolo_crop,
        monitor=profile.yolo_monitor,
        seed=seed,
        **RECIPES[recipe],
    )
    epochs = overrides.get("epochs") or profile.yolo_epochs
    training.update(
        warmup_epochs=min(3, max(1, epochs // 10), epochs - 1), close_mosaic=math.ceil(epochs / 10) if training["mosaic"] else 0
    )
    engine.apply_overrides(overrides, (model, yolo12.YoloConfig), (training, YoloTrainConfig), what="YOLO12 training")
    return yolo12.YoloConfig(**model), YoloTrainConfig(**training)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def read_augment_params(augmented: Path) -> augment.AugmentParams:
    """Notebook 02's augmentation settings, from its manifest."""
    path = Path(augmented) / "manifest.json"
    if not path.is_file():
        raise ChocoError("no augmentation manifest: run notebooks/02_augmentation.ipynb first", path)
    params = json.loads(path.read_text())["params"]
    return augment.AugmentParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def _area(boxes):
    """Areas of XYXY boxes (0 for an empty one)."""
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def _clip_visible(boxes, height: int, width: int):
    """XYXY boxes clipped to a height × width frame, and which of them keep their label: those
    with at least `MIN_VISIBLE` of their area left inside (a crop's or a mosaic's frame)."""
    import torch

    clipped = torch.stack(
        [boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height), boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)], dim=1
    )
    return clipped, (_area(clipped) >= MIN_VISIBLE * _area(boxes)) & (_area(clipped) > 0)


def draw_seed(seed: int, epoch: int, index: int, attempt: int) -> int:
    return engine.epoch_seed(seed, epoch, f"draw:{index}:{attempt}")


class TrainingDraws:
    """The split's training photos, drawn anew each epoch through the seed's chain at S × S.

    Item `i` of epoch `e` is always the same draw (seeded by seed, e, i, attempt), whatever the
    DataLoader's workers. Items: (uint8 (3, side, side) image, {"boxes": XYXY, "labels": 1–13}, draws).
    `crop` (None: off): each draw is a crop × crop window of the photo letterboxed to S, at the
    scale the whole photo is counted at, instead of the whole photo at S; `side` is what a draw
    measures. `mosaic`: the share of draws that are a mosaic of four, up to epoch `mosaic_until`
    (None: all). `copy_paste`: each photo first goes through `copy_paste.CopyPaste` over the
    chocolates of the split's training photos.
    """

    def __init__(
        self,
        augmented: str | Path,
        image_size: int,
        seed: int = 0,
        mosaic: float = 0.0,
        mosaic_until: int | None = None,
        crop: int | None = None,
        copy_paste: bool = False,
    ):
        augmented = Path(augmented)
        split_path = augmented / "split.json"
        if not split_path.is_file():
            raise ChocoError("no split: run notebooks/02_augmentation.ipynb first", split_path)
        if crop is not None and crop > image_size:
            raise ChocoError(f"crop ({crop}) must not be larger than the input side ({image_size}) it is cut from")
        stems = json.loads(split_path.read_text())["train"]
        self.params = read_augment_params(augmented)
        self.versions = dataset.DetectionDataset(augmented / "train")
        position = {self.versions.stem(i): i for i in range(len(self.versions))}
        missing = [stem for stem in stems if stem not in position]
        if missing:
            raise ChocoError(f"{len(missing)} training photo(s) of split.json are not in train/images, first: {missing[0]}", split_path)
        self.stems, self.indices = stems, [position[stem] for stem in stems]
        self.image_size, self.seed, self.epoch = image_size, seed, 1
        self.crop, self.side = crop, crop or image_size
        self.keep_original = 1 / (self.params.passes + 1)
        self.mosaic, self.mosaic_until = mosaic, mosaic_until
        self.paste, self.bank_position = None, {}
        if copy_paste:
            photos = dataset.DetectionDataset(augmented / "train")
            photos.items = [photos.items[i] for i in self.indices]
            self.paste = copy_paste_module.copy_paste(photos, copy_paste_module.CopyPasteParams())
            self.bank_position = {index: n for n, index in enumerate(self.indices)}

    @classmethod
    def of_run(cls, augmented: str | Path, model_config: yolo12.YoloConfig, config: YoloTrainConfig) -> TrainingDraws:
        """The draws a training run with these settings makes."""
        mosaic_until = config.epochs - config.close_mosaic
        return cls(augmented, model_config.image_size, config.seed, config.mosaic, mosaic_until, config.crop, config.copy_paste)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def picture(self, image, target):
        """The photo through the seed's chain out at its letterboxed size (or, one time in
        passes + 1, only resized to it), not padded: (uint8 pixels, boxes as the chain's
        ``tv_tensors.BoundingBoxes``, labels)."""
        import torch
        from torchvision.transforms import v2

        if self.paste is not None:  # the cut-out bank is indexed by the photo's place among the split's
            image, target = self.paste(image, {**target, "image_id": self.bank_position[int(target["image_id"])]})
        size = yolo12.letterbox_shape(*image.shape[-2:], self.image_size)
        sample = augment.chain_input(image.as_subclass(torch.Tensor), target["boxes"].as_subclass(torch.Tensor), target["labels"])
        if torch.rand(()) < self.keep_original:
            resize = v2.Resize(size, antialias=True)
            sample = {"image": resize(sample["image"]), "boxes": resize(sample["boxes"]), "labels": sample["labels"]}
        else:
            sample = augment.sanitize(augment.build_transform(self.params, *size)(sample), self.params)
        return sample["image"], sample["boxes"], sample["labels"]

    def window(self, pixels, boxes, labels):
        """A random crop × crop window of a picture (smaller where the picture is): its pixels,
        XYXY boxes shifted and clipped to it, labels. A chocolate cut by the window's frame keeps
        its clipped box when `MIN_VISIBLE` of it is left."""
        import torch
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        height, width = pixels.shape[-2:]
        left = int(torch.randint(max(width - self.crop, 0) + 1, ()))
        top = int(torch.randint(max(height - self.crop, 0) + 1, ()))
        pixels = pixels[..., top : top + self.crop, left : left + self.crop]
        height, width = pixels.shape[-2:]
        xyxy = v2.functional.convert_bounding_box_format(boxes, new_format="XYXY").as_subclass(torch.Tensor).float()
        clipped, keep = _clip_visible(xyxy - torch.tensor([left, top, left, top], dtype=torch.float32), height, width)
        return pixels, tv_tensors.BoundingBoxes(clipped[keep], format="XYXY", canvas_size=(height, width)), labels[keep]

    def draw(self, image, target):
        """One draw of a photo: its `picture` (or, with `crop`, a `window` of it) padded right and
        bottom with grey to side × side; also the (height, width) the picture covers in the draw."""
        import torch
        from torchvision.transforms import v2

        pixels, boxes, labels = self.picture(image, target)
        if self.crop is not None:
            pixels, boxes, labels = self.window(pixels, boxes, labels)
        height, width = pixels.shape[-2:]
        pad = v2.Pad([0, 0, self.side - width, self.side - height], fill=round(yolo12.PAD_VALUE * 255))
        boxes = v2.functional.convert_bounding_box_format(pad(boxes), new_format="XYXY")
        drawn = {"boxes": boxes.as_subclass(torch.Tensor).float(), "labels": labels}
        return pad(pixels).as_subclass(torch.Tensor), drawn, (height, width)

    def mosaic_share(self) -> float:
        """The share of this epoch's draws that are mosaics."""
        return self.mosaic if self.mosaic_until is None or self.epoch <= self.mosaic_until else 0.0

    def draw_mosaic(self, index: int):
        """Four draws (photo `index` and three others, each a `draw`) around a random centre of a
        2 side × 2 side grey canvas, cropped to its middle side × side (Ultralytics' mosaic, without
        its extra affine: the chain already scales and turns). A chocolate keeps its box when at
        least `MIN_VISIBLE` of it stays inside the crop; the rest of it is clipped."""
        import torch

        size = self.side
        canvas = torch.full((3, 2 * size, 2 * size), round(yolo12.PAD_VALUE * 255), dtype=torch.uint8)
        centre_x, centre_y = (int(v) for v in torch.randint(size // 2, 3 * size // 2 + 1, (2,)))
        others = torch.randint(len(self), (3,)).tolist()
        boxes, labels = [], []
        for quadrant, photo in enumerate([index, *others]):
            image, target = self.versions[self.indices[photo]]
            pixels, drawn, (height, width) = self.draw(image, target)
            left = centre_x - width if quadrant in (0, 2) else centre_x  # the picture's corner on the canvas
            top = centre_y - height if quadrant in (0, 1) else centre_y
            x0, y0 = max(left, 0), max(top, 0)
            x1, y1 = min(left + width, 2 * size), min(top + height, 2 * size)
            canvas[:, y0:y1, x0:x1] = pixels[:, y0 - top : y1 - top, x0 - left : x1 - left]
            boxes.append(drawn["boxes"] + torch.tensor([left, top, left, top], dtype=torch.float32))
            labels.append(drawn["labels"])
        crop = size // 2
        clipped, keep = _clip_visible(torch.cat(boxes) - crop, size, size)
        return canvas[:, crop : crop + size, crop : crop + size].clone(), {"boxes": clipped[keep], "labels": torch.cat(labels)[keep]}

    def __getitem__(self, index: int):
        import torch

        image, target = self.versions[self.indices[index]]
        mosaic = self.mosaic_share()
        for attempt in range(MAX_DRAWS):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(draw_seed(self.seed, self.epoch, index, attempt))
                if mosaic and torch.rand(()) < mosaic:
                    pixels, drawn = self.draw_mosaic(index)
                else:
                    pixels, drawn, _ = self.draw(image, target)
            if len(drawn["labels"]) or not len(target["labels"]):
                break
        return pixels, drawn, attempt + 1


def draw_panel(draws: TrainingDraws, index: int) -> tuple:
    """One draw as a figure panel (`plots.augmented_versions`): (title, PIL image, boxes as
    normalised cx, cy, w, h with class names, True)."""
    import pandas as pd
    from PIL import Image

    from chocolib import classes

    pixels, target, count = draws[index]
    boxes = target["boxes"].numpy() / draws.side
    table = pd.DataFrame(
        {
            "cx": (boxes[:, 0] + boxes[:, 2]) / 2,
            "cy": (boxes[:, 1] + boxes[:, 3]) / 2,
            "w": boxes[:, 2] - boxes[:, 0],
            "h": boxes[:, 3] - boxes[:, 1],
            "class": [classes.NAMES_BY_LABEL_ID[int(i)] for i in target["labels"]],
        }
    )
    title = f"{draws.stems[index]}, epoch {draws.epoch}" + (f" ({count} draws)" if count > 1 else "")
    return title, Image.fromarray(pixels.permute(1, 2, 0).numpy()), table, True


def collate_draws(batch):
    import torch

    images = torch.stack([image for image, _, _ in batch]).to(torch.float32) / 255
    return images, [target for _, target, _ in batch], sum(draws - 1 for _, _, draws in batch)


# --------------------------------------------------------------------------------------------
# Optimiser, validation
# --------------------------------------------------------------------------------------------
def build_optimizer(model, config: YoloTrainConfig, total_steps: int):
    """SGD with momentum or AdamW (weight decay on weights only), and a per-step linear warm-up then cosine."""
    import torch

    groups = engine.parameter_groups(model, config.weight_decay)
    if config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999))
    else:
        optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    warmup = min(total_steps - 1, round(total_steps * config.warmup_epochs / config.epochs))
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, total_steps - warmup), eta_min=config.lr * config.final_lr_fraction
    )
    if warmup <= 0:
        return optimizer, cosine
    ramp = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=WARMUP_START, total_iters=warmup)
    return optimizer, torch.optim.lr_scheduler.SequentialLR(optimizer, [ramp, cosine], milestones=[warmup])


def planned_learning_rates(config: YoloTrainConfig, steps_per_epoch: int) -> np.ndarray:
    return engine.planned_learning_rates(config, steps_per_epoch, build_optimizer)


def evaluate(model, loader, device, model_config: yolo12.YoloConfig, config: YoloTrainConfig) -> dict:
    """Validation loss (its three components) and count-F1, at `val_threshold` and at the best
    threshold of notebook 05's sweep (how well the scores rank, whatever their calibration)."""
    import torch

    sums = {name: 0.0 for name in yolo12.LOSS_NAMES}
    batches, truth, outputs = 0, [], []
    model.eval()
    with torch.inference_mode():
        for images, targets in loader:
            images, targets = engine.to_device(images, targets, device)
            raw, detections, batch, scales = yolo12.infer(model, images, model_config)
            scaled = [{"boxes": t["boxes"] * scale, "labels": t["labels"]} for t, scale in zip(targets, scales)]
            _, components = yolo12.loss(model, batch, scaled, preds=raw)
            for name in yolo12.LOSS_NAMES:
                sums[name] += components[name]
            batches += 1
            outputs.extend({k: v.cpu() for k, v in found.items()} for found in detections)
            truth.append(engine.true_counts(targets))
    truth = np.concatenate(truth)
    result = {f"val_{name}": sums[name] / batches for name in yolo12.LOSS_NAMES}
    result["val_loss"] = sum(result.values())
    result["val_f1"] = metric.mean_count_f1(truth, engine.predicted_counts(outputs, config.val_threshold))
    sweep = [metric.mean_count_f1(truth, engine.predicted_counts(outputs, t)) for t in predict.SWEEP]
    best = int(np.argmax(sweep))
    result.update(val_f1_best=sweep[best], val_best_threshold=float(predict.SWEEP[best]))
    return result


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
def train_yolo(
    augmented: str | Path,
    out: str | Path,
    model_config: yolo12.YoloConfig = yolo12.YoloConfig(),
    config: YoloTrainConfig = YoloTrainConfig(),
    stop_after_epochs: int | None = None,
) -> engine.TrainSummary:
    """Train, or resume the run in `out`, on notebook 02's folder `augmented`; the summary.

    `out` receives ``last.pt``, ``best.pt``, ``history.csv`` and ``config.json`` as notebook 04's
    run does; `stop_after_epochs` ends this call after that many epochs in total.
    """
    import torch
    from torch.utils.data import DataLoader

    augmented, out = Path(augmented), Path(out)
    draws = TrainingDraws.of_run(augmented, model_config, config)
    val_set = dataset.DetectionDataset(augmented / "val")
    if len(draws) == 0 or len(val_set) == 0:
        raise ChocoError("no training or validation images", augmented)
    images_per_epoch = len(draws) if config.steps_per_epoch is None else config.steps_per_epoch * config.batch_size
    steps = math.ceil(images_per_epoch / config.batch_size)
    online = {"copy_paste": asdict(draws.paste.params)} if draws.paste is not None else None  # None: the keys of before
    run_key = engine.run_key(
        CHECKPOINT_VERSION,
        model_config.as_dict(),
        config.as_dict(),
        engine.data_fingerprint(augmented / "train", augmented / "val"),
        online,
    )
    out.mkdir(parents=True, exist_ok=True)
    state = engine.load_last(out, run_key)

    started = time.perf_counter()
    if state is not None and state["finished"]:
        progress = engine.Progress.from_state(state)
        log.info("train_yolo: %s already holds this finished run (%d epochs): nothing to do", out, progress.epochs_done)
        return progress.summary(out, config.monitor, state["weights_used"], progress.epochs_done, 0.0, skipped=True)

    from chocolib import models

    device = models.select_device(config.device)
    numeric = precision.for_run(config.amp, device, "yolo12", state)
    log.info("train_yolo: %s", numeric.line())
    torch.manual_seed(config.seed)  # the random initialisation (of the head, when a COCO start loads)
    model = yolo12.build_yolo12(model_config)
    # a resumed run takes its weights from the checkpoint: no download, and the start it recorded
    weights_used = yolo12.load_start_weights(model, model_config.pretrained) if state is None else state["weights_used"]
    model.to(device)
    optimizer, scheduler = build_optimizer(model, config, config.epochs * steps)
    scaler = numeric.grad_scaler()
    ema = engine.ModelEMA(model, config.ema_decay, config.ema_tau) if config.ema else None
    progress = engine.Progress()
    if state is not None:
        progress = engine.restore(state, model, optimizer, scheduler, scaler, ema)
        log.info("train_yolo: resuming %s after epoch %d of %d", out, progress.epochs_done, config.epochs)
    else:
        log.info("train_yolo: %s, %s start", yolo12.describe(model, model_config), weights_used)
    resumed_from = progress.epochs_done
    fileio.write_json(
        out / "config.json",
        {
            **run_key,
            "model": "yolo12",
            "device": str(device),
            "amp": config.amp,
            "precision": precision.as_dict(numeric),
            "weights_used": weights_used,
            "train_photos": len(draws),
            "val_images": len(val_set),
            "steps_per_epoch": steps,
            "image_side": max(dataset.photo_size(val_set.items[0][0])),
        },
    )

    workers = config.workers if config.workers is not None else (0 if device.type == "cpu" else 8)
    pin = device.type == "cuda"
    val_loader = DataLoader(
        val_set, batch_size=config.batch_size, shuffle=False, collate_fn=dataset.collate_fn, num_workers=workers, pin_memory=pin
    )
    last_epoch = min(config.epochs, stop_after_epochs or config.epochs)

    for epoch in range(progress.epochs_done + 1, last_epoch + 1):
        draws.set_epoch(epoch)
        order = engine.epoch_order(len(draws), images_per_epoch, config.seed, epoch)
        loader = DataLoader(
            torch.utils.data.Subset(draws, order),
            batch_size=config.batch_size,
            shuffle=False,
            collate_fn=collate_draws,
            num_workers=workers,
            pin_memory=pin,
            persistent_workers=False,
        )
        model.train()
        sums = {name: 0.0 for name in yolo12.LOSS_NAMES}
        seen, redrawn, t0 = 0, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False, mininterval=1.0)
        for step, (images, targets, extra_draws) in enumerate(bar):
            images = images.to(device, non_blocking=pin)
            with numeric.autocast():
                loss, components = yolo12.loss(model, images, targets)
            first = step * config.batch_size
            engine.check_finite(
                loss.item(), components, epoch, step, [draws.stems[i] for i in order[first : first + len(images)]], augmented / "train"
            )
            engine.backward_step(loss, model, optimizer, scaler, config.grad_clip)
            if ema is not None:
                ema.update(model)
            last_lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            for name in yolo12.LOSS_NAMES:
                sums[name] += components[name]
            seen += len(images)
            redrawn += extra_draws
            bar.set_postfix(loss=f"{sum(sums.values()) / (step + 1):.3f}", img_s=f"{seen / (time.perf_counter() - t0):.2f}", refresh=False)
        bar.close()
        train_seconds = time.perf_counter() - t0
        row = {"epoch": epoch, **{f"train_{n}": sums[n] / steps for n in yolo12.LOSS_NAMES}}
        row["train_loss"] = sum(row[f"train_{n}"] for n in yolo12.LOSS_NAMES)
        validated = ema.module if ema is not None else model  # the weights inference will use
        row.update(evaluate(validated, val_loader, device, model_config, config))
        row.update(
            lr=last_lr, redrawn=redrawn, mosaic=draws.mosaic_share(), seconds=time.perf_counter() - t0, images_per_s=seen / train_seconds
        )
        best = {"yolo": model_config.as_dict(), "model": validated.state_dict(), "weights_used": weights_used}
        last = {
            "key": run_key,
            "yolo": model_config.as_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "precision": precision.as_dict(numeric),
            "ema": ema.state_dict() if ema is not None else None,
            "weights_used": weights_used,
        }
        if engine.end_epoch(out, progress, row, config, best, last):
            break

    return progress.summary(out, config.monitor, weights_used, resumed_from, time.perf_counter() - started)
