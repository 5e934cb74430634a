"""Training the Faster R-CNN the way the seed trained it, resumable at any moment.

What is the Faster R-CNN's own: SGD with Nesterov momentum over two parameter groups (weight decay
on weights only), OneCycleLR over the real number of steps, the seed's weighted sum of the four
Faster R-CNN losses, the online augmentation of the `finetune` recipe, validation loss and count-F1
after every epoch. The bookkeeping both detectors share — per-epoch seeds, the AMP step and
clipping, early stopping, ``best.pt``/``last.pt``/``history.csv``, resuming after a kill with the
same history as an uninterrupted run — is `chocolib.engine`'s.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from chocolib import augment, copy_paste, dataset, engine, fileio, metric, models, paths, precision
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

#: the seed's weights of torchvision's four Faster R-CNN losses
SEED_LOSS_WEIGHTS = {"loss_classifier": 1.0, "loss_objectness": 0.8, "loss_box_reg": 0.5, "loss_rpn_box_reg": 0.1}
LOSS_NAMES = tuple(SEED_LOSS_WEIGHTS)
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    #: early stopping: epochs without a better `monitor` value before training stops
    patience: int = 10
    #: what "better on validation" means: val_loss (lower, the seed's) or val_f1 (higher)
    monitor: str = "val_loss"
    batch_size: int = 4
    #: optimiser steps per epoch; None: one pass over the training images
    steps_per_epoch: int | None = None
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    max_lr: float = 0.02
    pct_start: float = 0.1
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    loss_weights: dict = field(default_factory=lambda: dict(SEED_LOSS_WEIGHTS))
    #: score threshold for the validation count-F1 logged per epoch (the seed's 0.6)
    val_threshold: float = 0.6
    seed: int = 0
    device: str = "auto"
    #: gradient-norm clipping before each step (None: none, the seed's)
    clip_grad_norm: float | None = None
    #: online camera effects on the training images (`augment.camera_effects`; the seed: none)
    camera_augment: bool = False
    #: online flips, quarter turns and a zoom out or in over 0.45–2× (`augment.online_geometry`; the
    #: seed: none, its geometry is offline)
    geometry_augment: bool = False
    #: the online geometry's zoom (`augment.online_geometry`): wide (0.45–2×) or mild (0.75–1.25×)
    scale_augment: str = "wide"
    #: the online geometry also squeezes half the photos along one axis, as a camera tilted away
    #: from straight down does (`augment.Foreshorten`)
    foreshorten: bool = False
    #: online copy-paste with each chocolate's own colour, gloss, tilt and scale (`chocolib.copy_paste`;
    #: the seed: none)
    copy_paste: bool = False
    #: how many things copy-paste lays across chocolates (`copy_paste.OCCLUDERS`): some or crowded
    occluders: str = "some"
    #: copy-paste blurs some chocolates on their own, out of focus or moving (`copy_paste.CHOCOLATE_BLUR_P`)
    chocolate_blur: bool = False
    #: copy-paste stretches some of a photo's own chocolates where they lie, each its own tilt
    #: (`copy_paste.CHOCOLATE_ASPECT_P`)
    chocolate_aspect: bool = False
    #: which images of notebook 02's folder to train on: "all" (the originals and the seed's offline
    #: versions) or "originals" (the resized photos only; the variation then comes online)
    train_versions: str = "all"
    #: numeric precision (`chocolib.precision`): auto (fp16 on CUDA, bf16 on a CPU with bf16 units where
    #: measured faster for the model, else fp32), bf16, fp16 or off
    amp: str = "auto"
    #: DataLoader processes; None: 0 on the CPU (decoding is cheap next to the model), 4 on a GPU
    workers: int | None = None

    def __post_init__(self):
        engine.check_loop_settings(self)
        object.__setattr__(self, "amp", precision.normalise(self.amp))  # older configs saved True/False
        if self.scale_augment not in augment.SCALE_AUGMENTS:
            raise ChocoError(f"scale_augment must be one of {', '.join(augment.SCALE_AUGMENTS)}, not {self.scale_augment!r}")
        if self.occluders not in copy_paste.OCCLUDERS:
            raise ChocoError(f"occluders must be one of {', '.join(copy_paste.OCCLUDERS)}, not {self.occluders!r}")
        if self.train_versions not in ("all", "originals"):
            raise ChocoError(f"train_versions must be all or originals, not {self.train_versions!r}")
        if set(self.loss_weights) != set(LOSS_NAMES):
            raise ChocoError(f"loss_weights must name exactly {', '.join(LOSS_NAMES)}")

    def as_dict(self) -> dict:
        return asdict(self)


#: Named optimiser recipes: a profile picks one, single flags override its values.
RECIPES = {
    # the seed's: OneCycle to 0.02, no clipping, only the offline chain — made for a COCO start
    "seed": {"max_lr": 0.02, "clip_grad_norm": None, "camera_augment": False, "geometry_augment": False, "train_versions": "all"},
    # for an ImageNet-pretrained body: a 4× lower peak (at the seed's 0.02 the loss of the
    # EfficientNet-Lite0 detector became NaN at the schedule's peak), gradient norm clipped at 10,
    # the resized originals varied online (flips, quarter turns, a zoom out or in over 0.45–2×, as a
    # camera steps back or leans in) instead of the seed's offline crops, which zoom up to 3.5× away
    # from the scale photos are counted at (benchmarks/accuracy_budget.py: 0.936 → 0.993 count F1
    # for the same 12 minutes, with the zoom then 0.75–1.25×), and camera effects
    # online so the count holds on photos less clean than the training set's, and copy-paste with
    # each chocolate's own look, as real chocolates differ from the references (docs/robustness-and-generalisation.md, "Photos worse
    # than the twin's")
    "finetune": {
        "max_lr": 0.005,
        "clip_grad_norm": 10.0,
        "camera_augment": True,
        "geometry_augment": True,
        "copy_paste": True,
        "train_versions": "originals",
    },
}


def resolve_backbone(backbone: str, recipe: str) -> tuple[str, str]:
    """A profile's (backbone, recipe); backbone ``auto`` means the seed's model and recipe when
    torchvision's COCO weights download, else EfficientNet-Lite0 from its ImageNet package and the
    fine-tuning recipe (one log line); recipe ``auto`` follows the backbone's starting weights."""
    if backbone == "auto":
        if models.backbones.coco_weights_available():
            backbone = "mobilenet_v3_large"
        else:
            backbone = "efficientnet_lite0"
            log.info("train: COCO weights unavailable: the backbone is efficientnet_lite0 with ImageNet weights (offline)")
    if recipe == "auto":
        recipe = "seed" if models.backbones.get(backbone).weights == "coco" else "finetune"
    if recipe not in RECIPES:
        raise ChocoError(f"unknown recipe {recipe!r}; expected one of: {', '.join(RECIPES)}")
    return backbone, recipe


def configs_for(profile, seed: int = 0, recipe: str | None = None, **overrides) -> tuple[models.DetectorConfig, TrainConfig]:
    """The detector and training settings of a profile (`chocolib.profiles`), with overrides.

    `recipe` (None: the profile's) names the optimiser settings in `RECIPES`; overrides use the
    field names of DetectorConfig and TrainConfig and win over both; None means "the profile's".
    """
    backbone, recipe = resolve_backbone(overrides.pop("backbone", None) or profile.backbone, recipe or profile.recipe)
    detector = dict(backbone=backbone, min_size=profile.min_size, max_size=profile.max_size, box_batch_size_per_image=profile.roi_samples)
    training = dict(
        epochs=profile.epochs,
        patience=profile.patience,
        batch_size=profile.batch_size,
        steps_per_epoch=profile.steps_per_epoch,
        monitor=profile.monitor,
        seed=seed,
        **RECIPES[recipe],
    )
    if profile.max_lr is not None:
        training["max_lr"] = profile.max_lr
    engine.apply_overrides(overrides, (detector, models.DetectorConfig), (training, TrainConfig), what="training")
    return models.DetectorConfig(**detector), TrainConfig(**training)


# --------------------------------------------------------------------------------------------
# The pieces of the loop
# --------------------------------------------------------------------------------------------
def build_optimizer(model, config: TrainConfig, total_steps: int):
    import torch

    optimizer = torch.optim.SGD(engine.parameter_groups(model, config.weight_decay), lr=config.lr, momentum=config.momentum, nesterov=True)
    # OneCycleLR divides by the length of its warm-up (pct_start × total_steps − 1 steps): a run of
    # a handful of steps (the tiny profile on its few originals) needs a warm-up of at least two steps.
    total_steps = max(total_steps, 4)
    pct_start = max(config.pct_start, 2 / total_steps)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.max_lr,
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy="cos",
        div_factor=config.div_factor,
        final_div_factor=config.final_div_factor,
    )
    return optimizer, scheduler


def planned_learning_rates(config: TrainConfig, steps_per_epoch: int) -> np.ndarray:
    """The learning rate of every step of a full-length run (OneCycleLR)."""
    return engine.planned_learning_rates(config, steps_per_epoch, build_optimizer)


def copy_paste_params(config: TrainConfig) -> copy_paste.CopyPasteParams:
    """The copy-paste settings a run's training settings name: the one place the transform and the
    run key read them from."""
    return copy_paste.params_for(config.occluders, config.chocolate_blur, config.chocolate_aspect)


def online_transforms(config: TrainConfig, samples=()):
    """The online augmentation of the training images (None: the images as notebook 02 wrote them).
    Copy-paste comes first, on the photo as it was labelled: its chocolates are cut out of
    `samples` (the training `dataset.DetectionDataset`)."""
    from torchvision.transforms import v2

    steps = (
        ([copy_paste.copy_paste(samples, copy_paste_params(config))] if config.copy_paste else [])
        + ([augment.online_geometry(config.scale_augment, config.foreshorten)] if config.geometry_augment else [])
        + ([augment.camera_effects()] if config.camera_augment else [])
    )
    return v2.Compose(steps) if steps else None


def loss_formula(weights: dict) -> str:
    """What the weighted loss sums, for figure titles: ``1·classifier + 0.8·objectness + …``."""
    return " + ".join(f"{w:g}·{name.removeprefix('loss_')}" for name, w in weights.items())


def weighted_loss(loss_dict: dict, weights: dict):
    return sum(weights[name] * loss_dict[name] for name in LOSS_NAMES)


def _loss_mode(model):
    """Training mode (the model returns losses) with batch-norm statistics frozen, for validation."""
    import torch

    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def evaluate(model, loader, device, config: TrainConfig, epoch: int) -> dict:
    """Validation losses (each component and the weighted sum) and the count-F1 at `val_threshold`."""
    import torch

    sums = {name: 0.0 for name in LOSS_NAMES}
    weighted, batches = 0.0, 0
    truth, predicted = [], []
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(engine.epoch_seed(config.seed, epoch, "validation"))  # the RPN/RoI sampling of the losses
        with torch.inference_mode():
            for images, targets in loader:
                images, targets = engine.to_device(images, targets, device)
                _loss_mode(model)
                loss_dict = model(images, targets)
                for name in LOSS_NAMES:
                    sums[name] += float(loss_dict[name])
                weighted += float(weighted_loss(loss_dict, config.loss_weights))
                batches += 1
                model.eval()
                predicted.append(engine.predicted_counts(model(images), config.val_threshold))
                truth.append(engine.true_counts(targets))
    result = {"val_loss": weighted / max(batches, 1), **{f"val_{name}": sums[name] / max(batches, 1) for name in LOSS_NAMES}}
    result["val_f1"] = metric.mean_count_f1(np.concatenate(truth), np.concatenate(predicted))
    return result


def run_key(detector: models.DetectorConfig, config: TrainConfig, data: str) -> dict:
    """What a training run is: its settings, the online effects' ranges and the split's fingerprint
    (`engine.data_fingerprint`). A folder resumes only a run of the same key (`engine.load_last`);
    config.json records it."""
    # the online effects' ranges are part of what a run is: a change of them is a new run
    online = {
        "camera": asdict(augment.CameraParams()) if config.camera_augment else None,
        "scale": asdict(augment.ScaleParams()) if config.geometry_augment and config.scale_augment == "wide" else None,
        "copy_paste": asdict(copy_paste_params(config)) if config.copy_paste else None,
    }
    if config.geometry_augment and config.foreshorten:  # absent when off: the keys of earlier runs stay
        online["foreshorten"] = asdict(augment.ForeshortenParams())
    return engine.run_key(CHECKPOINT_VERSION, detector.as_dict(), config.as_dict(), data, online)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
def train(
    train_dir: str | Path,
    val_dir: str | Path,
    out: str | Path,
    detector: models.DetectorConfig = models.DetectorConfig(),
    config: TrainConfig = TrainConfig(),
    stop_after_epochs: int | None = None,
) -> engine.TrainSummary:
    """Train, or resume the run in `out`; return the summary (history, best epoch).

    `out` receives ``last.pt`` (everything needed to resume), ``best.pt`` (weights and settings of
    the best epoch, for inference), ``history.csv`` and ``config.json``. `stop_after_epochs` ends
    this call after that many epochs in total without ending the run (a later call continues).
    """
    import torch
    from torch.utils.data import DataLoader

    train_dir, val_dir, out = Path(train_dir), Path(val_dir), Path(out)
    train_set = dataset.DetectionDataset(train_dir)
    if config.train_versions == "originals":
        train_set.items = [item for item in train_set.items if augment.is_original(item[0].stem)]
    val_set = dataset.DetectionDataset(val_dir)
    if len(train_set) == 0 or len(val_set) == 0:
        raise ChocoError("no training or validation images", train_dir if len(train_set) == 0 else val_dir)
    # one pass over the images (the last batch may be smaller), or exactly steps × batch images
    images_per_epoch = len(train_set) if config.steps_per_epoch is None else config.steps_per_epoch * config.batch_size
    steps = math.ceil(images_per_epoch / config.batch_size)
    key = run_key(detector, config, engine.data_fingerprint(train_dir, val_dir))
    out.mkdir(parents=True, exist_ok=True)
    state = engine.load_last(out, key)

    started = time.perf_counter()
    if state is not None and state["finished"]:
        progress = engine.Progress.from_state(state)
        log.info("train: %s already holds this finished run (%d epochs): nothing to do", out, progress.epochs_done)
        return progress.summary(out, config.monitor, state["weights_used"], progress.epochs_done, 0.0, skipped=True)

    # after the finished-run check: copy-paste cuts every training photo's chocolates out first
    train_set.transforms = online_transforms(config, train_set)
    device = models.select_device(config.device)
    numeric = precision.for_run(config.amp, device, "faster_rcnn", state)
    log.info("train: %s", numeric.line())
    torch.manual_seed(config.seed)  # the random initialisation
    # a resumed run is built as it first was (the same frozen layers, so the optimiser's state fits),
    # from the weights it actually started from; the checkpoint then replaces them
    model, weights_used = models.build_detector(
        detector if state is None else models.DetectorConfig(**{**detector.as_dict(), "pretrained": state["weights_used"]})
    )
    model.to(device)
    optimizer, scheduler = build_optimizer(model, config, config.epochs * steps)
    scaler = numeric.grad_scaler()
    progress = engine.Progress()
    if state is not None:
        progress = engine.restore(state, model, optimizer, scheduler, scaler)
        weights_used = state["weights_used"]
        log.info("train: resuming %s after epoch %d of %d", out, progress.epochs_done, config.epochs)
    else:
        log.info("train: %s", models.describe(model, detector, weights_used))
    resumed_from = progress.epochs_done
    fileio.write_json(
        out / "config.json",
        {
            **key,
            "device": str(device),
            "amp": config.amp,
            "precision": precision.as_dict(numeric),
            "weights_used": weights_used,
            "train_images": len(train_set),
            "val_images": len(val_set),
            "steps_per_epoch": steps,
            "image_side": max(dataset.photo_size(train_set.items[0][0])),
        },
    )

    workers = config.workers if config.workers is not None else (0 if device.type == "cpu" else 4)
    loader_options = dict(
        batch_size=config.batch_size, collate_fn=dataset.collate_fn, num_workers=workers, pin_memory=device.type == "cuda"
    )
    val_loader = DataLoader(val_set, shuffle=False, **loader_options)
    last_epoch = min(config.epochs, stop_after_epochs or config.epochs)

    for epoch in range(progress.epochs_done + 1, last_epoch + 1):
        order = engine.epoch_order(len(train_set), images_per_epoch, config.seed, epoch)
        loader = DataLoader(torch.utils.data.Subset(train_set, order), shuffle=False, **loader_options)
        torch.manual_seed(engine.epoch_seed(config.seed, epoch, "train"))
        model.train()
        sums = {name: 0.0 for name in LOSS_NAMES}
        weighted_sum, seen, t0 = 0.0, 0, time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False, mininterval=1.0)
        for step, (images, targets) in enumerate(bar):
            images, targets = engine.to_device(images, targets, device)
            with numeric.autocast():
                loss_dict = model(images, targets)
                loss = weighted_loss(loss_dict, config.loss_weights)
            value = loss.detach().item()
            first = step * config.batch_size
            engine.check_finite(
                value,
                {k: v.detach().item() for k, v in loss_dict.items()},
                epoch,
                step,
                [train_set.stem(i) for i in order[first : first + len(images)]],
                train_dir,
            )
            engine.backward_step(loss, model, optimizer, scaler, config.clip_grad_norm)
            last_lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            for name in LOSS_NAMES:
                sums[name] += loss_dict[name].detach().item()
            weighted_sum += value
            seen += len(images)
            bar.set_postfix(loss=f"{weighted_sum / (step + 1):.3f}", img_s=f"{seen / (time.perf_counter() - t0):.2f}", refresh=False)
        bar.close()
        train_seconds = time.perf_counter() - t0
        row = {"epoch": epoch, "train_loss": weighted_sum / steps, **{f"train_{n}": sums[n] / steps for n in LOSS_NAMES}}
        row.update(evaluate(model, val_loader, device, config, epoch))
        row.update(lr=last_lr, seconds=time.perf_counter() - t0, images_per_s=seen / train_seconds)

        best = {"detector": detector.as_dict(), "model": model.state_dict(), "weights_used": weights_used}
        last = {
            "key": key,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "precision": precision.as_dict(numeric),
            "weights_used": weights_used,
            "detector": detector.as_dict(),
        }
        if engine.end_epoch(out, progress, row, config, best, last):
            break

    return progress.summary(out, config.monitor, weights_used, resumed_from, time.perf_counter() - started)


#: the table `benchmarks/accuracy_budget.py --csv` wrote for the cpu profile's choice (committed)
BUDGET_TABLE = paths.REPO_ROOT / "benchmarks" / "results" / "accuracy_budget_cpu.csv"


def read_budget_table(path: str | Path = BUDGET_TABLE) -> pd.DataFrame | None:
    """The accuracy-for-a-budget table behind the cpu profile (None when it is not there)."""
    path = Path(path)
    return pd.read_csv(path) if path.is_file() else None
