"""Judging a model beyond its validation photos: one criterion over four measurements.

The validation split shares the training photos' look and scale, so a model is judged on four
count F1s, all at the threshold chosen on clean validation (`predict.choose_threshold`):

* **clean** — the validation photos as they are;
* **corruption** — the mean over the corruption suite (`chocolib.robustness`: blur, noise, JPEG,
  light and colour, three severities each);
* **shift** — the mean over the shift suite (`chocolib.shifts`: camera farther and closer,
  things lying across chocolates, hard shadows);
* **dev-hard** — a counted set never trained on (`predict.score_counted_folder`), when given.

The **criterion** is their mean: a model that wins clean validation but loses the rest does not win.
`benchmarks/accuracy_budget.py` ranks training candidates by it, `benchmarks/generalisation.py`
prints it for checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from chocolib import annotations, predict, robustness, shifts

PARTS = ("clean F1", "corruption F1", "shift F1", "dev-hard F1")


def parts(clean: float, corruption: float | None, shift: float | None, dev_hard: float | None = None) -> dict[str, float]:
    """The measured parts by name (`PARTS`); one not measured (None: no counted set, say) is left out."""
    return {name: float(value) for name, value in zip(PARTS, (clean, corruption, shift, dev_hard)) if value is not None}


def criterion(measured: dict[str, float]) -> float:
    """The criterion: the mean of the parts measured."""
    return sum(measured.values()) / len(measured)


def describe(threshold) -> str:
    """A threshold as a table prints it: ``0.86``, or ``per class 0.70–0.93`` for a mapping."""
    if isinstance(threshold, dict):
        return f"per class {min(threshold.values()):.2f}–{max(threshold.values()):.2f}"
    return f"{threshold:.2f}"


@dataclass
class Judgement:
    threshold: float | dict[str, float]  # one number, or one per class name
    parts: dict[str, float]
    corruptions: pd.DataFrame
    shifts: pd.DataFrame
    shift_errors: pd.DataFrame
    dev_hard: dict | None = None

    @property
    def criterion(self) -> float:
        return criterion(self.parts)

    def row(self) -> dict:
        threshold = describe(self.threshold) if isinstance(self.threshold, dict) else self.threshold
        return {"threshold": threshold, **self.parts, "criterion": self.criterion}


def judge(
    model,
    val_dir: str | Path,
    side: int | None,
    dev_hard: str | Path | None = None,
    threshold: float | None = None,
    seed: int = 0,
    corruptions=None,
    tta: str = "none",
    per_class: bool = False,
) -> Judgement:
    """The four measurements of `model` on a split folder `val_dir` (``images/``, ``labels/``) and
    the counted set `dev_hard` (None: three parts), at `threshold` (None: chosen on clean validation,
    one for every class, or with `per_class` one per class, `predict.per_class_thresholds`)."""
    val_dir = Path(val_dir)
    labels = annotations.read_labels(val_dir / "labels")
    found = predict.detect(model, val_dir / "images", side, tta=tta)
    truth = predict.true_counts(labels, found.ids)
    if threshold is None:
        choice = predict.choose_threshold(found, truth)
        threshold = choice.per_class if per_class else choice.threshold
    corrupted = robustness.corruption_table(model, val_dir / "images", truth, side, threshold, seed, corruptions, tta=tta)
    shifted, errors = shifts.shift_table(model, val_dir / "images", labels, side, threshold, seed, tta=tta)
    hard = None if dev_hard is None else predict.score_counted_folder(model, dev_hard, side, threshold, tta)[0]
    measured = parts(
        predict.f1_at(found, truth, threshold),
        robustness.summary(corrupted)["corruption_f1"],
        shifts.summary(shifted)["shift_f1"],
        None if hard is None else hard["f1"],
    )
    return Judgement(threshold, measured, corrupted, shifted, errors, hard)
