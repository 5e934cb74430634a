"""The split and the seed's offline augmentation (its ``run_augmentation.py`` and ``garbage.py``).

1. Split the labelled photos 80/20 into train and validation, stratified: every class appears in
   validation, and class proportions stay close to the split fraction.
2. Resize each photo once to the working size (its longer side), never augmenting full-size arrays.
3. Keep the original and write `passes` augmented versions of each *training* photo, each pass the
   seed's chain in torchvision ``transforms.v2``: RandomResizedCrop, horizontal and vertical flips,
   rotation by any angle, brightness and contrast jitter, Gaussian blur (kernel 3–7, p = 0.3),
   SanitizeBoundingBoxes. Validation photos are only resized.
   Beyond the seed, a box that lies mostly off the picture after the crop and rotation (less than
   `min_visible` of it on real pixels) is dropped: it would label a chocolate that is gone.
4. Remove versions left without a chocolate, one log line each (the seed's ``garbage.py``).

Output, in the YOLO layout the seed used: ``train/images``, ``train/labels``, ``val/images``,
``val/labels``, ``split.json`` and ``manifest.json``. Each version's randomness is seeded by
(seed, photo, pass), so the files are byte-identical for a seed whatever the number of workers,
and a rerun whose manifest matches does nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from chocolib import classes, dataset, fileio
from chocolib.blur import motion_kernel
from chocolib.errors import ChocoError
from chocolib.labels import Box, read_label_file

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class AugmentParams:
    """Everything that decides the output bytes (recorded in the manifest)."""

    passes: int = 10
    val_fraction: float = 0.2
    seed: int = 0
    work_side: int = 800  # longer side of every written image, in pixels
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop area fraction (torchvision's default, as the seed)
    crop_ratio_spread: float = 4 / 3  # crop aspect within [a / spread, a * spread] of the photo's a
    rotation_degrees: tuple[float, float] = (0.0, 360.0)
    brightness: tuple[float, float] = (0.5, 1.5)
    contrast: tuple[float, float] = (0.5, 1.5)
    blur_kernels: tuple[int, ...] = (3, 5, 7)
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_p: float = 0.3
    min_box_side: float = 2.0  # SanitizeBoundingBoxes: boxes thinner than this (pixels) are dropped
    # A box must lie at least this much on real picture pixels (not cropped away, not on the
    # rotation's black fill), else it labels a chocolate that is no longer there. 0 = the seed.
    min_visible: float = 0.3
    jpeg_quality: int = 95

    def __post_init__(self):
        if self.passes < 0:
            raise ChocoError(f"--passes must be 0 or more, got {self.passes}")
        if not 0 < self.val_fraction < 1:
            raise ChocoError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        if self.work_side < 32:
            raise ChocoError(f"working size must be at least 32 pixels, got {self.work_side}")


# --------------------------------------------------------------------------------------------
# The split
# --------------------------------------------------------------------------------------------
def stratified_split(presence: dict[str, np.ndarray], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split photo stems into (train, val) so that every class appears in validation.

    `presence[stem]` holds the photo's count per class. First, photos are drawn into validation
    until every class is covered (rarest class first, preferring the photo that covers most missing
    classes); then the remaining places go, one by one, to the photo that brings validation's
    class totals closest to `val_fraction` of the whole. Ties are broken by a seeded shuffle.
    If covering every class needs more photos than the fraction allows, validation grows (logged).
    """
    stems = sorted(presence)
    rng = np.random.default_rng([seed, 1])
    order = list(rng.permutation(stems))
    counts = np.stack([presence[s] for s in stems])
    totals = counts.sum(axis=0)
    target = val_fraction * totals
    n_val = max(1, round(val_fraction * len(stems)))
    val: list[str] = []

    def remaining() -> list[str]:
        return [s for s in order if s not in val]

    present = [c for c in range(classes.NUM_CLASSES) if totals[c] > 0]
    photos_with = {c: sum(1 for s in stems if presence[s][c] > 0) for c in present}
    for c in sorted(present, key=lambda c: (photos_with[c], c)):
        covered = np.stack([presence[s] for s in val]).sum(axis=0) if val else np.zeros(classes.NUM_CLASSES)
        if covered[c] > 0:
            continue
        missing = covered == 0
        candidates = [s for s in remaining() if presence[s][c] > 0]
        val.append(max(candidates, key=lambda s: int(((presence[s] > 0) & missing).sum())))
    if len(val) > n_val:
        log.warning(
            "covering all %d classes in validation needs %d photos, more than %.0f%% of %d: validation has %d photos",
            len(present),
            len(val),
            100 * val_fraction,
            len(stems),
            len(val),
        )
    while len(val) < n_val:
        current = np.stack([presence[s] for s in val]).sum(axis=0)
        val.append(min(remaining(), key=lambda s: float(((current + presence[s] - target) ** 2).sum())))
    single = [classes.KAGGLE_NAMES[c] for c in present if photos_with[c] == 1]
    if single:
        log.warning("only one photo shows %s: it is in validation, so training never sees it", ", ".join(single))
    return sorted(s for s in stems if s not in val), sorted(val)


# --------------------------------------------------------------------------------------------
# One photo → its versions (runs in worker processes)
# --------------------------------------------------------------------------------------------
def build_transform(params: AugmentParams, height: int, width: int):
    """The seed's geometric and photometric chain, out at (height, width): the input's own size
    for notebook 02's versions, the network's input for YOLO12's online draws (`chocolib.train_yolo`).

    Clamping and SanitizeBoundingBoxes come after, in `sanitize`, which first measures how much of
    each object is left on real pixels.
    """
    from torchvision.transforms import v2

    aspect = width / height
    blur = v2.RandomChoice([v2.GaussianBlur(kernel_size=k, sigma=params.blur_sigma) for k in params.blur_kernels])
    return v2.Compose(
        [
            v2.RandomResizedCrop(
                size=(height, width),
                scale=params.crop_scale,
                ratio=(aspect / params.crop_ratio_spread, aspect * params.crop_ratio_spread),
                antialias=True,
            ),
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomVerticalFlip(p=0.5),
            v2.RandomRotation(degrees=params.rotation_degrees, interpolation=v2.InterpolationMode.BILINEAR),
            v2.ColorJitter(brightness=params.brightness, contrast=params.contrast),
            v2.RandomApply([blur], p=params.blur_p),
        ]
    )


def visible_fraction(boxes_xyxy, extent_xyxy, valid):
    """Share of each object left on real picture pixels (`valid` == 1).

    `boxes_xyxy` are the boxes clamped at every step (what is written); `extent_xyxy` the same
    boxes never clamped, i.e. the whole object's extent wherever it went: real pixels inside the
    first, over the area of the second.
    """
    import torch

    height, width = valid.shape[-2:]
    integral = torch.nn.functional.pad(valid.to(torch.float64).reshape(height, width).cumsum(0).cumsum(1), (1, 0, 1, 0))
    x0 = boxes_xyxy[:, 0].floor().clamp(0, width).long()
    y0 = boxes_xyxy[:, 1].floor().clamp(0, height).long()
    x1 = boxes_xyxy[:, 2].ceil().clamp(0, width).long()
    y1 = boxes_xyxy[:, 3].ceil().clamp(0, height).long()
    inside = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    extent = ((extent_xyxy[:, 2] - extent_xyxy[:, 0]) * (extent_xyxy[:, 3] - extent_xyxy[:, 1])).clamp(min=1)
    return (inside / extent.double()).clamp(max=1).float()


def sanitize(sample: dict, params: AugmentParams) -> dict:
    """Drop boxes of objects mostly off the picture, then clamp and SanitizeBoundingBoxes (torchvision).

    `sample` holds ``image``, ``boxes`` (clamped at each step, as the seed's), ``extent`` (the same
    boxes unclamped), ``labels`` and ``valid`` (a mask of the photo's own pixels).
    """
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    def xyxy(boxes):
        return v2.functional.convert_bounding_box_format(boxes.as_subclass(torch.Tensor), old_format="CXCYWH", new_format="XYXY")

    keep = visible_fraction(xyxy(sample["boxes"]), xyxy(sample["extent"]), sample["valid"]) >= params.min_visible
    boxes = sample["boxes"]
    kept = tv_tensors.wrap(boxes.as_subclass(torch.Tensor)[keep], like=boxes)
    cleaned = v2.Compose([v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=params.min_box_side)])
    return cleaned({"image": sample["image"], "boxes": kept, "labels": sample["labels"][keep]})


def chain_input(pixels, pixel_boxes, labels) -> dict:
    """What `build_transform` then `sanitize` take: a uint8 (3, H, W) image, its boxes (CXCYWH
    pixels, clamped at each step as the seed's), the same boxes never clamped (`extent`), their
    labels and the mask of the photo's own pixels (`valid`)."""
    import torch
    from torchvision import tv_tensors

    height, width = pixels.shape[-2:]
    return {
        "image": tv_tensors.Image(pixels),
        "boxes": tv_tensors.BoundingBoxes(pixel_boxes, format="CXCYWH", canvas_size=(height, width), clamping_mode="hard"),
        "extent": tv_tensors.BoundingBoxes(pixel_boxes, format="CXCYWH", canvas_size=(height, width), clamping_mode=None),
        "labels": labels,
        "valid": tv_tensors.Mask(torch.ones((1, height, width), dtype=torch.uint8)),
    }


def version_seed(seed: int, stem: str, pass_index: int) -> int:
    """The torch seed of one version: independent of the order or process it is made in."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{stem}:{pass_index}".encode()).digest()[:8], "little") & (2**63 - 1)


def version_name(stem: str, pass_index: int) -> str:
    return stem if pass_index == 0 else f"{stem}_aug{pass_index:02d}"


def _jpeg(image_chw, quality: int) -> bytes:
    return dataset.encode_jpeg(Image.fromarray(image_chw.permute(1, 2, 0).numpy()), quality)


def _yolo_text(labels, boxes_cxcywh, height: int, width: int) -> str:
    scale = np.array([width, height, width, height], dtype=np.float64)
    lines = []
    for cls, box in zip(labels.tolist(), boxes_cxcywh.double().numpy() / scale):
        lines.append(f"{cls} {box[0]:.6f} {box[1]:.6f} {box[2]:.6f} {box[3]:.6f}")
    return "".join(line + "\n" for line in lines)


def augment_photo(photo: Path, boxes: list[Box], stem: str, pass_indices, params: AugmentParams):
    """Yield (pass index, JPEG bytes, YOLO text, boxes in, boxes out) for each pass in `pass_indices`.

    The photo is decoded once, at the working size; pass 0 is the resized original. Each pass is
    seeded on its own, so any single version can be made again (`replay`).
    """
    import torch

    image = dataset.read_photo(photo, params.work_side)
    width, height = image.size
    pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    normalised = torch.tensor([[b.cx, b.cy, b.w, b.h] for b in boxes], dtype=torch.float64).reshape(-1, 4)
    pixel_boxes = (normalised * torch.tensor([width, height, width, height])).float()
    sample = chain_input(pixels, pixel_boxes, torch.tensor([b.cls for b in boxes], dtype=torch.int64))
    transform = build_transform(params, height, width)
    for pass_index in pass_indices:
        if pass_index == 0:
            text = _yolo_text(sample["labels"], sample["boxes"], height, width)
            yield 0, _jpeg(sample["image"], params.jpeg_quality), text, len(boxes), len(boxes)
            continue
        torch.manual_seed(version_seed(params.seed, stem, pass_index))
        out = sanitize(transform(sample), params)
        h, w = out["image"].shape[-2:]
        yield (
            pass_index,
            _jpeg(out["image"], params.jpeg_quality),
            _yolo_text(out["labels"], out["boxes"], h, w),
            len(boxes),
            len(out["labels"]),
        )


def _work(job) -> list[dict]:
    """Worker: write one photo's versions under the (temporary) output folder; return their stats."""
    import torch

    torch.set_num_threads(1)  # one photo per process: parallelism comes from the processes
    photo, boxes, stem, split, passes, params, out = job
    stats = []
    for pass_index, jpeg, text, boxes_in, boxes_out in augment_photo(Path(photo), boxes, stem, range(passes + 1), params):
        name = version_name(stem, pass_index)
        kept = boxes_out > 0 or pass_index == 0
        if kept:
            (out / split / "images" / f"{name}.jpg").write_bytes(jpeg)
            (out / split / "labels" / f"{name}.txt").write_text(text, encoding="utf-8")
        stats.append(
            {
                "name": name,
                "stem": stem,
                "split": split,
                "pass": pass_index,
                "boxes_in": boxes_in,
                "boxes_out": boxes_out,
                "kept": kept,
                "classes_out": [int(line.split()[0]) for line in text.splitlines()] if kept else [],
            }
        )
    return stats


def replay(photo: str | Path, label_file: str | Path, pass_index: int, params: AugmentParams) -> tuple[Image.Image, str]:
    """Make one version again, exactly as `augment` made it (also a removed one): (image, YOLO text)."""
    boxes = read_label_file(label_file)
    ((_, jpeg, text, _, _),) = augment_photo(Path(photo), boxes, Path(label_file).stem, [pass_index], params)
    return Image.open(io.BytesIO(jpeg)), text


# --------------------------------------------------------------------------------------------
# The whole folder
# --------------------------------------------------------------------------------------------
@dataclass
class AugmentSummary:
    out: Path
    train_images: int
    val_images: int
    removed: list[str]
    skipped: bool = False
    manifest: dict = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 0

    @property
    def images_per_second(self) -> float:
        """Versions made (written or removed) per second of wall time."""
        made = self.train_images + self.val_images + len(self.removed)
        return made / self.seconds if self.seconds else float("nan")

    def line(self) -> str:
        return f"train={self.train_images} val={self.val_images} removed={len(self.removed)}"


def _inputs(images: Path, labels: Path) -> list[tuple[str, Path, Path]]:
    photos = dataset.list_photos(images, verify=True)
    label_files = sorted(p for p in labels.glob("*.txt"))
    if not label_files:
        raise ChocoError("no label files (*.txt): run notebooks/01_annotation_import.ipynb first", labels)
    found = []
    for label in label_files:
        if label.stem not in photos:
            raise ChocoError(f"no photo {label.stem} in {images}/ for this label file", label)
        found.append((label.stem, photos[label.stem], label))
    return found


def _fingerprint(inputs) -> str:
    """Identifies the inputs cheaply: label contents, photo names and sizes."""
    digest = hashlib.sha256()
    for stem, photo, label in inputs:
        digest.update(f"{stem}:{photo.name}:{photo.stat().st_size}:".encode())
        digest.update(label.read_bytes())
    return digest.hexdigest()


def _manifest_key(params: AugmentParams, fingerprint: str) -> dict:
    return {"manifest_version": MANIFEST_VERSION, "params": json.loads(json.dumps(asdict(params))), "inputs": fingerprint}


def augment(
    images: str | Path, labels: str | Path, out: str | Path, params: AugmentParams = AugmentParams(), workers: int | None = None
) -> AugmentSummary:
    """Split, augment and clean; write `out` whole (atomically) and return the summary."""
    images, labels, out = Path(images), Path(labels), Path(out)
    inputs = _inputs(images, labels)
    key = _manifest_key(params, _fingerprint(inputs))
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        previous = json.loads(manifest_path.read_text())
        if all(previous.get(k) == v for k, v in key.items()):
            log.info("augment: %s already holds this split and these passes (manifest matches): nothing to do", out)
            counts = previous["counts"]
            return AugmentSummary(out, counts["train_images"], counts["val_images"], previous["removed"], True, previous)
    elif out.is_dir() and any(out.iterdir()):
        raise ChocoError("folder is not empty and holds no augmentation manifest: choose a new folder", out)

    boxes = {stem: read_label_file(label) for stem, _photo, label in inputs}
    presence = {stem: np.bincount([b.cls for b in found], minlength=classes.NUM_CLASSES) for stem, found in boxes.items()}
    train, val = stratified_split(presence, params.val_fraction, params.seed)

    workers = workers or min(os.cpu_count() or 1, len(inputs))
    started = time.perf_counter()
    stats: list[dict] = []
    with fileio.atomic_dir(out) as tmp:
        for split in ("train", "val"):
            (tmp / split / "images").mkdir(parents=True)
            (tmp / split / "labels").mkdir(parents=True)
        in_val = set(val)
        jobs = [
            (str(photo), boxes[stem], stem, "val" if stem in in_val else "train", 0 if stem in in_val else params.passes, params, tmp)
            for stem, photo, _label in inputs
        ]
        # spawn, not fork: a forked child of a process that already ran torch can hang in OpenMP
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_work, job) for job in jobs]
            with tqdm(total=len(jobs) * (params.passes + 1) - len(val) * params.passes, desc="augment", unit="img") as bar:
                for future in as_completed(futures):
                    result = future.result()
                    stats.extend(result)
                    bar.update(len(result))
        stats.sort(key=lambda s: (s["split"], s["stem"], s["pass"]))
        removed = [s["name"] for s in stats if not s["kept"]]
        for name in removed:
            log.info("removed %s: no chocolate left after augmentation", name)
        seconds = time.perf_counter() - started
        counts = {
            "train_photos": len(train),
            "val_photos": len(val),
            "train_images": sum(1 for s in stats if s["kept"] and s["split"] == "train"),
            "val_images": sum(1 for s in stats if s["split"] == "val"),
            "removed": len(removed),
            # boxes cropped or rotated away, in kept and removed versions alike
            "boxes_dropped": sum(s["boxes_in"] - s["boxes_out"] for s in stats),
        }
        fileio.write_json(tmp / "split.json", {"seed": params.seed, "val_fraction": params.val_fraction, "train": train, "val": val})
        # no timings in the folder: identical runs must give identical files
        manifest = {**key, "counts": counts, "removed": removed, "versions": stats}
        fileio.write_json(tmp / "manifest.json", manifest)
    summary = AugmentSummary(out, counts["train_images"], counts["val_images"], removed, False, manifest, seconds, workers)
    log.info(
        "augment: %d train photos × (1 + %d passes) and %d val photos in %.1f s with %d workers (%.1f images/s): %s",
        len(train),
        params.passes,
        len(val),
        seconds,
        workers,
        summary.images_per_second,
        summary.line(),
    )
    return summary


def class_totals(manifest: dict):
    """Boxes per class (Kaggle order): the training photos, validation, and train after augmentation."""
    import pandas as pd

    versions = pd.DataFrame(manifest["versions"])

    def tally(rows) -> pd.Series:
        counts = np.bincount([c for cls in rows["classes_out"] for c in cls], minlength=classes.NUM_CLASSES)
        return pd.Series(counts, index=list(classes.KAGGLE_NAMES))

    return pd.DataFrame(
        {
            "train photos": tally(versions[(versions["split"] == "train") & (versions["pass"] == 0)]),
            "validation": tally(versions[versions["split"] == "val"]),
            "train after augmentation": tally(versions[(versions["split"] == "train") & versions["kept"]]),
        }
    )


def showcase_stem(manifest: dict) -> str:
    """The training photo to show with its versions: one that lost a version, else the busiest."""
    versions = [v for v in manifest["versions"] if v["split"] == "train"]
    lost = {v["stem"] for v in versions if not v["kept"]}
    originals = [v for v in versions if v["pass"] == 0 and (v["stem"] in lost or not lost)]
    return min(originals, key=lambda v: (-v["boxes_in"], v["stem"]))["stem"]


def version_images(
    summary: AugmentSummary, photos: str | Path, labels: str | Path, names: list[str], params: AugmentParams
) -> list[tuple[dict, Image.Image]]:
    """(manifest entry, image) for the named versions: read from the output, or replayed if removed."""
    photo_paths = dataset.list_photos(photos)
    entries = {v["name"]: v for v in summary.manifest["versions"]}
    found = []
    for name in names:
        entry = entries[name]
        if entry["kept"]:
            image = Image.open(summary.out / entry["split"] / "images" / f"{name}.jpg")
        else:
            image, _ = replay(photo_paths[entry["stem"]], Path(labels) / f"{entry['stem']}.txt", entry["pass"], params)
        found.append((entry, image))
    return found


# --------------------------------------------------------------------------------------------
# Online, at training time: what real cameras do to a photo (beyond the seed)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CameraParams:
    """How far `CameraEffects` goes; each effect is drawn on its own with probability `p`.

    The seed's chain varies geometry, brightness, contrast and (lightly) focus. Real photos also
    lie partly in the shadow of a hand, a lamp or a phone, differ in exposure and contrast, white balance (a colour cast), saturation and hue, are re-scaled
    and re-compressed by phones, and carry sensor noise, defocus and camera shake. The ranges reach
    as far as a photo a person would still count: down to a sixth of the side, noise up to a tenth of
    the range, JPEG quality 20; hue stays within ±0.03 of a turn, so a milk chocolate does not become
    a dark one.
    """

    p: float = 0.3
    exposure: tuple[float, float] = (-0.2, 0.3)  # added to every channel, in [0, 1] units: darker or lighter
    contrast: tuple[float, float] = (0.35, 1.3)  # spread around the mean
    channel_gain: tuple[float, float] = (0.8, 1.2)  # per-channel multiplier: white balance
    saturation: tuple[float, float] = (0.6, 1.4)
    hue: tuple[float, float] = (-0.03, 0.03)
    downscale: tuple[float, float] = (0.16, 0.8)  # resolution loss: down to this share of the side, then back
    blur_sigma: tuple[float, float] = (0.5, 3.5)  # out of focus, pixels at the training image's size
    motion_length: tuple[int, int] = (5, 21)  # camera shake: a line kernel this long, any direction
    noise_sigma: tuple[float, float] = (0.01, 0.10)  # Gaussian sensor noise, in [0, 1] units
    jpeg_quality: tuple[int, int] = (20, 90)
    shadow_light: tuple[float, float] = (0.4, 0.85)  # a cast shadow: the light left under it
    shadow_softness: tuple[float, float] = (0.5, 8.0)  # its edge's blur, pixels


def shadow_mask(height: int, width: int, softness: float, generator) -> np.ndarray:
    """A cast shadow's mask (H × W float32 in [0, 1]): a random polygon of 3–6 corners, some of
    them off the picture, its edge blurred by `softness` pixels; drawn from torch `generator`."""
    import cv2
    import torch

    corners = int(torch.randint(3, 7, (1,), generator=generator))
    centre = torch.rand(2, generator=generator).numpy() * [width, height]
    angles = np.sort(torch.rand(corners, generator=generator).numpy() * 2 * np.pi)
    radii = (0.2 + 0.6 * torch.rand(corners, generator=generator).numpy()) * max(height, width)
    points = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None]
    mask = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [np.rint(points).astype(np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), softness)


def camera_effects(params: CameraParams = CameraParams()):
    """A `transforms.v2` transform that changes only the image (boxes and labels pass through):
    exposure, contrast, colour cast, a cast shadow, saturation, hue, resolution loss, blur, camera shake, sensor
    noise and JPEG re-compression, each drawn with probability `params.p`, in the order a camera
    applies them. It draws from torch's global random stream, which the training loop seeds per
    epoch, so a run is reproducible."""
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    functional = v2.functional
    effects = ("exposure", "contrast", "cast", "shadow", "saturation", "hue", "resolution", "blur", "motion", "noise", "jpeg")

    def uniform(low: float, high: float) -> float:
        return float(torch.empty(1).uniform_(low, high))

    class CameraEffects(v2.Transform):
        _transformed_types = (tv_tensors.Image,)

        def make_params(self, flat_inputs):
            drawn = {name: bool(torch.rand(1) < params.p) for name in effects}
            return {
                "exposure": uniform(*params.exposure) if drawn["exposure"] else None,
                "contrast": uniform(*params.contrast) if drawn["contrast"] else None,
                "gain": torch.empty(3, 1, 1).uniform_(*params.channel_gain) if drawn["cast"] else None,
                "shadow": (uniform(*params.shadow_light), uniform(*params.shadow_softness)) if drawn["shadow"] else None,
                "saturation": uniform(*params.saturation) if drawn["saturation"] else None,
                "hue": uniform(*params.hue) if drawn["hue"] else None,
                "scale": uniform(*params.downscale) if drawn["resolution"] else None,
                "sigma": uniform(*params.blur_sigma) if drawn["blur"] else None,
                "motion": (int(torch.randint(params.motion_length[0], params.motion_length[1] + 1, (1,))), uniform(0, np.pi))
                if drawn["motion"]
                else None,
                "noise": uniform(*params.noise_sigma) if drawn["noise"] else None,
                "quality": int(torch.randint(params.jpeg_quality[0], params.jpeg_quality[1] + 1, (1,))) if drawn["jpeg"] else None,
                "noise_seed": int(torch.randint(0, 2**31 - 1, (1,))),
            }

        def transform(self, image, p):
            height, width = image.shape[-2:]
            x = image.as_subclass(torch.Tensor)
            if p["exposure"] is not None or p["contrast"] is not None or p["gain"] is not None:
                y = x.float() / 255
                if p["exposure"] is not None:
                    y = y + p["exposure"]
                if p["contrast"] is not None:
                    y = y.mean() + (y - y.mean()) * p["contrast"]
                if p["gain"] is not None:
                    y = y * p["gain"]
                x = (y * 255).round().clamp(0, 255).to(torch.uint8)
            if p["shadow"] is not None:
                light, softness = p["shadow"]
                mask = torch.from_numpy(shadow_mask(height, width, softness, torch.Generator().manual_seed(p["noise_seed"] + 1)))
                x = (x.float() * (1 - (1 - light) * mask)).round().clamp(0, 255).to(torch.uint8)
            if p["saturation"] is not None:
                x = functional.adjust_saturation(x, p["saturation"])
            if p["hue"] is not None:
                x = functional.adjust_hue(x, p["hue"])
            if p["scale"] is not None:
                small = (max(8, round(height * p["scale"])), max(8, round(width * p["scale"])))
                x = functional.resize(functional.resize(x, list(small), antialias=True), [height, width], antialias=False)
            if p["sigma"] is not None:
                kernel = 2 * round(3 * p["sigma"]) + 1
                x = functional.gaussian_blur(x, [kernel, kernel], [p["sigma"], p["sigma"]])
            if p["motion"] is not None:
                kernel = torch.from_numpy(motion_kernel(*p["motion"]))
                padded = torch.nn.functional.pad(x.float()[None], [kernel.shape[0] // 2] * 4, mode="reflect")
                x = (
                    torch.nn.functional.conv2d(padded, kernel.expand(3, 1, *kernel.shape), groups=3)[0]
                    .round()
                    .clamp(0, 255)
                    .to(torch.uint8)
                )
            if p["noise"] is not None:
                generator = torch.Generator().manual_seed(p["noise_seed"])
                noise = torch.randn(x.shape, generator=generator) * (255 * p["noise"])
                x = (x.float() + noise).round().clamp(0, 255).to(torch.uint8)
            if p["quality"] is not None:
                x = functional.jpeg(x, p["quality"])
            return tv_tensors.wrap(x, like=image)

    return CameraEffects()


@dataclass(frozen=True)
class ScaleParams:
    """How far the online zoom goes, in both directions, as a person steps back from the table or
    leans in: the photo shrunk onto a canvas of its own size (SSD's zoom-out: Liu et al., "SSD:
    Single Shot MultiBox Detector", ECCV 2016) or a crop of it enlarged. Each sample is zoomed out
    with probability `out_p`, in with `in_p`, else left at its scale; the factor is log-uniform."""

    out_p: float = 0.4
    out_share: tuple[float, float] = (0.45, 0.95)  # the photo's side on the canvas, as a share
    in_p: float = 0.3
    in_zoom: tuple[float, float] = (1.05, 2.0)  # the crop's enlargement
    #: a chocolate cut by a zoom-in's frame stays labelled when this share of its box is left
    #: (less: it is dropped, and its pixels teach that a sliver is not a chocolate)
    min_visible: float = 0.5


SCALE_AUGMENTS = ("wide", "mild")


class ScaleJitter:
    """Online zoom-out and zoom-in with exact boxes: ``(image, target) → (image, target)`` on a
    sample whose boxes are ``tv_tensors.BoundingBoxes``. The zoom-out's border is the photo's
    median colour, flat (SSD fills with the mean): the network learns that small chocolates are
    chocolates, not what a table looks like. It draws from torch's global random stream, which the
    training loop seeds per epoch."""

    def __init__(self, params: ScaleParams = ScaleParams()):
        self.params = params

    @staticmethod
    def _log_uniform(low: float, high: float) -> float:
        import torch

        return float(np.exp(float(torch.empty(1).uniform_(np.log(low), np.log(high)))))

    def __call__(self, image, target):
        import torch

        draw = float(torch.rand(1))
        if draw < self.params.out_p:
            return self.zoom_out(image, target, self._log_uniform(*self.params.out_share))
        if draw < self.params.out_p + self.params.in_p:
            return self.zoom_in(image, target, self._log_uniform(*self.params.in_zoom))
        return image, target

    @staticmethod
    def _xyxy(boxes):
        import torch
        from torchvision.ops import box_convert

        return box_convert(boxes.as_subclass(torch.Tensor), boxes.format.value.lower(), "xyxy")

    @staticmethod
    def _wrap(image, target, pixels, xyxy, keep=None):
        from torchvision import tv_tensors
        from torchvision.ops import box_convert

        boxes = target["boxes"]
        height, width = pixels.shape[-2:]
        labels = target["labels"] if keep is None else target["labels"][keep]
        xyxy = xyxy if keep is None else xyxy[keep]
        new = tv_tensors.BoundingBoxes(
            box_convert(xyxy, "xyxy", boxes.format.value.lower()), format=boxes.format, canvas_size=(height, width)
        )
        return tv_tensors.wrap(pixels, like=image) if isinstance(image, tv_tensors.Image) else pixels, {
            **target,
            "boxes": new,
            "labels": labels,
        }

    def zoom_out(self, image, target, share: float):
        import torch
        from torchvision.transforms import v2

        height, width = image.shape[-2:]
        small_h, small_w = max(8, round(height * share)), max(8, round(width * share))
        x = image.as_subclass(torch.Tensor)
        fill = x.reshape(3, -1).median(dim=1).values.view(3, 1, 1)
        canvas = fill.expand(3, height, width).clone()
        top = int(torch.randint(0, height - small_h + 1, (1,)))
        left = int(torch.randint(0, width - small_w + 1, (1,)))
        canvas[:, top : top + small_h, left : left + small_w] = v2.functional.resize(x, [small_h, small_w], antialias=True)
        scale = torch.tensor([small_w / width, small_h / height] * 2)
        xyxy = self._xyxy(target["boxes"]) * scale + torch.tensor([left, top, left, top], dtype=torch.float32)
        return self._wrap(image, target, canvas, xyxy)

    def zoom_in(self, image, target, zoom: float):
        import torch
        from torchvision.transforms import v2

        height, width = image.shape[-2:]
        crop_h, crop_w = max(8, round(height / zoom)), max(8, round(width / zoom))
        top = int(torch.randint(0, height - crop_h + 1, (1,)))
        left = int(torch.randint(0, width - crop_w + 1, (1,)))
        crop = v2.functional.resize(
            image.as_subclass(torch.Tensor)[:, top : top + crop_h, left : left + crop_w], [height, width], antialias=True
        )
        xyxy = self._xyxy(target["boxes"]) - torch.tensor([left, top, left, top], dtype=torch.float32)
        area = ((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])).clamp(min=1e-6)
        clipped = torch.stack(
            [xyxy[:, 0].clamp(0, crop_w), xyxy[:, 1].clamp(0, crop_h), xyxy[:, 2].clamp(0, crop_w), xyxy[:, 3].clamp(0, crop_h)], dim=1
        )
        visible = ((clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])) / area
        scale = torch.tensor([width / crop_w, height / crop_h] * 2)
        return self._wrap(image, target, crop, clipped * scale, keep=visible >= self.params.min_visible)


@dataclass(frozen=True)
class ForeshortenParams:
    """How far a tilted camera squeezes the table: a camera tilted by t from looking straight down
    shortens the table along the tilt by cos t, so round chocolates become ellipses — 0.6 is a tilt
    of 53°, as a phone held at arm's length over a table. The twin's photos are all taken from
    straight above, and copy-paste squeezes only the chocolates it pastes (`CopyPasteParams.squeeze`)."""

    p: float = 0.5  # share of samples foreshortened
    squeeze: tuple[float, float] = (0.6, 1.0)  # the shortened axis' share of its length


class Foreshorten:
    """Online foreshortening with exact boxes: ``(image, target) → (image, target)``, one axis of the
    photo (either, at random) resized by a factor drawn from `params.squeeze`, with probability
    `params.p`; an axis-aligned box stays exact under a resize of either axis. It draws from torch's
    global random stream, which the training loop seeds per epoch."""

    def __init__(self, params: ForeshortenParams = ForeshortenParams()):
        self.params = params

    def __call__(self, image, target):
        import torch
        from torchvision.transforms import v2

        if float(torch.rand(1)) >= self.params.p:
            return image, target
        squeeze = float(torch.empty(1).uniform_(*self.params.squeeze))
        height, width = image.shape[-2:]
        if int(torch.randint(0, 2, (1,))):
            size = [height, max(8, round(width * squeeze))]
        else:
            size = [max(8, round(height * squeeze)), width]
        boxes = v2.functional.resize(target["boxes"], size)
        return v2.functional.resize(image, size, antialias=True), {**target, "boxes": boxes}


def online_geometry(scale: str = "wide", foreshorten: bool = False):
    """Online at training time: flips, quarter turns and a zoom, all exact for axis-aligned boxes
    (a turn by any other angle would inflate every box to the hull of a rotated one). `scale`:
    ``wide`` zooms out or in over 0.45–2× of the photo's scale (`ScaleJitter`); ``mild`` is the
    zoom of 0.75–1.25 (black border) this recipe had before, which left a camera one step farther
    away unseen. `foreshorten`: half the photos then squeezed along one axis, as by a tilted camera
    (`Foreshorten`). Boxes left thinner than 2 px are dropped (SanitizeBoundingBoxes)."""
    from torchvision.transforms import v2

    if scale not in SCALE_AUGMENTS:
        raise ChocoError(f"scale_augment must be one of {', '.join(SCALE_AUGMENTS)}, not {scale!r}")
    quarter_turns = v2.RandomChoice([v2.RandomRotation(degrees=(angle, angle), expand=True) for angle in (0, 90, 180, 270)])
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(p=0.5),
            v2.RandomVerticalFlip(p=0.5),
            quarter_turns,
            ScaleJitter() if scale == "wide" else v2.RandomAffine(degrees=0, scale=(0.75, 1.25)),
            *([Foreshorten()] if foreshorten else []),
            v2.ClampBoundingBoxes(),
            v2.SanitizeBoundingBoxes(min_size=2.0),
        ]
    )


def is_original(stem: str) -> bool:
    """Whether a file of notebook 02's folder is a photo's resized original (pass 0), not a version."""
    return stem == version_name(stem.split("_aug")[0], 0)
