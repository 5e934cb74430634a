"""Training the crop classifier (`chocolib.models.crop_classifier`): the ground-truth boxes of the
training split cut into square crops, each crop given its own look, a short AdamW OneCycle run from
ImageNet, checked on the validation split's boxes. Saved beside the detector's best.pt, where
`chocolib.predict` finds it; resumes after a kill, reruns to the same weights under the same seed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from chocolib import engine, fileio
from chocolib.errors import ChocoError
from chocolib.models import read_checkpoint
from chocolib.models.crop_classifier import FILE, CropClassifier, CropSettings, build, crop_boxes, normalised, sharpness

log = logging.getLogger(__name__)

LAST = "crop_classifier_last.pt"
HISTORY = "crop_classifier_history.csv"
CHECKPOINT_VERSION = 2  # 2: channels-last training, no camera effects, the sharpness floor saved


def settings_for(profile, epochs: int | None = None) -> CropSettings:
    """The crop classifier's settings of a run profile (`chocolib.profiles`), `epochs` overriding."""
    return CropSettings(side=profile.crop_side, epochs=profile.crop_epochs if epochs is None else epochs)


def split_crops(split_dir: str | Path, context: float, side: int):
    """(crops, Kaggle class indices) of every labelled box of a split folder (``images/``, ``labels/``)."""
    import torch
    from torchvision.transforms import v2

    from chocolib.dataset import DetectionDataset

    samples = DetectionDataset(split_dir)
    crops, labels = [], []
    for index in tqdm(range(len(samples)), desc=f"crop {Path(split_dir).name}", unit="photo", leave=False):
        image, target = samples.load(index)
        boxes = v2.functional.convert_bounding_box_format(target["boxes"], new_format="XYXY").as_subclass(torch.Tensor)
        crops.append(crop_boxes(image.as_subclass(torch.Tensor), boxes, context, side))
        labels.append(target["labels"] - 1)
    if not crops or sum(len(c) for c in crops) == 0:
        raise ChocoError("no labelled chocolate to crop", split_dir)
    return torch.cat(crops), torch.cat(labels)


def augmentation(side: int):
    """Each training crop's own look (a `tv_tensors.Image` in, `side` × `side` out): any turn,
    mirror, a window that squeezes the aspect by up to 0.7–1.43, the chocolate's own colour, grey.
    No blur, noise or JPEG: trained with the detector's camera effects too, the classifier fitted
    the chocolates worse and lost on every set (docs/robustness-and-generalisation.md); a blurred
    crop is met at inference instead, where its word counts less (`CropClassifier.scores`)."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            v2.RandomRotation(180),
            v2.RandomResizedCrop(side, scale=(0.45, 0.75), ratio=(0.7, 1.43), antialias=True),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.5, 0.08)], p=0.9),
            v2.RandomGrayscale(0.05),
        ]
    )


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
@dataclass
class CropSummary:
    path: Path
    history: pd.DataFrame
    seconds: float
    skipped: bool = False

    @property
    def val_accuracy(self) -> float:
        return float(self.history["val_accuracy"].iloc[-1])

    def line(self) -> str:
        crops_per_s = self.history["crops_per_s"].mean()
        return (
            f"crop classifier: {len(self.history)} epochs, validation accuracy {self.val_accuracy:.4f} on the boxes' crops; "
            f"{crops_per_s:.1f} crops/s; {self.path}"
        )


def accuracy(model, settings: CropSettings, crops, labels) -> float:
    """Share of `crops` (uint8, cut by `crop_boxes`) that `model` names as `labels`; leaves it in eval mode."""
    predicted = CropClassifier(model, settings).of_crops(crops).argmax(axis=1)
    return float((predicted == labels.numpy()).mean())


def train(
    train_dir: str | Path, val_dir: str | Path, out: str | Path, settings: CropSettings = CropSettings(), seed: int = 0
) -> CropSummary:
    """Train the crop classifier on the boxes of `train_dir`, check it on those of `val_dir`, and
    save it as `out`/crop_classifier.pt (beside the detector's best.pt). Resumes after a kill from
    the last finished epoch; a finished run with the same settings and data is not trained again."""
    import torch
    from torch import nn
    from torchvision import tv_tensors

    out = Path(out)
    key = {
        "version": CHECKPOINT_VERSION,
        "settings": settings.as_dict(),
        "seed": seed,
        "data": engine.data_fingerprint(Path(train_dir), Path(val_dir)),
    }
    final, last = out / FILE, out / LAST
    if final.is_file():
        state = read_checkpoint(final, ("crop_classifier", "model"), "crop classifier")
        if state.get("key") == key:
            return CropSummary(final, engine.history_frame(state["history"]), 0.0, skipped=True)
    if settings.epochs < 1:
        raise ChocoError(f"the crop classifier needs at least one epoch, not {settings.epochs}")
    started = time.perf_counter()
    train_crops, train_labels = split_crops(train_dir, settings.train_context, settings.train_side)
    val_crops, val_labels = split_crops(val_dir, settings.context, settings.side)
    torch.manual_seed(seed)
    model = build(settings.variant).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = max(1, len(train_crops) // settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.epochs * steps_per_epoch, pct_start=0.15)
    history: list[dict] = []
    if last.is_file():
        state = read_checkpoint(last, ("key",), "crop classifier")
        if state.get("key") != key:
            raise ChocoError("this folder holds a crop classifier run with other settings or data: delete it to start over", last)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = state["history"]
        log.info("crop classifier: resuming after epoch %d of %d", len(history), settings.epochs)
    augment = augmentation(settings.side)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    for epoch in range(len(history) + 1, settings.epochs + 1):
        # every epoch's draws follow from (seed, epoch) alone, so a resumed run draws what an unbroken one would
        torch.manual_seed(engine.epoch_seed(seed, epoch, "crop classifier"))
        order = torch.randperm(len(train_crops))
        model.train()
        epoch_started, total = time.perf_counter(), 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"crop classifier {epoch}/{settings.epochs}", unit="batch", leave=False)
        for step in bar:
            batch = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            inputs = torch.stack([augment(tv_tensors.Image(crop)).as_subclass(torch.Tensor) for crop in train_crops[batch]])
            loss = loss_fn(model(normalised(inputs).contiguous(memory_format=torch.channels_last)), train_labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        seconds = time.perf_counter() - epoch_started
        row = {
            "epoch": epoch,
            "train_loss": total / steps_per_epoch,
            "val_accuracy": accuracy(model, settings, val_crops, val_labels),
            "lr": float(scheduler.get_last_lr()[0]),
            "seconds": round(seconds, 1),
            "crops_per_s": steps_per_epoch * settings.batch_size / seconds,
        }
        history.append(row)
        log.info(
            "crop classifier epoch %d/%d: train_loss %.4f, val_accuracy %.4f (%.0f s)",
            epoch,
            settings.epochs,
            row["train_loss"],
            row["val_accuracy"],
            seconds,
        )
        state = {
            "key": key,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history,
        }
        engine.save_checkpoint(last, state)
    floor = float(np.quantile(sharpness(val_crops), settings.sharpness_quantile))
    log.info("crop classifier: sharpness floor %.1f (quantile %.2f of the validation crops')", floor, settings.sharpness_quantile)
    engine.save_checkpoint(
        final,
        {"key": key, "crop_classifier": settings.as_dict(), "model": model.state_dict(), "history": history, "sharpness_floor": floor},
    )
    fileio.write_text(out / HISTORY, engine.history_frame(history).to_csv(index=False, float_format="%.6g"))
    last.unlink(missing_ok=True)
    summary = CropSummary(final, engine.history_frame(history), time.perf_counter() - started)
    log.info("%s", summary.line())
    return summary
