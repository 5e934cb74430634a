"""Annotation exports → one YOLO label file per photo, in Kaggle class order.

Reads the three exports an annotator is likely to hand over:

* Roboflow "YOLO" (``data.yaml`` with ``names``; ``<split>/labels/L1000756_JPG.rf.<hash>.txt``),
* CVAT "YOLO 1.1" (``obj.names``; ``obj_train_data/**/<photo>.txt``),
* COCO JSON (``bbox`` = ``[x, y, w, h]`` in the pixels of the image the annotator saw, which may
  be larger or smaller than the photo at hand: boxes are normalised by that size, so they apply
  to the photo at any resolution).

YOLO lines may also be polygons (``class x1 y1 x2 y2 ...``, Roboflow's export of polygon
annotations): their bounding box is used. Class names are mapped through `chocolib.classes`, never
by position. Output lines are ``<Kaggle index> cx cy w h``, normalised, clipped to the photo.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from chocolib import classes, dataset, fileio
from chocolib.errors import ChocoError
from chocolib.labels import Box, clipped_box, parse_yolo_file, read_label_file

log = logging.getLogger(__name__)

# A COCO image and the photo it annotates may differ in size, not in shape.
ASPECT_TOLERANCE = 0.02


# --------------------------------------------------------------------------------------------
# Export formats
# --------------------------------------------------------------------------------------------
_ROBOFLOW_SUFFIX = re.compile(r"\.rf\.[0-9a-fA-F]+$")
_EXTENSION_SUFFIX = re.compile(r"_(jpe?g|png)$", re.IGNORECASE)


def photo_stem_candidates(name: str) -> list[str]:
    """Photo stems an export's file name may stand for, most literal first.

    Roboflow renames ``L1000756.JPG`` to ``L1000756_JPG.rf.<hash>.jpg``; its labels follow.
    """
    stem = Path(name).stem if Path(name).suffix.lower() in (".txt", *dataset.PHOTO_SUFFIXES) else Path(name).name
    without_hash = _ROBOFLOW_SUFFIX.sub("", stem)
    without_ext = _EXTENSION_SUFFIX.sub("", without_hash)
    return list(dict.fromkeys([stem, without_hash, without_ext]))


def _class_map(names: list, names_path: Path, line_numbers: list[int] | None = None) -> list[int]:
    mapped = []
    for i, name in enumerate(names):
        where = f"{names_path}:{line_numbers[i]}" if line_numbers else f"{names_path}: names[{i}]"
        mapped.append(classes.kaggle_index(str(name), where=where))
    return mapped


def _read_data_yaml(path: Path) -> list[int]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ChocoError(f"not valid YAML: {exc}".splitlines()[0], path) from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):  # Ultralytics style {0: name, 1: name}
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names:
        raise ChocoError("no 'names' list of class names", path)
    if isinstance(data.get("nc"), int) and data["nc"] != len(names):
        raise ChocoError(f"nc is {data['nc']} but names lists {len(names)} classes", path)
    return _class_map(names, path)


def _read_names_file(path: Path) -> list[int]:
    names, lines = [], []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            names.append(line.strip())
            lines.append(line_no)
    if not names:
        raise ChocoError("no class names", path)
    return _class_map(names, path, lines)


def _read_yolo_export(root: Path) -> dict[str, list[tuple[Path, list[Box]]]]:
    """Label files of a Roboflow or CVAT YOLO export, keyed by the file name they came from."""
    if (root / "data.yaml").is_file():
        names_path, class_map = root / "data.yaml", _read_data_yaml(root / "data.yaml")
        label_files = [p for p in root.rglob("*.txt") if p.parent.name == "labels"]
    elif (root / "obj.names").is_file():
        names_path, class_map = root / "obj.names", _read_names_file(root / "obj.names")
        label_files = [
            p
            for p in root.rglob("*.txt")
            if any(part.startswith("obj_") and part.endswith("_data") for part in p.relative_to(root).parts[:-1])
        ]
    elif (root / "classes.txt").is_file():
        names_path, class_map = root / "classes.txt", _read_names_file(root / "classes.txt")
        labels_dir = root / "labels" if (root / "labels").is_dir() else root
        label_files = [p for p in labels_dir.rglob("*.txt") if p != names_path]
    else:
        raise ChocoError("no class names file: expected data.yaml (Roboflow YOLO), obj.names (CVAT YOLO 1.1) or classes.txt", root)
    if not label_files:
        raise ChocoError(f"no label files (*.txt) found beside {names_path.name}", root)
    return {str(p): [(p, parse_yolo_file(p, class_map, names_path.name))] for p in sorted(label_files)}


def _read_coco(path: Path) -> tuple[dict[str, list[tuple[Path, list[Box]]]], dict[str, tuple[int, int]]]:
    """Boxes of a COCO file keyed by image file name, and each image's annotated size."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChocoError(f"not valid JSON: {exc}", path) from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ChocoError(f"not a COCO file: no '{key}' list", path)
    used = {a.get("category_id") for a in data["annotations"]}
    category_index: dict[int, int] = {}
    for category in data["categories"]:
        where = f"{path}: category {category.get('id')}"
        if category.get("id") not in used:
            continue  # Roboflow adds an unused super-category named after the project
        category_index[category["id"]] = classes.kaggle_index(str(category.get("name")), where=where)
    images: dict[int, dict] = {}
    for image in data["images"]:
        if not all(k in image for k in ("id", "file_name", "width", "height")):
            raise ChocoError(f"image entry without id, file_name, width and height: {image}", path)
        images[image["id"]] = image
    by_name: dict[str, list[Box]] = {img["file_name"]: [] for img in images.values()}
    for n, ann in enumerate(data["annotations"]):
        where = f"{path}: annotation {ann.get('id', n)}"
        image = images.get(ann.get("image_id"))
        if image is None:
            raise ChocoError(f"annotation {ann.get('id', n)} refers to unknown image_id {ann.get('image_id')}", path)
        if ann.get("category_id") not in category_index:
            raise ChocoError(f"annotation {ann.get('id', n)} has unknown category_id {ann.get('category_id')}", path)
        bbox = ann.get("bbox")
        if not bbox and ann.get("segmentation"):
            points = [c for polygon in ann["segmentation"] for c in polygon]
            xs, ys = points[0::2], points[1::2]
            bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
            raise ChocoError(f"annotation {ann.get('id', n)}: bbox must be [x, y, w, h], got {bbox!r}", path)
        x, y, w, h = bbox
        W, H = image["width"], image["height"]
        box = clipped_box(category_index[ann["category_id"]], x / W, y / H, (x + w) / W, (y + h) / H, where)
        if box is not None:
            by_name[image["file_name"]].append(box)
    sizes = {img["file_name"]: (img["width"], img["height"]) for img in images.values()}
    return {name: [(path, boxes)] for name, boxes in by_name.items()}, sizes


def read_export(source: str | Path) -> tuple[dict[str, list[tuple[Path, list[Box]]]], dict[str, tuple[int, int]]]:
    """Read any supported export: entries keyed by the exported file name, plus annotated sizes (COCO)."""
    source = Path(source)
    if not source.exists():
        raise ChocoError("annotation export not found", source)
    if source.is_file():
        if source.suffix.lower() != ".json":
            raise ChocoError("expected a COCO .json file or an export folder (data.yaml / obj.names)", source)
        return _read_coco(source)
    json_files = sorted(p for p in source.glob("*.json") if p.is_file())
    has_names = any((source / n).is_file() for n in ("data.yaml", "obj.names", "classes.txt"))
    if not has_names and len(json_files) == 1:
        return _read_coco(json_files[0])
    return _read_yolo_export(source), {}


# --------------------------------------------------------------------------------------------
# Import: export + photos (+ counts) → labels folder and discrepancy table
# --------------------------------------------------------------------------------------------
@dataclass
class ImportSummary:
    images: int
    boxes: int
    mismatches: int
    labels_dir: Path
    discrepancies: pd.DataFrame

    def line(self) -> str:
        return f"images={self.images} boxes={self.boxes} mismatches={self.mismatches}"


def _match_photos(entries, photos: dict[str, Path], images_dir: Path) -> dict[str, list[Box]]:
    lowered = {stem.casefold(): stem for stem in photos}
    matched: dict[str, list[Box]] = {}
    origin: dict[str, Path] = {}
    for name, items in entries.items():
        for source_file, boxes in items:
            candidates = photo_stem_candidates(name)
            stem = next((c for c in candidates if c in photos), None) or next(
                (lowered[c.casefold()] for c in candidates if c.casefold() in lowered), None
            )
            if stem is None:
                label = source_file if source_file.suffix == ".txt" else f"{source_file}: image {name!r}"
                raise ChocoError(f"no photo {candidates[-1]} in {images_dir}/ for this annotation", label)
            if stem in matched:
                raise ChocoError(
                    f"photo {stem} is annotated twice: here and in {origin[stem]}",
                    source_file if source_file.suffix == ".txt" else f"{source_file}: image {name!r}",
                )
            matched[stem], origin[stem] = boxes, source_file
    return matched


def _check_sizes(sizes: dict[str, tuple[int, int]], photos: dict[str, Path], export: Path) -> None:
    """A COCO image may be a resized copy of the photo, never a differently shaped one."""
    for name, (w, h) in sizes.items():
        stem = next((c for c in photo_stem_candidates(name) if c in photos), None)
        if stem is None:
            continue
        pw, ph = dataset.photo_size(photos[stem])
        if abs((w / h) / (pw / ph) - 1) > ASPECT_TOLERANCE:
            raise ChocoError(
                f"image {name!r} was annotated as {w}×{h} but {photos[stem].name} is {pw}×{ph}: not the same picture shape", export
            )


def discrepancy_table(annotated: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Rows (id, class, annotated, counted, difference) wherever the two disagree.

    Ids present in only one table count as 0 in the other, so a missing annotation shows up.
    """
    ids = sorted(set(annotated.index) | set(counts.index))
    a = annotated.reindex(ids, fill_value=0)
    c = counts.reindex(ids, fill_value=0)
    diff = a - c
    rows = [
        {"id": i, "class": name, "annotated": int(a.at[i, name]), "counted": int(c.at[i, name]), "difference": int(diff.at[i, name])}
        for i in ids
        for name in classes.KAGGLE_NAMES
        if diff.at[i, name] != 0
    ]
    return pd.DataFrame(rows, columns=["id", "class", "annotated", "counted", "difference"])


def import_annotations(source: str | Path, images: str | Path, out: str | Path, counts: str | Path | None = None) -> ImportSummary:
    """Convert an export into ``out/<photo stem>.txt`` (Kaggle class order) and ``out/discrepancies.csv``.

    `counts` defaults to the ``train.csv`` beside the photo folder, as in the Kaggle layout.
    The folder is replaced as a whole, atomically.
    """
    source, images, out = Path(source), Path(images), Path(out)
    photos = dataset.list_photos(images, verify=True)
    entries, sizes = read_export(source)
    _check_sizes(sizes, photos, source)
    matched = _match_photos(entries, photos, images)
    for stem in sorted(set(photos) - set(matched)):
        log.warning("%s: no annotation in %s, photo left out", photos[stem], source)

    if counts is None and (images.parent / "train.csv").is_file():
        counts = images.parent / "train.csv"
        log.info("counts: %s", counts)
    annotated = pd.DataFrame(
        [[sum(1 for b in matched[stem] if b.cls == k) for k in range(classes.NUM_CLASSES)] for stem in sorted(matched)],
        index=pd.Index([dataset.photo_id(s) for s in sorted(matched)], name="id"),
        columns=list(classes.KAGGLE_NAMES),
        dtype="int64",
    )
    if counts is not None:
        table = discrepancy_table(annotated, dataset.read_counts(counts))
    else:
        log.warning("no counts file given and no train.csv beside %s: discrepancies not checked", images)
        table = discrepancy_table(annotated, annotated)

    with fileio.atomic_dir(out) as tmp:
        for stem in sorted(matched):
            text = "".join(box.yolo_line() + "\n" for box in matched[stem])
            (tmp / f"{stem}.txt").write_text(text, encoding="utf-8")
        table.to_csv(tmp / "discrepancies.csv", index=False, lineterminator="\n")

    mismatches = table["id"].nunique()
    for row in table.itertuples():
        log.warning("mismatch %s %s: annotated %d, train.csv %d", row.id, row._2, row.annotated, row.counted)
    return ImportSummary(len(matched), sum(len(b) for b in matched.values()), mismatches, out, table)


def read_labels(labels_dir: str | Path, photos: dict[str, Path] | None = None) -> pd.DataFrame:
    """This project's labels folder as a table: one row per box.

    Columns: stem, id, class (Kaggle name), cls (index), cx, cy, w, h (normalised), and with
    `photos` (stem → path) also width_px, height_px (the photo's size) and side_px, the box's
    size √(w·h) in the photo's pixels.
    """
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise ChocoError("labels folder not found", labels_dir)
    rows = []
    for path in sorted(labels_dir.glob("*.txt")):
        size = dataset.photo_size(photos[path.stem]) if photos and path.stem in photos else (None, None)
        for box in read_label_file(path):
            rows.append(
                {
                    "stem": path.stem,
                    "id": dataset.photo_id(path.stem),
                    "class": classes.KAGGLE_NAMES[box.cls],
                    "cls": box.cls,
                    "cx": box.cx,
                    "cy": box.cy,
                    "w": box.w,
                    "h": box.h,
                    "width_px": size[0],
                    "height_px": size[1],
                }
            )
    table = pd.DataFrame(rows, columns=["stem", "id", "class", "cls", "cx", "cy", "w", "h", "width_px", "height_px"])
    table["side_px"] = (table["w"] * table["width_px"] * table["h"] * table["height_px"]) ** 0.5
    return table
