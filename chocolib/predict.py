"""Inference: raw detections once, counts at any threshold, the threshold, the Kaggle submission.

The model runs once over a folder of photos and its raw detections (every box its own
post-processing keeps — score ≥ ``box_score_thresh`` — with label and score) are saved as a table;
counts at any threshold are then read off that table without running the model again. Model label
ids become Kaggle columns through `chocolib.classes` (the seed's ``model2idx``), and a submission
copies ``sample_submission.csv``'s header and ids exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from chocolib import classes, dataset, fileio, metric, paths, precision
from chocolib import tta as tta_module
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

#: One row per detection; boxes are normalised to the photo (x0, y0, x1, y1 in [0, 1]). A photo
#: without any detection keeps one row with only its id, so that the table lists every photo.
DETECTION_COLUMNS = ["id", "label", "class", "score", "x0", "y0", "x1", "y1"]
#: The column a detector with a crop classifier beside it adds: that classifier's probability of
#: the row's class on the row's box, tempered where the box's crop is blurred
#: (`chocolib.models.crop_classifier`), read by the rule ``classify``.
CROP_SCORE = "crop_score"
#: The seed's hand-picked threshold and the grid it tried.
SEED_THRESHOLD = 0.6
SEED_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)
#: The sweep of notebook 05 and of YOLO12s's epochs: 0.05 to 0.95 by 0.01. It starts at the
#: detectors' own floor (`box_score_thresh`, `YoloConfig.score_thresh`: nothing below it is kept):
#: a YOLO12s trained from random weights for minutes scores its chocolates low, and a sweep from
#: 0.30 hid it (the committed run's checkpoint counts at F1 0.102 at 0.30, 0.468 at 0.05).
SWEEP = np.round(np.arange(0.05, 0.95 + 1e-9, 0.01), 2)
SWEEP_WORDS = f"{SWEEP[0]:.2f}–{SWEEP[-1]:.2f}"
#: What counting does where boxes of *different* classes lie on one chocolate. The detectors
#: suppress overlapping boxes class by class only (torchvision's RoI head scores every class of a
#: proposal and runs NMS per class), so a chocolate the model hesitates over — Comtesse or Jelly
#: White — comes out as two boxes, each with part of the score: at a high threshold neither is
#: counted (a miss), at a low one both are (a miss and an extra). ``off``: as the detector gives
#: them; ``suppress``: one box per chocolate, its best class's (class-agnostic NMS, as Ultralytics'
#: ``agnostic_nms``); ``merge``: that box scored by the summed best score of each class found there
#: (at most 1) — for a softmax head about 1 − P(background), how sure the model is that a chocolate
#: is there, whichever it is; ``classify`` (detections with a crop classifier's scores only): the
#: best box of the chocolate, scored as by ``suppress``, of the class whose detector score and crop
#: classifier probability have the highest geometric mean — the detector says a chocolate is there,
#: both say which. Notebook 05 chooses the rule with the threshold (`choose_counting`).
CROSS_CLASS_RULES = ("off", "suppress", "merge", "classify")
#: The crop classifier's share in ``classify``'s vote: 0.5 weighs both looks alike (a geometric mean).
#: `crop_weight` changes it for a block (benchmarks/generalisation.py --crop-weight).
CROP_WEIGHT = 0.5
#: Boxes of different classes with at least this IoU are one chocolate: the IoU at which the
#: detector's own NMS already takes two boxes of one class for one chocolate (`box_nms_thresh`).
CROSS_CLASS_IOU = 0.5


class TestDataset:
    """The photos of a folder with their Kaggle ids (``L1000756.JPG`` → ``1000756``).

    Each photo is decoded upright and straight to the model's working size (longer side `max_side`:
    the side of its training images, `working_side`), as notebook 02 decoded the training photos;
    the model's transform then resizes it to its input size exactly as during validation. A
    6000×4000 photo never becomes a 6000×4000 tensor.
    """

    def __init__(self, source: str | Path | list, max_side: int | None, transform=None):
        """`source`: a folder, or a list of photo files (each checked to exist and decode);
        `transform(image, stem)`, if given, changes each decoded PIL image (a corruption, in
        `chocolib.robustness`) before it reaches the model."""
        if isinstance(source, (list, tuple)):
            self.folder = None
            self.photos = [(Path(path).stem, Path(path)) for path in source]
            for _, path in self.photos:
                if not path.is_file():
                    raise ChocoError("photo not found", path)
                dataset.verify_photo(path)
        else:
            self.folder = Path(source)
            self.photos = list(dataset.list_photos(source, verify=True).items())
        self.ids = [dataset.photo_id(stem) for stem, _ in self.photos]
        if len(set(self.ids)) != len(self.ids):
            raise ChocoError("two photos give the same Kaggle id (e.g. L1.JPG and 1.png)", self.folder or self.photos[0][1])
        self.max_side = max_side
        self.transform = transform

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int):

        stem, path = self.photos[index]
        image = dataset.read_photo(path, max_side=self.max_side)
        if self.transform is not None:
            image = self.transform(image, stem)
        return as_tensor(image), self.ids[index]


def as_tensor(image):
    """A decoded PIL photo as the uint8 C × H × W tensor `detect_photos` takes."""
    import torch

    return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def _collate(batch):
    import torch

    return [image.to(torch.float32) / 255 for image, _ in batch], [photo for _, photo in batch]


@dataclass
class Detections:
    """Raw detections of a folder: the table, every photo's id (in folder order), and the speed."""

    table: pd.DataFrame
    ids: list[str]
    images_per_s: float = float("nan")

    def kept(self, threshold) -> pd.DataFrame:
        """Detections scoring at least `threshold` (one number, or a mapping class name → threshold)."""
        rows = self.table[self.table["score"].notna()]
        floor = rows["class"].map(threshold) if isinstance(threshold, dict) else float(threshold)
        return rows[rows["score"] >= floor]

    def require(self, ids) -> None:
        """Refuse ids these detections were not run on (a photo with no detection was run on)."""
        unknown = sorted(set(ids) - set(self.ids))
        if unknown:
            raise ChocoError(f"{len(unknown)} id(s) have no detections run, first: {unknown[0]}")

    def counts(self, threshold, ids=None) -> pd.DataFrame:
        """Counts per photo (rows, in `ids` order) and Kaggle class (columns) at `threshold`."""
        kept = self.kept(threshold)
        ids = list(self.ids if ids is None else ids)
        self.require(ids)
        return _count_table(kept, ids)

    def one_per_chocolate(self, rule: str, iou: float = CROSS_CLASS_IOU) -> Detections:
        """These detections with boxes of different classes on one chocolate resolved by `rule`
        (`CROSS_CLASS_RULES`); ``off`` returns them as they are."""
        return one_per_chocolate(self, rule, iou)

    def save(self, path: str | Path) -> Path:
        """As CSV, written atomically; photos without a detection keep a row with their id only."""
        table = self.table
        empty = [i for i in self.ids if i not in set(table["id"])]
        if empty:
            table = pd.concat([table, pd.DataFrame({"id": empty})], ignore_index=True)
        order = {photo: n for n, photo in enumerate(self.ids)}
        table = table.sort_values("id", key=lambda s: s.map(order), kind="stable")
        return fileio.write_text(path, table.to_csv(index=False, float_format="%.6g"))


def read_detections(path: str | Path) -> Detections:
    """A table written by `Detections.save`."""
    path = Path(path)
    if not path.is_file():
        raise ChocoError("detections file not found", path)
    table = pd.read_csv(path, dtype={"id": str, "class": str})
    if list(table.columns) not in (DETECTION_COLUMNS, [*DETECTION_COLUMNS, CROP_SCORE]):
        raise ChocoError(f"not a detections table: the header should be {','.join(DETECTION_COLUMNS)}[,{CROP_SCORE}]", f"{path}:1")
    ids = list(dict.fromkeys(table["id"]))
    table = table[table["score"].notna()].astype({"label": "int64"}).reset_index(drop=True)
    return Detections(table, ids)


def check_cross_class(rule: str, where=None) -> str:
    if rule not in CROSS_CLASS_RULES:
        raise ChocoError(f"unknown cross-class rule {rule!r}: one of {', '.join(CROSS_CLASS_RULES)}", where)
    return rule


@contextlib.contextmanager
def crop_weight(weight: float):
    """Within it, ``classify`` weighs the crop classifier's probability by `weight` (0–1) and the
    detector's score by 1 − `weight`; detections are not touched, so remembered ones stay valid."""
    global CROP_WEIGHT
    if not 0 <= weight <= 1:
        raise ChocoError(f"the crop classifier's weight must lie in 0–1, not {weight}")
    before, CROP_WEIGHT = CROP_WEIGHT, float(weight)
    try:
        yield
    finally:
        CROP_WEIGHT = before


def rules_for(detections: Detections) -> tuple[str, ...]:
    """The cross-class rules these detections can be counted under: ``classify`` needs crop scores."""
    return tuple(rule for rule in CROSS_CLASS_RULES if rule != "classify" or CROP_SCORE in detections.table.columns)


def check_countable(detections: Detections, rule: str) -> None:
    """A ChocoError unless `detections` can be counted under `rule` (`rules_for`)."""
    if rule not in rules_for(detections):
        raise ChocoError(
            f"the rule {rule!r} needs the crop classifier's scores: train it beside the checkpoint "
            f"(python -m chocolib train-crops) and detect again"
        )


def _resolve_photo(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, rule: str, iou: float, crop: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indices kept, their scores, their labels) of one photo's detections: greedily by score,
    each kept box takes every box not yet taken that overlaps it by `iou`, whatever its class;
    ``classify`` relabels the kept box by the vote of the detector's and the crop classifier's
    scores (`crop`) over the classes of its group."""
    import torch
    from torchvision.ops import box_iou

    order = np.argsort(-scores, kind="stable")
    box_tensor = torch.tensor(boxes)  # a copy: a pandas column may hand over a read-only view
    overlap = box_iou(box_tensor, box_tensor).numpy()
    taken = np.zeros(len(scores), bool)
    kept, kept_scores, kept_labels = [], [], []
    for i in order:
        if taken[i]:
            continue
        members = np.flatnonzero(~taken & (overlap[i] >= iou))
        members = np.union1d(members, [i])
        taken[members] = True
        kept.append(i)
        kept_labels.append(labels[i])
        if rule == "merge":
            # each class once, by its best box: two boxes of one class are the same evidence twice
            member_scores, member_labels = scores[members], labels[members]
            best_per_class = [member_scores[member_labels == label].max() for label in np.unique(member_labels)]
            kept_scores.append(min(1.0, float(np.sum(best_per_class))))
        else:
            kept_scores.append(float(scores[i]))
        if rule == "classify":
            # each class by its best box (members are in no order: argmax over scores picks it)
            votes = {}
            for label in np.unique(labels[members]):
                of_class = members[labels[members] == label]
                best = of_class[np.argmax(scores[of_class])]
                votes[int(label)] = scores[best] ** (1 - CROP_WEIGHT) * crop[best] ** CROP_WEIGHT
            kept_labels[-1] = max(votes, key=lambda label: (votes[label], label == labels[i]))
    return np.array(kept, np.int64), np.array(kept_scores, np.float64), np.array(kept_labels, np.int64)


def one_per_chocolate(detections: Detections, rule: str, iou: float = CROSS_CLASS_IOU) -> Detections:
    """`detections` with each group of boxes of different classes that overlap by `iou` resolved
    by `rule` (`CROSS_CLASS_RULES`): ``off`` leaves them, ``suppress`` keeps the best-scoring box
    of each group, ``merge`` keeps it scored by the sum of each class's best score in the group
    (at most 1). Per photo, in the table's photo order, best score first."""
    check_cross_class(rule)
    if rule == "off":
        return detections
    check_countable(detections, rule)
    frames = []
    rows = detections.table[detections.table["score"].notna()]
    for _, photo in rows.groupby("id", sort=False):
        boxes = photo[["x0", "y0", "x1", "y1"]].to_numpy(np.float64)
        crop = photo[CROP_SCORE].to_numpy(np.float64) if rule == "classify" else None
        kept, scores, labels = _resolve_photo(boxes, photo["score"].to_numpy(np.float64), photo["label"].to_numpy(), rule, iou, crop)
        resolved = photo.iloc[kept].assign(score=scores, label=labels, **{"class": [classes.NAMES_BY_LABEL_ID[int(i)] for i in labels]})
        frames.append(resolved.sort_values("score", ascending=False, kind="stable"))
    table = pd.concat(frames, ignore_index=True) if frames else rows.iloc[:0].copy()
    return Detections(table.astype(rows.dtypes.to_dict()), list(detections.ids), detections.images_per_s)


def working_side(checkpoint: str | Path, default: int) -> int:
    """The longer side to decode photos at for a model: that of its training images (``image_side``
    in ``config.json`` beside the checkpoint), so that a photo reaches the network through the same
    two resizes as the validation photos did; `default` for a run that did not record it."""
    import json

    path = Path(checkpoint).parent / "config.json"
    if path.is_file():
        side = json.loads(path.read_text()).get("image_side")
        if side:
            return int(side)
    return int(default)


def detect(
    model,
    folder: str | Path | list,
    max_side: int | None,
    batch_size: int = 4,
    device=None,
    transform=None,
    tta: str = "none",
    amp: str = "off",
) -> Detections:
    """Run `model` (eval mode) over every photo of `folder` (or a list of photo files); the raw
    detections and images/s. `transform(image, stem)` changes each decoded photo first; `tta`
    (`chocolib.tta.MODES`) shows the model each photo in several views and fuses their boxes; `amp`
    (`chocolib.precision`; off: fp32, in which notebook 05 chose the threshold) the precision."""
    photos = TestDataset(folder, max_side, transform)
    found = detect_photos(
        model, photos, photos.ids, batch_size, device, tta, desc=f"detect {photos.folder.name if photos.folder else 'photos'}", amp=amp
    )
    views = tta_module.views(tta)
    log.info(
        "detect: %d photos of %s%s, %d detections, %.2f images/s",
        len(photos),
        photos.folder or "the list",
        f" (TTA: {tta}, {len(views)} views)" if len(views) > 1 else "",
        len(found.table),
        found.images_per_s,
    )
    return found


#: While `remembering_detections` holds: what `detect_photos` found, by model, settings and pixels.
_remembered: dict | None = None


@contextlib.contextmanager
def remembering_detections():
    """Within it, `detect_photos` on the same model object, with the same settings, on the same
    pixels returns what it found the first time instead of running the model again: detections do
    not depend on the threshold, so suites judged at several thresholds detect once. Keep it around
    one model whose weights and input size do not change inside it."""
    global _remembered
    outer = _remembered
    _remembered = {} if outer is None else outer
    try:
        yield
    finally:
        _remembered = outer


def _pixels_key(photos) -> str:
    digest = hashlib.sha1()
    for image, photo_id in photos:
        digest.update(f"{photo_id}:{tuple(image.shape)}:{image.dtype}".encode())
        digest.update(image.contiguous().numpy().tobytes())
    return digest.hexdigest()


def detect_photos(
    model, photos, ids: list[str], batch_size: int = 4, device=None, tta: str = "none", desc: str | None = "detect", amp: str = "off"
) -> Detections:
    """`detect` on photos already decoded: `photos` is any sequence of (uint8 C × H × W tensor, id)
    (`TestDataset`, or a list in memory). `desc` None: no progress bar."""
    if _remembered is None:
        return _detect_photos(model, photos, ids, batch_size, device, tta, desc, amp)
    # the model itself is kept in the value, so its id cannot be reused by another model meanwhile
    key = (id(model), str(device), tta, amp, tuple(ids), _pixels_key(photos))
    if key not in _remembered:
        _remembered[key] = (model, _detect_photos(model, photos, ids, batch_size, device, tta, desc, amp))
    return _remembered[key][1]


def crop_scores(classifier, image, boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each detection (boxes normalised to `image`, C × H × W), the crop classifier's
    probability of the detection's own class, tempered where its crop is blurred
    (`chocolib.models.crop_classifier.CropClassifier.scores`)."""
    height, width = image.shape[-2:]
    return classifier.scores(image, boxes * np.array([width, height, width, height], dtype=np.float32), labels)


def _detect_photos(model, photos, ids, batch_size, device, tta, desc, amp) -> Detections:
    import torch
    from torch.utils.data import DataLoader

    device = device or next(model.parameters()).device
    numeric = precision.resolve(amp, torch.device(device), model_kind(model))
    if numeric.dtype != "fp32":
        log.info("detect: %s", numeric.line())
    views = tta_module.views(tta)
    second_look = getattr(model, "crop_classifier", None)
    loader = DataLoader(photos, batch_size=batch_size, collate_fn=_collate, num_workers=0)
    frames: list[pd.DataFrame] = []
    model.eval()
    started = time.perf_counter()
    with torch.inference_mode():
        for images, batch_ids in tqdm(loader, desc=desc, unit="batch", leave=False, disable=desc is None):
            found = [([], [], []) for _ in images]
            for view in views:
                viewed = [tta_module.view_image(image, view) for image in images]
                with numeric.autocast(), tta_module.input_size(model, view):
                    outputs = model([image.to(device) for image in viewed])
                for (boxes, scores, labels), image, output in zip(found, viewed, outputs):
                    height, width = image.shape[-2:]
                    normalised = output["boxes"].float().cpu().numpy() / np.array([width, height, width, height], dtype=np.float32)
                    boxes.append(tta_module.to_photo(normalised, view))
                    scores.append(output["scores"].float().cpu().numpy())
                    labels.append(output["labels"].cpu().numpy().astype(np.int64))
            for photo, image, (boxes, scores, labels) in zip(batch_ids, images, found):
                boxes, scores, labels = tta_module.fuse(
                    np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels), len(views), rule=tta_module.score_rule(tta)
                )
                frame = pd.DataFrame(
                    {
                        "id": photo,
                        "label": labels,
                        "class": [classes.NAMES_BY_LABEL_ID[int(i)] for i in labels],
                        "score": scores,
                        "x0": boxes[:, 0],
                        "y0": boxes[:, 1],
                        "x1": boxes[:, 2],
                        "y1": boxes[:, 3],
                    },
                    columns=DETECTION_COLUMNS,
                )
                if second_look is not None:
                    frame[CROP_SCORE] = crop_scores(second_look, image, boxes, labels)
                frames.append(frame)
    seconds = time.perf_counter() - started
    columns = DETECTION_COLUMNS + ([CROP_SCORE] if second_look is not None else [])
    table = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else pd.DataFrame(columns=columns)
    table = table.astype(
        {
            "id": str,
            "label": "int64",
            "class": str,
            "score": "float64",
            **{c: "float32" for c in ("x0", "y0", "x1", "y1")},
            **({CROP_SCORE: "float64"} if second_look is not None else {}),
        }
    )
    return Detections(table.reset_index(drop=True), list(ids), len(photos) / seconds)


# --------------------------------------------------------------------------------------------
# Choosing the threshold on validation
# --------------------------------------------------------------------------------------------
def model_kind(model) -> str:
    """``faster_rcnn`` or ``yolo12``: the key `chocolib.precision` measured each under."""
    from torchvision.models.detection import FasterRCNN

    return "faster_rcnn" if isinstance(model, FasterRCNN) else "yolo12"


def f1_at(detections: Detections, truth: pd.DataFrame, threshold) -> float:
    """The course metric on `truth`'s photos (indexed by id) of the counts at `threshold` (one
    number or a mapping class name → threshold)."""
    return CountCurve(detections, truth).f1(threshold)


def threshold_sweep(detections: Detections, truth: pd.DataFrame, thresholds=SWEEP) -> pd.DataFrame:
    """The course metric on `truth`'s photos at each threshold: columns threshold, f1."""
    return pd.DataFrame([{"threshold": float(t), "f1": f1_at(detections, truth, t)} for t in thresholds])


def plateau_middle(sweep: pd.DataFrame, column: str = "f1") -> float:
    """The best threshold; when several tie, the middle of the longest run of best values (the
    plateau), the earliest plateau when two are as long: a choice that stays good if scores shift."""
    values = sweep[column].to_numpy()
    on_top = np.isclose(values, values.max(), rtol=0, atol=1e-12)
    runs, start = [], None
    for i, flag in enumerate([*on_top, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    first, last = max(runs, key=lambda run: (run[1] - run[0], -run[0]))
    return float(sweep["threshold"].iloc[(first + last) // 2])


class CountCurve:
    """One counted set (raw detections and true counts) ready to be scored at many thresholds:
    the detections as arrays, so a threshold per class costs a comparison, not a table. The
    counts it scores are those of `Detections.counts`."""

    def __init__(self, detections: Detections, truth: pd.DataFrame):
        detections.require(truth.index)
        rows = detections.table[detections.table["score"].notna() & detections.table["id"].isin(truth.index)]
        self.truth = truth.to_numpy()
        self.photo = truth.index.get_indexer(rows["id"])
        self.cls = np.array([classes.KAGGLE_NAMES.index(name) for name in rows["class"]], np.int64)
        self.score = rows["score"].to_numpy(np.float64)

    def f1(self, threshold) -> float:
        """F1 at one threshold, or a mapping class name → threshold."""
        floors = np.array([threshold[name] for name in classes.KAGGLE_NAMES]) if isinstance(threshold, dict) else None
        keep = self.score >= (floors[self.cls] if floors is not None else float(threshold))
        counts = np.zeros_like(self.truth)
        np.add.at(counts, (self.photo[keep], self.cls[keep]), 1)
        return metric.mean_count_f1(self.truth, counts)


class Objective:
    """What a threshold is chosen by: the mean of named parts, each the mean F1 of its counted sets.
    The clean validation photos alone are one part ("clean F1"); notebook 05 adds the corruption
    and the shift suites made from the same photos, so the threshold is chosen where the criterion
    (`chocolib.judge`) is measured, never on dev-hard."""

    def __init__(self, parts: dict[str, list[tuple[Detections, pd.DataFrame]]]):
        if not parts or not all(parts.values()):
            raise ChocoError("a threshold objective needs at least one part, each with a counted set")
        self.curves = {name: [CountCurve(found, truth) for found, truth in sets] for name, sets in parts.items()}

    @property
    def names(self) -> list[str]:
        return list(self.curves)

    def parts(self, threshold) -> dict[str, float]:
        return {name: float(np.mean([curve.f1(threshold) for curve in curves])) for name, curves in self.curves.items()}

    def __call__(self, threshold) -> float:
        return float(np.mean(list(self.parts(threshold).values())))

    def sweep(self, thresholds=SWEEP) -> pd.DataFrame:
        """Columns threshold, one per part, and objective."""
        return pd.DataFrame([{"threshold": float(t), **self.parts(float(t))} for t in thresholds]).assign(
            objective=lambda table: table[self.names].mean(axis=1)
        )


def per_class_thresholds(objective: Objective, start: float, thresholds=SWEEP) -> dict[str, float]:
    """One threshold per class by one pass of coordinate ascent on `objective`: each class in Kaggle
    order sweeps its own threshold with the others held (at `start`, or at their chosen value once
    chosen)."""
    chosen = {name: float(start) for name in classes.KAGGLE_NAMES}
    for name in classes.KAGGLE_NAMES:
        trial = [{"threshold": float(t), "objective": objective({**chosen, name: float(t)})} for t in thresholds]
        chosen[name] = plateau_middle(pd.DataFrame(trial), "objective")
    return chosen


def _parts_at(sweep: pd.DataFrame, names: list[str], threshold: float) -> dict[str, float]:
    """The row of an `Objective.sweep` at `threshold`: each part of `names` and the objective."""
    row = sweep.loc[np.isclose(sweep["threshold"], threshold)].iloc[0]
    return {name: float(row[name]) for name in [*names, "objective"]}


@dataclass
class ThresholdChoice:
    """What notebook 05 decides on validation, and what it compares the decision with."""

    sweep: pd.DataFrame  # threshold, f1 (clean validation), each part of the objective, objective; over SWEEP
    threshold: float  # the single threshold chosen (plateau middle of the objective)
    f1: float  # clean validation F1 at `threshold`
    seed_f1: float  # at the seed's 0.6
    seed_grid: pd.DataFrame  # threshold, f1 over the seed's grid
    per_class: dict[str, float]  # one threshold per class, on the same objective
    per_class_f1: float  # clean validation F1 with `per_class`
    per_class_objective: dict[str, float]  # the objective's parts and their mean with `per_class`
    chosen_on: list[str]  # the objective's parts: ["clean F1"], or with the suites
    clean_threshold: float  # what clean validation alone would choose
    clean_threshold_f1: float  # its clean validation F1
    cross_class: str = "off"  # the rule the detections were counted under (`CROSS_CLASS_RULES`)
    #: `choose_counting`'s comparison: per rule, its threshold, the objective's parts and their mean
    rules: pd.DataFrame | None = None

    def objective_at(self, threshold: float) -> dict[str, float]:
        """The objective's parts and their mean at a threshold of the sweep."""
        return _parts_at(self.sweep, self.chosen_on, threshold)

    def as_dict(self) -> dict:
        best_grid = self.seed_grid.loc[self.seed_grid["f1"].idxmax()]
        return {
            "threshold": self.threshold,
            "cross_class": self.cross_class,
            "val_f1": self.f1,
            "chosen_on": self.chosen_on,
            "objective_at_threshold": self.objective_at(self.threshold),
            "clean_threshold": self.clean_threshold,
            "clean_threshold_val_f1": self.clean_threshold_f1,
            "sweep": [float(self.sweep["threshold"].min()), float(self.sweep["threshold"].max())],
            "seed_threshold": SEED_THRESHOLD,
            "seed_val_f1": self.seed_f1,
            "seed_grid_best": float(best_grid["threshold"]),
            "seed_grid_best_f1": float(best_grid["f1"]),
            "per_class_thresholds": self.per_class,
            "per_class_val_f1": self.per_class_f1,
            "per_class_objective": self.per_class_objective,
            **({"cross_class_rules": self.rules.to_dict("records")} if self.rules is not None else {}),
        }


def choose_threshold(
    detections: Detections, truth: pd.DataFrame, suites: dict[str, list[tuple[Detections, pd.DataFrame]]] | None = None
) -> ThresholdChoice:
    """Sweep, choose (ties → plateau middle), and score the seed's 0.6, its grid and per-class
    thresholds. Without `suites` the threshold is the best on the clean validation photos; with
    them (part name → its counted sets: `robustness.counted_sets`, `shifts.counted_sets`) the best
    on the mean of the clean F1 and each suite's mean F1 — the photos a counter meets are rarely as
    clean as the validation photos, and a threshold tuned to clean photos only is too strict for
    a chocolate that is smaller, blurred or half hidden."""
    return _choose_on(Objective({"clean F1": [(detections, truth)], **(suites or {})}), detections, truth)


def _choose_on(objective: Objective, detections: Detections, truth: pd.DataFrame, sweep: pd.DataFrame | None = None) -> ThresholdChoice:
    """`choose_threshold` on an objective already built (its "clean F1" part is `detections`)."""
    clean = objective.curves["clean F1"][0]
    sweep = objective.sweep() if sweep is None else sweep
    sweep.insert(1, "f1", sweep["clean F1"])
    chosen = plateau_middle(sweep, "objective")
    clean_chosen = plateau_middle(sweep, "f1")
    per_class = per_class_thresholds(objective, chosen)
    return ThresholdChoice(
        sweep,
        chosen,
        clean.f1(chosen),
        clean.f1(SEED_THRESHOLD),
        threshold_sweep(detections, truth, SEED_GRID),
        per_class,
        clean.f1(per_class),
        {**objective.parts(per_class), "objective": objective(per_class)},
        objective.names,
        clean_chosen,
        clean.f1(clean_chosen),
    )


def choose_counting(
    detections: Detections,
    truth: pd.DataFrame,
    suites: dict[str, list[tuple[Detections, pd.DataFrame]]] | None = None,
    rules=None,
    allowed=None,
) -> ThresholdChoice:
    """The threshold and the cross-class rule together: the single threshold under each rule of
    `rules` (every detection set resolved by it, `one_per_chocolate`), and the rule of `allowed`
    whose chosen threshold scores the best objective — ties to the earlier rule, the simpler one.
    The result is `choose_threshold` on the winner's sets, carrying the comparison of every rule
    (`ThresholdChoice.rules`). `rules` None: every rule the detections can be counted under
    (`rules_for`); `allowed` None: any of them (a profile may fix the rule, `profiles.Profile.counting_rules`)."""
    rules = tuple(rules_for(detections) if rules is None else rules)
    allowed = rules if allowed is None else tuple(allowed)
    for rule in allowed:
        check_cross_class(rule)
        check_countable(detections, rule)
        if rule not in rules:
            raise ChocoError(f"the rule {rule!r} is allowed but not among the rules compared ({', '.join(rules)})")
    candidates, rows = {}, []
    for rule in rules:
        ruled = detections.one_per_chocolate(rule)
        ruled_suites = {name: [(found.one_per_chocolate(rule), t) for found, t in sets] for name, sets in (suites or {}).items()}
        objective = Objective({"clean F1": [(ruled, truth)], **ruled_suites})
        # only the single threshold decides between rules; the per-class ascent (13 sweeps) runs
        # for the winner alone
        sweep = objective.sweep()
        threshold = plateau_middle(sweep, "objective")
        candidates[rule] = (objective, ruled, sweep)
        rows.append({"cross_class": rule, "threshold": threshold, **_parts_at(sweep, objective.names, threshold)})
    table = pd.DataFrame(rows)
    # rounded so that a difference in the last bits of a float sum does not pick the rule
    objectives = table["objective"].round(12).where(table["cross_class"].isin(allowed), -np.inf)
    best = rules[int(np.argmax(objectives.to_numpy()))]
    chosen = _choose_on(*candidates[best][:2], truth, sweep=candidates[best][2])
    chosen.cross_class = best
    chosen.rules = table
    return chosen


def true_counts(labels: pd.DataFrame, ids) -> pd.DataFrame:
    """Counts per photo and Kaggle class of a labels table (`annotations.read_labels`), rows in `ids` order."""
    return _count_table(labels, ids)


def _count_table(rows: pd.DataFrame, ids) -> pd.DataFrame:
    """Rows with ``id`` and ``class`` (Kaggle name) → counts, one row per id in `ids` order (zeros
    for an id without rows), one column per Kaggle class in Kaggle order."""
    table = pd.crosstab(rows["id"], rows["class"]) if len(rows) else pd.DataFrame()
    table = table.reindex(index=list(ids), columns=list(classes.KAGGLE_NAMES), fill_value=0).fillna(0).astype("int64")
    table.index.name = "id"
    table.columns.name = None
    return table


def save_threshold(model_dir: str | Path, choice: ThresholdChoice, tta: str = "none") -> Path:
    """threshold.json beside the checkpoint: what `predict` uses when no --threshold (or --tta,
    --cross-class) is given. The threshold belongs to the test-time augmentation and the
    cross-class rule it was chosen with, so all three are kept."""
    return fileio.write_json(Path(model_dir) / "threshold.json", {**choice.as_dict(), "tta": tta})


def _saved_choice(model_dir: str | Path, key: str, default, what: str):
    """One entry of the threshold.json beside a checkpoint: `default` without the file or the entry."""
    path = Path(model_dir) / "threshold.json"
    if not path.is_file():
        return default
    import json

    try:
        return json.loads(path.read_text()).get(key, default)
    except (ValueError, AttributeError) as exc:
        raise ChocoError(f"cannot read the {what} ({exc})", path) from None


def read_tta(model_dir: str | Path) -> str:
    """The test-time augmentation notebook 05 chose its threshold with ("none" without threshold.json)."""
    tta = _saved_choice(model_dir, "tta", "none", "test-time augmentation")
    if tta not in tta_module.MODES:
        raise ChocoError(
            f"unknown test-time augmentation {tta!r}: one of {', '.join(tta_module.MODES)}", Path(model_dir) / "threshold.json"
        )
    return tta


def read_cross_class(model_dir: str | Path) -> str:
    """The cross-class rule notebook 05 chose with its threshold ("off" without threshold.json, or
    in one written before the rule existed)."""
    return check_cross_class(_saved_choice(model_dir, "cross_class", "off", "cross-class rule"), Path(model_dir) / "threshold.json")


def read_threshold(model_dir: str | Path) -> float | None:
    """The threshold chosen on validation by notebook 05 for the model in `model_dir`, if any."""
    path = Path(model_dir) / "threshold.json"
    if not path.is_file():
        return None
    value = _saved_choice(model_dir, "threshold", None, "threshold")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ChocoError(f"cannot read the threshold (not a number: {value!r})", path) from None


def prediction_panels(
    detections: Detections, labels: pd.DataFrame, folder: str | Path, threshold: float, limit: int = 3, max_side: int | None = 800
) -> list[tuple]:
    """Panels for `plots.detections_grid`: the first `limit` photos of `folder` that have labels,
    with their true boxes and their detections at `threshold`."""
    photos = dataset.list_photos(folder)
    kept = detections.kept(threshold)
    panels = []
    for stem in [s for s in photos if dataset.photo_id(s) in set(labels["id"])][:limit]:
        photo = dataset.photo_id(stem)
        truth, found = labels[labels["id"] == photo], kept[kept["id"] == photo]
        panels.append(
            (
                f"{stem}: {len(truth)} true, {len(found)} found at ≥ {threshold:.2f}",
                dataset.read_photo(photos[stem], max_side),
                truth,
                found,
            )
        )
    return panels


def comparison_table(runs: dict[str, tuple[dict, pd.DataFrame, dict]]) -> pd.DataFrame:
    """The side-by-side table of notebook 05: per model name, (its evaluation.json, its training
    history, its training config.json) → parameters, validation count-F1 at its own chosen threshold
    and at the seed's 0.6, mAP, training and inference speed, and the test score when known."""
    rows = {}
    for name, (evaluation, history, config) in runs.items():
        rows[name] = {
            "parameters (M)": evaluation["parameters"] / 1e6,
            "val count F1 at its threshold": evaluation["val_f1"],
            "its threshold": evaluation["threshold"],
            "val count F1 at 0.6": evaluation["seed_val_f1"],
            "mAP@.5": evaluation["map_50"],
            "mAP@[.5:.95]": evaluation["map"],
            "epochs trained": int(history["epoch"].max()),
            "training (min)": history["seconds"].sum() / 60,
            "training images/s": history["images_per_s"].mean(),
            "inference images/s": evaluation["val_images_per_s"],
            "device": config.get("device"),
            "test score": evaluation.get("test_score"),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")  # one dtype per column


# --------------------------------------------------------------------------------------------
# The submission
# --------------------------------------------------------------------------------------------
def write_submission(counts: pd.DataFrame, out: str | Path, sample_submission: str | Path | None = None) -> Path:
    """Counts as a submission, written atomically: sample_submission.csv's header and ids when
    given (every id must have a prediction; extra photos are refused), rows sorted by id."""
    ids = list(counts.index)
    if sample_submission is not None:
        sample = dataset.read_counts(sample_submission)
        missing = sorted(set(sample.index) - set(ids))
        if missing:
            raise ChocoError(
                f"{len(missing)} id(s) of {Path(sample_submission).name} have no photo, first: {missing[0]}", sample_submission
            )
        extra = sorted(set(ids) - set(sample.index))
        if extra:
            raise ChocoError(f"{len(extra)} photo(s) are not in {Path(sample_submission).name}, first: {extra[0]}", sample_submission)
        ids = list(sample.index)
    ordered = sorted(ids, key=lambda i: (0, int(i), i) if i.isdigit() else (1, 0, i))
    table = counts.loc[ordered, list(classes.KAGGLE_NAMES)]
    table.index.name = "id"
    return fileio.write_text(out, table.to_csv())


def tta_for(weights: Path, tta: str | None) -> str:
    """`tta`, else the one the threshold beside the checkpoint was chosen with."""
    if tta is None:
        tta = read_tta(weights.parent)
        if tta != "none":
            log.info("test-time augmentation %s (threshold.json)", tta)
    tta_module.views(tta)
    return tta


def cross_class_for(weights: Path, rule: str | None) -> str:
    """`rule`, else the one the threshold beside the checkpoint was chosen with."""
    if rule is None:
        rule = read_cross_class(weights.parent)
        if rule != "off":
            log.info("boxes of different classes on one chocolate: %s (threshold.json)", rule)
    return check_cross_class(rule)


def threshold_for(weights: Path, threshold: float | None) -> float:
    """`threshold`, else the one notebook 05 chose beside the checkpoint, else the seed's 0.6."""
    if threshold is None:
        threshold = read_threshold(weights.parent)
        source = "chosen on validation (threshold.json)" if threshold is not None else "the seed's"
        threshold = SEED_THRESHOLD if threshold is None else threshold
        log.info("threshold %.2f, %s", threshold, source)
    if not 0.0 <= threshold <= 1.0:
        raise ChocoError(f"threshold {threshold} is not a score between 0 and 1")
    return threshold


def load_for_inference(weights: Path, device: str = "auto", work_side: int | None = None, second_look: bool = True):
    """(model, the side photos are decoded at) for a checkpoint of either model; with
    `second_look`, carrying the crop classifier saved beside it, if any (`chocolib.models.crop_classifier`)."""
    from chocolib import models
    from chocolib.models import crop_classifier

    weights = Path(weights)
    if not weights.is_file():
        raise ChocoError("checkpoint not found", weights)
    model, config = models.load_model(weights, models.select_device(device))
    if second_look:
        crop_classifier.attach(model, weights)
    default_side = getattr(config, "max_size", None) or config.image_size
    return model, work_side or working_side(weights, default_side)


def predict(
    weights: str | Path,
    images: str | Path,
    out: str | Path,
    threshold: float | None = None,
    sample_submission: str | Path | None = None,
    batch_size: int = 4,
    device: str = "auto",
    work_side: int | None = None,
    tta: str | None = None,
    amp: str = "off",
    cross_class: str | None = None,
) -> Path:
    """The `predict` command: detections of `images` (saved raw beside `out` as
    ``*_detections.csv``), counts at `threshold` (default: the one notebook 05 chose beside the
    checkpoint, else the seed's 0.6) with the test-time augmentation and the cross-class rule it
    was chosen with, the submission at `out`."""
    weights, images, out = Path(weights), Path(images), Path(out)
    threshold, tta = threshold_for(weights, threshold), tta_for(weights, tta)
    cross_class = cross_class_for(weights, cross_class)
    if sample_submission is None and (images.parent / "sample_submission.csv").is_file():
        sample_submission = images.parent / "sample_submission.csv"  # the Kaggle layout: test/ beside it
    model, side = load_for_inference(weights, device, work_side)
    found = detect(model, images, side, batch_size, tta=tta, amp=amp)
    found.save(out.with_name(f"{out.stem}_detections.csv"))
    return write_submission(found.one_per_chocolate(cross_class).counts(threshold), out, sample_submission)


# --------------------------------------------------------------------------------------------
# A counted set of photos that is not the split: the public dev-hard set
# --------------------------------------------------------------------------------------------
def read_counted_folder(root: str | Path) -> tuple[Path, pd.DataFrame]:
    """(photos folder, true counts indexed by id) of a counted set in the dev-hard layout:
    ``photos/`` and ``counts.csv`` (Kaggle's header). The ids must be the photos' own."""
    root = Path(root)
    photos, counts_file = root / "photos", root / "counts.csv"
    if not photos.is_dir():
        raise ChocoError("no photos/ folder in this counted set", root)
    truth = dataset.read_counts(counts_file)
    found = {dataset.photo_id(stem) for stem in dataset.list_photos(photos)}
    missing, extra = sorted(set(truth.index) - found), sorted(found - set(truth.index))
    if missing or extra:
        raise ChocoError(
            f"{len(missing)} id(s) of counts.csv have no photo and {len(extra)} photo(s) no counts, first: {(missing or extra)[0]}",
            counts_file,
        )
    return photos, truth


def score_counted_folder(
    model, root: str | Path, side: int | None, threshold: float, tta: str = "none", batch_size: int = 4, cross_class: str = "off"
) -> tuple[dict, Detections, pd.DataFrame]:
    """The course metric of `model` at `threshold` on a counted set (`read_counted_folder`), its
    detections counted under the `cross_class` rule: ({photos, chocolates, f1, images_per_s}, the
    raw detections, the true counts)."""
    photos, truth = read_counted_folder(root)
    found = detect(model, photos, side, batch_size, tta=tta)
    truth = truth.loc[found.ids]
    return (
        {
            "photos": len(found.ids),
            "chocolates": int(truth.to_numpy().sum()),
            "f1": f1_at(found.one_per_chocolate(cross_class), truth, threshold),
            "images_per_s": found.images_per_s,
        },
        found,
        truth,
    )


# --------------------------------------------------------------------------------------------
# One photo, one command
# --------------------------------------------------------------------------------------------
#: Where `count` looks for a checkpoint when none is given, in order: the committed run's
#: (`make canonical`), then that of `make all` (the `cpu` profile's default output root).
DEFAULT_WEIGHTS = (paths.REPO_ROOT / "models" / "faster_rcnn" / "best.pt", paths.default_root("cpu") / "models" / "faster_rcnn" / "best.pt")


@dataclass
class PhotoCount:
    photo: Path
    counts: pd.Series  # Kaggle name → count
    drawn: Path

    def line(self) -> str:
        found = ", ".join(f"{name} {n}" for name, n in self.counts.items() if n)
        return f"{self.photo.name}: {int(self.counts.sum())} chocolate(s){': ' + found if found else ''} (drawn: {self.drawn})"


def draw_detections(image, kept: pd.DataFrame, title: str):
    """`image` (PIL) with its kept detections (normalised x0..y1) in class colours and a title band."""
    from PIL import ImageDraw

    image = image.copy()
    width, height = image.size
    pen = ImageDraw.Draw(image)
    line = max(2, round(max(width, height) / 400))
    for box in kept.to_dict("records"):
        color = classes.COLORS[box["class"]]
        xy = (box["x0"] * width, box["y0"] * height, box["x1"] * width, box["y1"] * height)
        pen.rectangle(xy, outline=color, width=line)
        label = f"{box['class']} {box['score']:.2f}"
        left, top, right, bottom = pen.textbbox((xy[0], xy[1]), label)
        lift = bottom - top + 2 * line
        pen.rectangle((left, top - lift, right + 2 * line, bottom - lift + line), fill=color)
        pen.text((xy[0] + line, xy[1] - lift), label, fill="black")
    band = pen.textbbox((0, 0), title)[3] + 3 * line
    pen.rectangle((0, 0, width, band), fill="white")
    pen.text((line, line), title, fill="black")
    return image


def count_photos(
    photos: list[str | Path],
    weights: str | Path | None,
    out_dir: str | Path,
    threshold: float | None = None,
    device: str = "auto",
    tta: str | None = None,
    amp: str = "off",
    cross_class: str | None = None,
) -> list[PhotoCount]:
    """The `count` command: each photo's counts per class at the model's threshold, and the photo
    with its detections drawn, as ``out_dir/<stem>_counted.jpg``. `weights` defaults to the first
    of `DEFAULT_WEIGHTS` that exists."""
    if weights is None:
        weights = next((path for path in DEFAULT_WEIGHTS if path.is_file()), None)
        if weights is None:
            raise ChocoError(
                "no trained model: pass --weights CKPT (a best.pt written by train), or run `make canonical` or `make all` first",
                DEFAULT_WEIGHTS[0],
            )
        log.info("count: the model %s", weights)
    weights = Path(weights)
    if not weights.is_file():
        raise ChocoError("checkpoint not found", weights)
    photos = [Path(p) for p in photos]
    threshold, tta = threshold_for(weights, threshold), tta_for(weights, tta)
    cross_class = cross_class_for(weights, cross_class)
    model, side = load_for_inference(weights, device)
    found = detect(model, photos, side, batch_size=1, tta=tta, amp=amp).one_per_chocolate(cross_class)
    counts = found.counts(threshold)
    kept = found.kept(threshold)
    results = []
    for photo, photo_id in zip(photos, found.ids):
        image = dataset.read_photo(photo, max_side=side)
        row = counts.loc[photo_id]
        title = f"{photo.name}: {int(row.sum())} chocolate(s) at score >= {threshold:.2f}"
        drawn = Path(out_dir) / f"{photo.stem}_counted.jpg"
        with fileio.atomic_path(drawn) as tmp:
            draw_detections(image, kept[kept["id"] == photo_id], title).save(tmp, quality=90)
        results.append(PhotoCount(photo, row, drawn))
    return results
