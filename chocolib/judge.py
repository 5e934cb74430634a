"""Judging a model beyond its validation photos: one criterion over four measurements.

The validation split shares the training photos' look and scale, so a model is judged on four
count F1s, all at one threshold chosen on the first three (`predict.choose_threshold`; dev-hard
chooses nothing):

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
#: Where a threshold left to `judge` is chosen: on clean validation and its corruption and shift
#: suites (notebook 05's rule), or on clean validation alone (the rule before it)
CHOOSE_ON = ("suites", "clean")


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
    cross_class: str = "off"  # the rule boxes of different classes on one chocolate were counted under

    @property
    def criterion(self) -> float:
        return criterion(self.parts)

    def row(self) -> dict:
        threshold = describe(self.threshold) if isinstance(self.threshold, dict) else self.threshold
        return {"threshold": threshold, "cross_class": self.cross_class, **self.parts, "criterion": self.criterion}


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
    choose_on: str = "suites",
    cross_class: str | None = None,
) -> Judgement:
    """The four measurements of `model` on a split folder `val_dir` (``images/``, ``labels/``) and
    the counted set `dev_hard` (None: three parts), at `threshold` (None: chosen as notebook 05
    chooses it, on clean validation and its two suites, or with `choose_on` "clean" on clean
    validation alone; one for every class, or with `per_class` one per class,
    `predict.per_class_thresholds`), counting boxes of different classes on one chocolate by the
    rule `cross_class` (`predict.CROSS_CLASS_RULES`; None: chosen with the threshold as notebook 05
    chooses it, `predict.choose_counting`, or ``off`` when `threshold` is given)."""
    if choose_on not in CHOOSE_ON:
        raise ValueError(f"choose_on {choose_on!r}: one of {', '.join(CHOOSE_ON)}")
    val_dir = Path(val_dir)
    labels = annotations.read_labels(val_dir / "labels")
    found = predict.detect(model, val_dir / "images", side, tta=tta)
    truth = predict.true_counts(labels, found.ids)
    corrupted = robustness.detect_corrupted(model, val_dir / "images", side, seed, corruptions, tta=tta, clean=found)
    shifted = shifts.detect_shifted(model, val_dir / "images", labels, side, seed, tta=tta, clean=found)
    if threshold is None:
        suites = {"corruption F1": corrupted.counted_sets(truth), "shift F1": shifted.counted_sets()} if choose_on == "suites" else None
        choice = predict.choose_counting(found, truth, suites, None if cross_class is None else (cross_class,))
        threshold = choice.per_class if per_class else choice.threshold
        cross_class = choice.cross_class
    cross_class = predict.check_cross_class(cross_class or "off")
    corruption_rows = corrupted.one_per_chocolate(cross_class).rows(truth, threshold)
    shift_rows, errors = shifted.one_per_chocolate(cross_class).rows(threshold)
    hard = None if dev_hard is None else predict.score_counted_folder(model, dev_hard, side, threshold, tta, cross_class=cross_class)[0]
    measured = parts(
        predict.f1_at(found.one_per_chocolate(cross_class), truth, threshold),
        robustness.summary(corruption_rows)["corruption_f1"],
        shifts.summary(shift_rows)["shift_f1"],
        None if hard is None else hard["f1"],
    )
    return Judgement(threshold, measured, corruption_rows, shift_rows, errors, hard, cross_class)
