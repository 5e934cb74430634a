"""The training engine both detectors share: everything of a loop that is not the model's own.

In the manner of torchvision's ``references/detection/engine.py``: `chocolib.train` (the Faster
R-CNN) and `chocolib.train_yolo` (YOLO12s) keep only what differs between them — their data, their
loss, their optimiser and schedule — and take from here the bookkeeping that must behave the same:

* settings: the checks every loop shares, profile overrides, the run key that a resumed run must match;
* reproducibility: one seed per (seed, epoch, purpose), the image order of an epoch;
* the step: backward with or without AMP, gradient clipping, an exponential moving average of the
  weights (`ModelEMA`), a non-finite loss named with its batch's photos;
* the epoch's end: early stopping, ``best.pt``, ``last.pt`` (everything resuming needs),
  ``history.csv``, the log line; resuming (`load_last`, `restore`); the run's summary;
* reading a finished run (`read_config`, `read_history`) and the count-F1 bookkeeping of validation.

A run killed at any moment (SIGKILL included) continues, when started again with the same settings,
from its last completed epoch and ends with the same history as an uninterrupted one, because every
epoch seeds its own randomness and every file is written atomically.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from chocolib import fileio
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------
def check_loop_settings(config, monitors: tuple[str, ...] = ("val_loss", "val_f1")) -> None:
    """The checks every training config shares (`chocolib.train`'s and `chocolib.train_yolo`'s);
    `monitors`: the history columns of that loop that can pick the best epoch."""
    if config.monitor not in monitors:
        raise ChocoError(f"monitor must be {' or '.join(monitors)}, not {config.monitor!r}")
    for name, value in (("epochs", config.epochs), ("batch_size", config.batch_size), ("patience", config.patience)):
        if value < 1:
            raise ChocoError(f"{name} must be at least 1, not {value}")
    if config.steps_per_epoch is not None and config.steps_per_epoch < 1:
        raise ChocoError(f"steps_per_epoch must be at least 1, not {config.steps_per_epoch}")


#: settings that may change between a run and its resumption without changing its results' meaning
RESUMABLE_CHANGES = ("device", "workers", "amp")


def run_key(checkpoint_version: int, detector: dict, train: dict, data: str, online: dict | None = None) -> dict:
    """What a training run is, for either trainer: its checkpoint format, the detector's and the
    training's settings (those in `RESUMABLE_CHANGES` apart), the split's fingerprint
    (`data_fingerprint`) and, where the trainer has them, the online effects' ranges. A folder
    resumes only a run of the same key (`load_last`); config.json records it."""
    key = {
        "checkpoint_version": checkpoint_version,
        "detector": detector,
        "train": {k: v for k, v in train.items() if k not in RESUMABLE_CHANGES},
    }
    if online is not None:
        key["online"] = json.loads(json.dumps(online))  # tuples as lists, as config.json holds them
    return {**key, "data": data}


@dataclass
class TrainSummary:
    out: Path
    history: pd.DataFrame
    best_epoch: int
    monitor: str
    stopped_early: bool
    weights_used: str
    resumed_from: int  # epochs already done when this call started
    seconds: float  # spent in this call
    skipped: bool = False  # the run had already finished: nothing to do

    @property
    def best(self) -> pd.Series:
        return self.history.set_index("epoch").loc[self.best_epoch]

    @property
    def best_checkpoint(self) -> Path:
        return self.out / "best.pt"

    def line(self) -> str:
        best = self.best
        epochs = int(self.history["epoch"].max())
        ending = "stopped early" if self.stopped_early else "all epochs"
        return (
            f"best epoch {self.best_epoch}/{epochs} ({ending}): val_loss={best['val_loss']:.4f} "
            f"val_f1={best['val_f1']:.4f}; {self.history['images_per_s'].mean():.2f} train images/s"
        )


def apply_overrides(overrides: dict, *targets: tuple[dict, type], what: str) -> None:
    """Put each override (None: keep the profile's) into the first settings dict whose dataclass
    has a field of that name; an unknown name is an error."""
    for name, value in overrides.items():
        if value is None:
            continue
        target = next((settings for settings, cls in targets if name in cls.__dataclass_fields__), None)
        if target is None:
            raise ChocoError(f"unknown {what} setting {name!r}")
        target[name] = value


# --------------------------------------------------------------------------------------------
# Reproducibility and the data
# --------------------------------------------------------------------------------------------
def epoch_seed(seed: int, epoch: int, purpose: str) -> int:
    """A 63-bit seed for one epoch's data order, training or validation."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def parameter_groups(model, weight_decay: float) -> list[dict]:
    """The seed's two groups: weight decay on weights, none on biases and normalisation parameters."""
    import torch

    norm_types = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm)
    decay, no_decay = [], []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad:
                continue
            (no_decay if isinstance(module, norm_types) or name == "bias" else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def planned_learning_rates(config, steps_per_epoch: int, build) -> np.ndarray:
    """The learning rate of every step of a full-length run: what the scheduler that
    `build(model, config, total_steps)` returns will do (`chocolib.train`'s OneCycleLR,
    `chocolib.train_yolo`'s warm-up and cosine)."""
    import torch

    total = config.epochs * steps_per_epoch
    optimizer, scheduler = build(torch.nn.Linear(1, 1), config, total)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


def clip_gradients(model, max_norm: float | None) -> None:
    import torch

    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], max_norm)


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------
def check_finite(loss_value: float, components: dict, epoch: int, step: int, photos: list[str], where: Path) -> None:
    """A non-finite loss stops the run, naming the step, the loss components and the batch's photos."""
    if not math.isfinite(loss_value):
        parts = ", ".join(f"{k}={float(v):.4g}" for k, v in components.items())
        raise ChocoError(
            f"non-finite loss ({loss_value}) at epoch {epoch}, step {step + 1} ({parts}); the batch's photos: {', '.join(photos)}", where
        )


def backward_step(loss, model, optimizer, scaler=None, clip_grad_norm: float | None = None) -> None:
    """Back-propagate `loss` and step the optimiser, through the AMP scaler when there is one;
    gradients are clipped as they truly are (unscaled first)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        clip_gradients(model, clip_grad_norm)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        clip_gradients(model, clip_grad_norm)
        optimizer.step()


class ModelEMA:
    """An exponential moving average of a model's weights (and a copy of its buffers), the weights
    that are validated and saved. The decay ramps up from 0 as Ultralytics' ``ModelEMA`` does,
    ``decay × (1 − exp(−updates / tau))``, so that the first updates are not averaged with the
    random start."""

    def __init__(self, model, decay: float = 0.9999, tau: float = 2000.0):
        import torch

        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0
        self._torch = torch

    def current_decay(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    def update(self, model) -> None:
        self.updates += 1
        decay = self.current_decay()
        with self._torch.no_grad():
            source = model.state_dict()
            for name, value in self.module.state_dict().items():
                if value.dtype.is_floating_point:
                    value.mul_(decay).add_(source[name].detach(), alpha=1 - decay)
                else:
                    value.copy_(source[name])

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = state["updates"]


# --------------------------------------------------------------------------------------------
# Validation's counts
# --------------------------------------------------------------------------------------------
def predicted_counts(outputs, threshold: float) -> np.ndarray:
    """Counts per class (Kaggle column order) of the detections scoring at least `threshold`."""
    from chocolib.classes import NUM_CLASSES

    counts = np.zeros((len(outputs), NUM_CLASSES), dtype=np.int64)
    for row, output in enumerate(outputs):
        labels = output["labels"][output["scores"] >= threshold].cpu().numpy()
        counts[row] = np.bincount(labels - 1, minlength=NUM_CLASSES)[:NUM_CLASSES]  # label id 1 is column 0
    return counts


def true_counts(targets) -> np.ndarray:
    from chocolib.classes import NUM_CLASSES

    return np.stack([np.bincount(t["labels"].cpu().numpy() - 1, minlength=NUM_CLASSES) for t in targets]).reshape(-1, NUM_CLASSES)


def to_device(images, targets, device):
    non_blocking = device.type == "cuda"
    images = [image.to(device, non_blocking=non_blocking) for image in images]
    targets = [{k: (v.to(device, non_blocking=non_blocking) if hasattr(v, "to") else v) for k, v in t.items()} for t in targets]
    return images, targets


def epoch_order(n_images: int, wanted: int, seed: int, epoch: int) -> list[int]:
    """The image order of one epoch: `wanted` indices from shuffled passes over the images."""
    import torch

    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch, "order"))
    order: list[int] = []
    while len(order) < wanted:
        order.extend(torch.randperm(n_images, generator=generator).tolist())
    return order[:wanted]


# --------------------------------------------------------------------------------------------
# Checkpoints, resuming, the epoch's end
# --------------------------------------------------------------------------------------------
def data_fingerprint(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def save_checkpoint(path: Path, state: dict) -> None:
    import torch

    with fileio.atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_last(out: Path, key: dict):
    import torch

    path = out / "last.pt"
    if not path.is_file():
        if (out / "best.pt").exists() or (out / "history.csv").exists():
            raise ChocoError("folder holds training outputs but no last.pt to resume from: choose a new folder or empty it", out)
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ChocoError(f"cannot read the last checkpoint to resume from ({type(exc).__name__}); delete it to start over", path) from None
    stored = state.get("key") or {}
    if stored != key:
        detail = ", ".join(key_differences(stored, key))
        raise ChocoError(f"this folder holds a run with other settings ({detail}): choose a new folder, or delete it to start over", path)
    return state


#: the parts of a run key whose settings are named one by one (the others are compared whole)
KEY_SETTING_PARTS = ("detector", "train", "online")


def key_differences(stored: dict, key: dict, ignore: tuple[str, ...] = (), shared_only: bool = False) -> list[str]:
    """What differs between a run's key as `stored` (its last.pt, or its config.json, which holds the
    key and more) and `key`: one "name: stored → key" per setting, named bare for the detector and
    training settings and by part otherwise (``online.copy_paste``, ``data``). `ignore` leaves
    settings out (a seed); with `shared_only`, only what both record is compared (a run from before
    a setting existed, a config.json's extra fields). The one comparison behind a refused resume and
    a refused ``benchmarks/seed_spread.py --run``."""

    def compared(a: dict, b: dict) -> list:
        return sorted(set(a) & set(b) if shared_only else set(a) | set(b))

    stored, key = json.loads(json.dumps(stored)), json.loads(json.dumps(key))  # a config.json's lists are a key's tuples
    found = []
    for part in compared(stored, key):
        before, after = stored.get(part), key.get(part)
        if part in KEY_SETTING_PARTS and isinstance(before, dict) and isinstance(after, dict):
            prefix = "" if part in ("detector", "train") else f"{part}."
            found += [
                f"{prefix}{name}: {_setting_words(before.get(name), after.get(name))}"
                for name in compared(before, after)
                if name not in ignore and before.get(name) != after.get(name)
            ]
        elif part not in ignore and before != after:
            found.append(f"{part}: {_setting_words(before, after)}")
    return found


def _setting_words(before, after) -> str:
    if isinstance(before, dict) and isinstance(after, dict):  # a group of ranges: only its changed members
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return ", ".join(f"{k} {before.get(k)!r} → {after.get(k)!r}" for k in changed)
    return f"{before!r} → {after!r}"


def history_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def is_better(value: float, best: float | None, monitor: str) -> bool:
    if best is None:
        return True
    return value < best if monitor == "val_loss" else value > best


@dataclass
class Progress:
    """Where a run stands: its history and the early-stopping state (saved in ``last.pt``)."""

    history: list[dict] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int = 0
    stale: int = 0
    finished: bool = False
    stopped_early: bool = False

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    def as_state(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict) -> Progress:
        return cls(**{name: state[name] for name in cls.__dataclass_fields__})

    def summary(self, out: Path, monitor: str, weights_used: str, resumed_from: int, seconds: float, skipped: bool = False) -> TrainSummary:
        summary = TrainSummary(
            out, history_frame(self.history), self.best_epoch, monitor, self.stopped_early, weights_used, resumed_from, seconds, skipped
        )
        if not skipped:
            log.info("train: %s (%d epochs in this call, %.0f s)", summary.line(), self.epochs_done - resumed_from, seconds)
        return summary


def restore(state: dict, model, optimizer, scheduler, scaler=None, ema: ModelEMA | None = None) -> Progress:
    """Load a ``last.pt`` state into the model, optimiser, scheduler, AMP scaler and weight average;
    its progress."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    return Progress.from_state(state)


def end_epoch(out: Path, progress: Progress, row: dict, config, best: dict, last: dict) -> bool:
    """Record an epoch's `row`: early stopping, the log line, ``best.pt`` when it is the best so far
    (`best`: what inference needs), ``last.pt`` (`last`: what resuming needs, with the progress) and
    ``history.csv``. `config` has epochs, patience and monitor. Returns whether the run stops early."""
    epoch, value = row["epoch"], row[config.monitor]
    improved = is_better(value, progress.best_value, config.monitor)
    if improved:
        progress.best_value, progress.best_epoch, progress.stale = value, epoch, 0
    else:
        progress.stale += 1
    progress.history.append(row)
    progress.stopped_early = progress.stale >= config.patience
    progress.finished = progress.stopped_early or epoch == config.epochs
    log.info(
        "epoch %d/%d: train_loss %.4f val_loss %.4f val_f1 %.4f lr %.2e %.1f s (%.2f img/s)%s",
        epoch,
        config.epochs,
        row["train_loss"],
        row["val_loss"],
        row["val_f1"],
        row["lr"],
        row["seconds"],
        row["images_per_s"],
        "  * best" if improved else "",
    )
    # best.pt before last.pt: a kill in between replays this epoch, which rewrites best.pt the same
    if improved:
        save_checkpoint(out / "best.pt", {**best, "epoch": epoch, "monitor": config.monitor, "value": value})
    save_checkpoint(out / "last.pt", {**last, **progress.as_state()})
    fileio.write_text(out / "history.csv", history_frame(progress.history).to_csv(index=False, float_format="%.8g"))
    if progress.stopped_early:
        log.info("train: no better %s for %d epochs: stopping early after epoch %d", config.monitor, config.patience, epoch)
    return progress.stopped_early


# --------------------------------------------------------------------------------------------
# A finished run
# --------------------------------------------------------------------------------------------
def read_config(out: str | Path) -> dict:
    """The settings a training folder was written with (``config.json``)."""
    path = Path(out) / "config.json"
    if not path.is_file():
        raise ChocoError(
            "no training here: run notebooks/04_faster_rcnn_training.ipynb or 03_yolo12_attempt.ipynb (or `chocolib train`) first", path
        )
    return json.loads(path.read_text())


def read_history(out: str | Path) -> pd.DataFrame:
    path = Path(out) / "history.csv"
    if not path.is_file():
        raise ChocoError(
            "no training history here: run notebooks/04_faster_rcnn_training.ipynb or 03_yolo12_attempt.ipynb (or `chocolib train`) first",
            path,
        )
    return pd.read_csv(path)
