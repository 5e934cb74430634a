"""A dataset folder in the Kaggle layout: read it, check it, decode its photos.

Layout (the IAPR 2025 Kaggle challenge)::

    train/L<id>.JPG        photos with counts in train.csv
    train.csv              id + the 13 classes in Kaggle column order, one row per photo
    test/L<id>.JPG         photos to submit counts for
    sample_submission.csv  the test ids, with the header a submission must have
    references/<name>.JPG  one photo per class (optional for this pipeline)

Every problem is reported as a ChocoError naming the file (and line for CSVs).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from chocolib import classes
from chocolib.errors import ChocoError
from chocolib.labels import read_label_file

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# EXIF orientations 5–8 turn the picture by 90°: width and height swap.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


# --------------------------------------------------------------------------------------------
# Photos
# --------------------------------------------------------------------------------------------
def list_photos(folder: str | Path, verify: bool = False) -> dict[str, Path]:
    """Photos in `folder` (not recursive) by file stem, sorted by stem.

    An empty folder, or two photos whose names differ only in case or extension (``L1.JPG`` and
    ``l1.jpg``), is an error naming them; other files are skipped with one log line. With `verify`,
    every photo is decoded (at 1/8 scale, cheap) first, so that a corrupt, truncated or non-photo
    file stops the command before it writes anything.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ChocoError("photo folder not found", folder)
    found: dict[str, Path] = {}
    by_lower: dict[str, Path] = {}
    skipped = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix.lower() not in PHOTO_SUFFIXES or not path.is_file():
            skipped.append(path.name)
            continue
        twin = by_lower.get(path.stem.lower())
        if twin is not None:
            raise ChocoError(
                f"two photos share the name {twin.stem!r}: {twin.name} and {path.name} (names differing only in "
                "case or extension are one photo id)",
                folder,
            )
        found[path.stem] = by_lower[path.stem.lower()] = path
    if skipped:
        log.info(
            "%s: %d file(s) that are not photos skipped (%s)",
            folder,
            len(skipped),
            ", ".join(skipped[:3]) + (", …" if len(skipped) > 3 else ""),
        )
    if not found:
        raise ChocoError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in the folder", folder)
    if verify:
        for path in tqdm(found.values(), desc=f"check {folder.name}/", unit="photo", leave=False):
            verify_photo(path)
    return found


def photo_id(stem: str) -> str:
    """Kaggle id of a photo: ``L1000756`` → ``1000756`` (the CSVs have no ``L`` prefix)."""
    return stem[1:] if stem[:1] in ("L", "l") and stem[1:].isdigit() else stem


def photo_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as the photo is displayed (EXIF orientation applied), from the header only."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError) as exc:
        raise ChocoError(f"cannot read photo: {exc}", path) from None
    return (height, width) if orientation in _SWAPPING_ORIENTATIONS else (width, height)


def read_photo(path: str | Path, max_side: int | None = None) -> Image.Image:
    """Decode a photo as RGB, upright (EXIF), optionally so that its longer side is `max_side`.

    With `max_side`, a JPEG is decoded at a reduced DCT scale (PIL ``draft``) before the final
    resize: a 6000×4000 photo wanted at 1333 px is decoded at 1500×1000, not in full.
    """
    try:
        with Image.open(path) as img:
            if max_side is not None:
                # draft keeps the decoded size >= the requested one, so quality is preserved
                scale = max_side / max(img.size)
                img.draft("RGB", (int(img.size[0] * scale), int(img.size[1] * scale)))
            img.load()
            img = ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise ChocoError(f"cannot decode photo: {exc}", path) from None
    if max_side is not None and max(img.size) != max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))), Image.BILINEAR)
    return img


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of a PIL image (deterministic for a Pillow version and quality)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def verify_photo(path: str | Path) -> None:
    """Decode the whole photo (at 1/8 scale, cheap) so a truncated or corrupt file fails here."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise ChocoError(f"cannot decode photo: {exc}", path) from None


# --------------------------------------------------------------------------------------------
# Count CSVs (train.csv, sample_submission.csv, a submission)
# --------------------------------------------------------------------------------------------
def check_header(header: list[str], path: str | Path) -> None:
    """The header must be exactly Kaggle's: ``id`` then the 13 names in Kaggle order."""
    header = [h.strip() for h in header]
    if header == list(classes.CSV_COLUMNS):
        return
    expected = ",".join(classes.CSV_COLUMNS)
    for position, (got, want) in enumerate(zip(header, classes.CSV_COLUMNS), start=1):
        if got != want:
            raise ChocoError(f"header column {position} is {got!r}, expected {want!r} (the header must be: {expected})", path, 1)
    raise ChocoError(f"header has {len(header)} columns, expected {len(classes.CSV_COLUMNS)}: {expected}", path, 1)


def read_counts(path: str | Path) -> pd.DataFrame:
    """Read a counts CSV in Kaggle's format: a DataFrame indexed by id (str), 13 int columns."""
    path = Path(path)
    if not path.is_file():
        raise ChocoError("counts file not found", path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as exc:
        raise ChocoError(f"not a UTF-8 text file: {exc.reason}", path) from None
    if not rows:
        raise ChocoError("empty file, expected a header line", path, 1)
    check_header(rows[0], path)
    ids: list[str] = []
    values: list[list[int]] = []
    seen: dict[str, int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(classes.CSV_COLUMNS):
            raise ChocoError(f"{len(row)} fields, expected {len(classes.CSV_COLUMNS)}", path, line_no)
        row_id = row[0].strip()
        if not row_id:
            raise ChocoError("empty id", path, line_no)
        if row_id in seen:
            raise ChocoError(f"id {row_id} already on line {seen[row_id]}", path, line_no)
        seen[row_id] = line_no
        counts = []
        for name, cell in zip(classes.KAGGLE_NAMES, row[1:]):
            cell = cell.strip()
            if not cell.isdigit():
                raise ChocoError(f"{name!r} is {cell!r}; counts must be non-negative integers", path, line_no)
            counts.append(int(cell))
        ids.append(row_id)
        values.append(counts)
    frame = pd.DataFrame(values, index=pd.Index(ids, name="id"), columns=list(classes.KAGGLE_NAMES), dtype="int64")
    return frame


# --------------------------------------------------------------------------------------------
# The whole folder
# --------------------------------------------------------------------------------------------
@dataclass
class KaggleDataset:
    root: Path
    train_photos: dict[str, Path]  # id → photo
    counts: pd.DataFrame  # train.csv, indexed by id
    test_photos: dict[str, Path] = field(default_factory=dict)  # id → photo
    submission_ids: list[str] = field(default_factory=list)  # sample_submission.csv order
    references: dict[str, Path] = field(default_factory=dict)  # Kaggle name → photo

    def summary(self) -> dict[str, int]:
        return {
            "train photos": len(self.train_photos),
            "chocolates in train.csv": int(self.counts.to_numpy().sum()),
            "test photos": len(self.test_photos),
            "reference photos": len(self.references),
        }


def _photos_by_id(folder: Path) -> dict[str, Path]:
    return {photo_id(stem): path for stem, path in list_photos(folder).items()}


def _match_ids(csv_path: Path, csv_ids, folder: Path, photos: dict[str, Path]) -> None:
    missing = [i for i in csv_ids if i not in photos]
    if missing:
        raise ChocoError(f"{len(missing)} id(s) have no photo in {folder}/, first: {missing[0]} (expected L{missing[0]}.JPG)", csv_path)
    extra = sorted(set(photos) - set(csv_ids))
    if extra:
        raise ChocoError(f"photo has no row in {csv_path.name} (id {extra[0]}; {len(extra)} such photo(s))", photos[extra[0]])


def _references(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        log.warning("%s: no references folder (not needed by the pipeline)", folder)
        return {}
    found: dict[str, Path] = {}
    for stem, path in list_photos(folder).items():
        name = classes.canonical_name(stem, where=str(path))
        if name in found:
            raise ChocoError(f"second reference photo for {name!r} (first: {found[name].name})", path)
        found[name] = path
    missing = [n for n in classes.KAGGLE_NAMES if n not in found]
    if missing:
        log.warning("%s: no reference photo for %s", folder, ", ".join(missing))
    return found


def open_dataset(root: str | Path, verify_photos: bool = True) -> KaggleDataset:
    """Read and check a dataset folder in the Kaggle layout.

    Checks: train.csv's header and values, every id has a photo and every photo an id, the test
    photos match sample_submission.csv, reference names are class names and, with
    `verify_photos`, every photo decodes.
    """
    root = Path(root)
    if not root.is_dir():
        raise ChocoError("dataset folder not found", root)
    train_dir, counts_path = root / "train", root / "train.csv"
    counts = read_counts(counts_path)
    train_photos = _photos_by_id(train_dir)
    _match_ids(counts_path, counts.index, train_dir, train_photos)
    train_photos = {i: train_photos[i] for i in counts.index}

    test_photos: dict[str, Path] = {}
    submission_ids: list[str] = []
    test_dir, sample_path = root / "test", root / "sample_submission.csv"
    if sample_path.exists():
        submission_ids = list(read_counts(sample_path).index)
        test_photos = _photos_by_id(test_dir)
        _match_ids(sample_path, submission_ids, test_dir, test_photos)
        test_photos = {i: test_photos[i] for i in submission_ids}
    elif test_dir.is_dir():
        raise ChocoError("test/ is present but sample_submission.csv is missing", sample_path)
    else:
        log.warning("%s: no test/ folder and no sample_submission.csv: nothing to submit for", root)

    dataset = KaggleDataset(root, train_photos, counts, test_photos, submission_ids, _references(root / "references"))
    if verify_photos:
        every_photo = [*train_photos.values(), *test_photos.values(), *dataset.references.values()]
        for path in tqdm(every_photo, desc="check photos", unit="photo"):
            verify_photo(path)
    log.info("dataset %s: %s", root, ", ".join(f"{v} {k}" for k, v in dataset.summary().items()))
    return dataset


# --------------------------------------------------------------------------------------------
# Training data for torchvision detectors (torch is imported on first use, so the data commands
# of the CLI start fast)
# --------------------------------------------------------------------------------------------
class DetectionDataset:
    """Images with YOLO label files, as torchvision detection samples.

    Reads a split folder written by `chocolib.augment` (``images/`` and ``labels/``) or any pair of
    folders. Each sample is ``(image, target)``: a uint8 ``tv_tensors.Image`` and a dict with
    ``boxes`` (``tv_tensors.BoundingBoxes`` in CXCYWH pixels, as the seed's loader made them),
    ``labels`` (model label ids 1–13, `chocolib.classes.LABEL_IDS`) and ``image_id``. `transforms`,
    if given, is a ``transforms.v2`` callable applied to ``(image, target)``.
    """

    def __init__(self, images: str | Path, labels: str | Path | None = None, transforms=None):
        images = Path(images)
        if labels is None and (images / "images").is_dir():
            images, labels = images / "images", images / "labels"
        labels = Path(labels) if labels is not None else images.parent / "labels"
        photos = list_photos(images)
        if not labels.is_dir():
            raise ChocoError("labels folder not found", labels)
        label_files = {p.stem: p for p in sorted(labels.glob("*.txt"))}
        for stem, path in label_files.items():
            if stem not in photos:
                raise ChocoError(f"no image {stem} in {images}/ for this label file", path)
        unlabelled = sorted(set(photos) - set(label_files))
        if unlabelled:
            raise ChocoError(f"{len(unlabelled)} image(s) have no label file in {labels}/, first: {photos[unlabelled[0]].name}", images)
        self.items = [(photos[stem], label_files[stem]) for stem in sorted(label_files)]
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.items)

    def stem(self, index: int) -> str:
        return self.items[index][0].stem

    def __getitem__(self, index: int):
        image, target = self.load(index)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def load(self, index: int):
        """Sample `index` as labelled, before `transforms`."""
        import numpy as np
        import torch
        from torchvision import tv_tensors

        photo, label = self.items[index]
        pixels = torch.from_numpy(np.asarray(read_photo(photo)).copy()).permute(2, 0, 1)
        height, width = pixels.shape[-2:]
        boxes = read_label_file(label)
        normalised = torch.tensor([[b.cx, b.cy, b.w, b.h] for b in boxes], dtype=torch.float32).reshape(-1, 4)
        target = {
            "boxes": tv_tensors.BoundingBoxes(
                normalised * torch.tensor([width, height, width, height]), format="CXCYWH", canvas_size=(height, width)
            ),
            "labels": torch.tensor([b.cls + 1 for b in boxes], dtype=torch.int64),  # 0 is background
            "image_id": index,
        }
        return tv_tensors.Image(pixels), target


def collate_fn(batch):
    """The seed's collate: lists of float images in [0, 1] and targets with XYXY boxes."""
    import torch
    from torchvision.transforms import v2

    images, targets = [], []
    for image, target in batch:
        images.append(v2.functional.to_dtype(image, torch.float32, scale=True))
        boxes = v2.functional.convert_bounding_box_format(target["boxes"], new_format="XYXY")
        targets.append({**target, "boxes": boxes})
    return images, targets
