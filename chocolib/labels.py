"""The project's label files: one YOLO line per chocolate (``<Kaggle index> cx cy w h``, normalised),
the one place where YOLO text is parsed and boxes are clipped to the photo.

`chocolib.annotations` writes these files from an annotator's export (and parses YOLO exports with
the same parser); `chocolib.dataset` and `chocolib.augment` read them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from chocolib import classes
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

# Boxes thinner than this fraction of the photo are annotation slips, not chocolates.
MIN_BOX_SIDE = 1e-4


@dataclass(frozen=True)
class Box:
    """One box: Kaggle class index and normalised centre/size; `where` is ``file:line``."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float
    where: str

    def yolo_line(self) -> str:
        return f"{self.cls} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"


def clipped_box(cls: int, x0: float, y0: float, x1: float, y1: float, where: str) -> Box | None:
    """Clip normalised corners to the photo; None (logged) for a box that is outside or degenerate."""
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        log.warning("%s: degenerate box (zero width or height), dropped", where)
        return None
    cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, 1.0), min(y1, 1.0)
    if cx1 - cx0 < MIN_BOX_SIDE or cy1 - cy0 < MIN_BOX_SIDE:
        log.warning("%s: box lies wholly outside the photo, dropped", where)
        return None
    return Box(cls, (cx0 + cx1) / 2, (cy0 + cy1) / 2, cx1 - cx0, cy1 - cy0, where)


def _number(token: str, path: Path, line_no: int) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ChocoError(f"{token!r} is not a number", path, line_no) from None
    if not math.isfinite(value):
        raise ChocoError(f"{token!r} is not a finite number", path, line_no)
    return value


def parse_yolo_file(path: Path, class_map: list[int], names_file: str) -> list[Box]:
    """Parse a YOLO label file; `class_map[i]` is the Kaggle index of the file's class id ``i``."""
    boxes: list[Box] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChocoError(f"cannot read label file: {exc}", path) from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 5 and (len(tokens) < 7 or len(tokens) % 2 == 0):
            raise ChocoError(
                f"expected 'class cx cy w h' (5 fields) or a polygon 'class x1 y1 x2 y2 ...', got {len(tokens)} field(s)", path, line_no
            )
        class_value = _number(tokens[0], path, line_no)
        if class_value != int(class_value):
            raise ChocoError(f"class id {tokens[0]!r} is not an integer", path, line_no)
        class_id = int(class_value)
        if not 0 <= class_id < len(class_map):
            raise ChocoError(
                f"class id {class_id} is out of range: {names_file} lists {len(class_map)} classes (0–{len(class_map) - 1})", path, line_no
            )
        coords = [_number(t, path, line_no) for t in tokens[1:]]
        if max(abs(c) for c in coords) > 2:
            raise ChocoError(
                f"coordinate {max(coords, key=abs)} is not normalised: YOLO coordinates are fractions of the photo's size", path, line_no
            )
        where = f"{path}:{line_no}"
        if len(coords) == 4:
            cx, cy, w, h = coords
            if w < 0 or h < 0:
                raise ChocoError(f"negative width or height ({w}, {h})", path, line_no)
            corners = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        else:
            xs, ys = coords[0::2], coords[1::2]
            corners = (min(xs), min(ys), max(xs), max(ys))
        box = clipped_box(class_map[class_id], *corners, where)
        if box is not None:
            boxes.append(box)
    return boxes


def read_label_file(path: str | Path) -> list[Box]:
    """One of this project's own label files (class index = Kaggle column order)."""
    return parse_yolo_file(Path(path), list(range(classes.NUM_CLASSES)), "chocolib.classes.KAGGLE_NAMES")
