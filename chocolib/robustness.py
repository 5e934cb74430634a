"""Counting on photos worse than the validation photos: a corruption suite in the style of
ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions
and Perturbations", ICLR 2019), each corruption at three severities, and the count F1 under each.

The validation photos are clean renders or careful shots; the photos a model is judged on are
re-scaled and re-compressed by phones, out of focus, shaken, noisy, under coloured or dim light.
Each corruption here models one of those, applied to the photo as the model receives it (decoded at
its working side), keeping its size. Every corruption draws from its own random stream, seeded by
(seed, photo, corruption, severity), so a table is reproducible to the byte.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from chocolib import dataset, metric
from chocolib.errors import ChocoError

if TYPE_CHECKING:
    from chocolib.predict import Detections

log = logging.getLogger(__name__)


def _resolution(x: np.ndarray, share: float, rng) -> np.ndarray:
    import cv2

    height, width = x.shape[:2]
    small = cv2.resize(x, (max(8, round(width * share)), max(8, round(height * share))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _gaussian_blur(x: np.ndarray, sigma: float, rng) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(x, (0, 0), sigma)


def _defocus_blur(x: np.ndarray, radius: float, rng) -> np.ndarray:
    import cv2

    size = 2 * int(np.ceil(radius)) + 1
    grid = np.arange(size) - size // 2
    disk = ((grid[:, None] ** 2 + grid[None, :] ** 2) <= radius**2).astype(np.float32)
    return cv2.filter2D(x, -1, disk / disk.sum(), borderType=cv2.BORDER_REFLECT)


def _motion_blur(x: np.ndarray, length: float, rng) -> np.ndarray:
    import cv2

    from chocolib.blur import motion_kernel

    return cv2.filter2D(x, -1, motion_kernel(int(length), rng.uniform(0, np.pi)), borderType=cv2.BORDER_REFLECT)


def _sensor_noise(x: np.ndarray, sigma: float, rng) -> np.ndarray:
    return x + rng.normal(0, sigma, x.shape).astype(np.float32)


def _jpeg(x: np.ndarray, quality: int, rng) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(_to_uint8(x)).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer), np.float32) / 255


def _brightness(x: np.ndarray, shift: float, rng) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(np.clip(x, 0, 1), cv2.COLOR_RGB2HSV)
    hsv[..., 2] = np.clip(hsv[..., 2] + shift, 0, 1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _contrast(x: np.ndarray, factor: float, rng) -> np.ndarray:
    mean = x.mean(axis=(0, 1), keepdims=True)
    return mean + (x - mean) * factor


def _colour_cast(x: np.ndarray, strength: float, rng) -> np.ndarray:
    direction = rng.normal(size=3)
    direction -= direction.mean()
    direction /= np.abs(direction).max()
    return x * (1 + strength * direction).astype(np.float32)


def _hue_shift(x: np.ndarray, turn: float, rng) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(np.clip(x, 0, 1), cv2.COLOR_RGB2HSV)  # float: hue in degrees
    hsv[..., 0] = (hsv[..., 0] + rng.choice((-1, 1)) * 360 * turn) % 360
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


@dataclass(frozen=True)
class Corruption:
    name: str
    what: str
    levels: tuple  # severity 1, 2, 3
    apply: Callable


#: The suite: what each does, and its three severities (sizes in pixels of the photo as the model
#: receives it, e.g. 800 px on its longer side for the `cpu` profile).
CORRUPTIONS: dict[str, Corruption] = {
    c.name: c
    for c in (
        Corruption("resolution", "down-scaled to this share of its side, then back", (0.50, 0.30, 0.18), _resolution),
        Corruption("gaussian_blur", "Gaussian blur, σ in pixels", (1.0, 2.0, 3.0), _gaussian_blur),
        Corruption("defocus_blur", "out of focus: a disk of this radius in pixels", (2.0, 4.0, 6.0), _defocus_blur),
        Corruption("motion_blur", "camera shake: a line of this length in pixels, any direction", (7, 13, 21), _motion_blur),
        Corruption("sensor_noise", "Gaussian noise, σ in [0, 1] units", (0.03, 0.06, 0.10), _sensor_noise),
        Corruption("jpeg", "re-compressed at this JPEG quality", (60, 40, 25), _jpeg),
        Corruption("brightness", "lighter: HSV value raised by this much", (0.10, 0.20, 0.30), _brightness),
        Corruption("contrast", "contrast scaled to this share", (0.70, 0.50, 0.35), _contrast),
        Corruption("colour_cast", "white balance off: a channel gain up to ± this much", (0.15, 0.25, 0.35), _colour_cast),
        Corruption("hue_shift", "hue turned by this share of the colour circle", (0.03, 0.06, 0.10), _hue_shift),
    )
}
SEVERITIES = (1, 2, 3)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def corruption_seed(seed: int, photo: str, name: str, severity: int) -> int:
    digest = hashlib.sha256(f"{seed}:{photo}:{name}:{severity}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def corrupt(image: Image.Image, name: str, severity: int, seed: int = 0, photo: str = "") -> Image.Image:
    """`image` (RGB) under corruption `name` at `severity` (1–3), the same size; deterministic for
    (seed, photo, name, severity)."""
    if name not in CORRUPTIONS:
        raise ChocoError(f"unknown corruption {name!r}: one of {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ChocoError(f"severity {severity} is not one of {SEVERITIES}")
    corruption = CORRUPTIONS[name]
    rng = np.random.default_rng(corruption_seed(seed, photo, name, severity))
    x = np.asarray(image.convert("RGB"), np.float32) / 255
    return Image.fromarray(_to_uint8(corruption.apply(x, corruption.levels[severity - 1], rng)))


@dataclass
class CorruptedRun:
    """The raw detections of one folder's photos, clean and under every corruption and severity,
    with one test-time augmentation: what `rows` scores at any threshold without the model."""

    tta: str
    clean: Detections
    settings: list[tuple[str, int, Detections]]  # (corruption, severity, detections)

    def counted_sets(self, truth: pd.DataFrame) -> list[tuple[Detections, pd.DataFrame]]:
        """Every corrupted setting with its true counts (a corruption moves no chocolate): the
        corruption part of `predict.choose_threshold`'s objective."""
        return [(found, truth) for _, _, found in self.settings]

    def one_per_chocolate(self, rule: str) -> CorruptedRun:
        """Every setting's detections under the cross-class `rule` (`predict.one_per_chocolate`)."""
        return CorruptedRun(self.tta, self.clean.one_per_chocolate(rule), [(n, s, f.one_per_chocolate(rule)) for n, s, f in self.settings])

    def rows(self, truth: pd.DataFrame, threshold) -> pd.DataFrame:
        """One row per setting (tta, corruption, severity, level, threshold, f1, images_per_s), the
        clean row first (severity 0), at `threshold` (one number or one per class)."""
        from chocolib import predict

        common = {"tta": self.tta, "threshold": threshold}
        rows = [
            {
                **common,
                "corruption": "clean",
                "severity": 0,
                "level": "",
                "f1": predict.f1_at(self.clean, truth, threshold),
                "images_per_s": self.clean.images_per_s,
            }
        ]
        for name, severity, found in self.settings:
            rows.append(
                {
                    **common,
                    "corruption": name,
                    "severity": severity,
                    "level": CORRUPTIONS[name].levels[severity - 1],
                    "f1": predict.f1_at(found, truth, threshold),
                    "images_per_s": found.images_per_s,
                }
            )
        return pd.DataFrame(rows, columns=["tta", "corruption", "severity", "level", "threshold", "f1", "images_per_s"])


def detect_corrupted(
    model, images, side: int | None, seed: int = 0, names=None, batch_size: int = 4, tta: str = "none", clean: Detections | None = None
) -> CorruptedRun:
    """Raw detections on the photos of `images` (a folder), clean and under every corruption of
    `names` (default: all) at every severity. `clean`: the clean photos' detections when the caller
    has them already (`predict.detect` of the same folder, model, side and `tta`), so they are not
    detected again."""
    from tqdm.auto import tqdm

    from chocolib import predict

    names = list(names or CORRUPTIONS)
    photos = predict.TestDataset(images, side)  # checked once; each photo decoded once, corrupted per setting
    decoded = [(photo_id, stem, dataset.read_photo(path, max_side=side)) for photo_id, (stem, path) in zip(photos.ids, photos.photos)]
    if clean is None:
        clean = predict.detect_photos(
            model, [(predict.as_tensor(image), photo_id) for photo_id, _, image in decoded], photos.ids, batch_size, tta=tta, desc=None
        )
    elif clean.ids != photos.ids:
        raise ChocoError("the clean detections given are not of these photos", images)
    settings = []
    for name, severity in tqdm([(n, s) for n in names for s in SEVERITIES], desc=f"corruptions (TTA {tta})", unit="setting"):
        corrupted = [(predict.as_tensor(corrupt(image, name, severity, seed, stem)), photo_id) for photo_id, stem, image in decoded]
        settings.append((name, severity, predict.detect_photos(model, corrupted, photos.ids, batch_size, tta=tta, desc=None)))
    log.info("robustness: %d photos, %d settings, TTA %s", len(decoded), len(settings), tta)
    return CorruptedRun(tta, clean, settings)


def corruption_table(
    model,
    images,
    truth: pd.DataFrame,
    side: int | None,
    threshold: float | None = None,
    seed: int = 0,
    names=None,
    batch_size: int = 4,
    tta: str = "none",
) -> pd.DataFrame:
    """Count F1 on the photos of `images` (a folder), clean and under every corruption and severity:
    one row each (`CorruptedRun.rows`). `threshold` None: the one `predict.choose_threshold` picks on
    the clean photos and these corruptions with this `tta` (fused scores are not the single view's,
    so each TTA gets its own)."""
    from chocolib import predict

    run = detect_corrupted(model, images, side, seed, names, batch_size, tta)
    if threshold is None:
        threshold = predict.choose_threshold(run.clean, truth, {"corruption F1": run.counted_sets(truth)}).threshold
    return run.rows(truth, threshold)


def summary(table: pd.DataFrame) -> dict:
    """The clean F1 and the corruption F1 (the mean over every corruption and severity) of one
    `corruption_table`, with its threshold, worst setting and speed."""
    corrupted = table[table["severity"] > 0]
    clean = table[table["severity"] == 0].iloc[0]
    worst = corrupted.loc[corrupted["f1"].idxmin()] if len(corrupted) else None
    return {
        "tta": clean["tta"],
        "threshold": clean["threshold"] if isinstance(clean["threshold"], dict) else float(clean["threshold"]),
        "clean_f1": float(clean["f1"]),
        "corruption_f1": float(corrupted["f1"].mean()) if len(corrupted) else float("nan"),
        "worst": [str(worst["corruption"]), int(worst["severity"])] if worst is not None else None,
        "images_per_s": float(table["images_per_s"].mean()),
    }


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One `corruption_table` as one row per corruption and one column per severity, with the row mean."""
    return metric.severity_grid(table, "corruption", CORRUPTIONS)


def by_severity(table: pd.DataFrame) -> pd.DataFrame:
    """Tables of one or more TTA settings → F1 per (tta, corruption) and severity 0–3, the clean F1
    at severity 0 of every corruption: the lines of `plots.corruption_curves`."""
    frames = []
    for tta, rows in table.groupby("tta", sort=False):
        clean = float(rows.loc[rows["severity"] == 0, "f1"].iloc[0])
        corrupted = rows[rows["severity"] > 0]
        for name in corrupted["corruption"].unique():
            frames.append(
                pd.DataFrame(
                    {
                        "tta": tta,
                        "corruption": name,
                        "severity": [0, *SEVERITIES],
                        "f1": [clean, *corrupted.loc[corrupted["corruption"] == name].sort_values("severity")["f1"]],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
