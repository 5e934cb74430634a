"""The course metric's core, against values computed by hand."""

import numpy as np
import pytest

from chocolib import classes, metric
from conftest import assert_user_error, last_line, run_cli


@pytest.mark.parametrize(
    "true, predicted, expected",
    [
        ([0, 0, 0], [0, 0, 0], 1.0),  # nothing to find, nothing found
        ([0, 0, 0], [1, 0, 0], 0.0),  # TP 0, FPN 1
        ([2, 1, 0], [2, 1, 0], 1.0),
        ([2, 0, 0], [1, 0, 0], 2 / 3),  # under-counting: TP 1, FPN 1 → 2/(2+1)
        ([1, 0, 0], [3, 0, 0], 0.5),  # over-counting: TP 1, FPN 2 → 2/(2+2)
        ([2, 1, 0], [1, 0, 2], 2 / 6),  # mixed: TP 1, FPN 1+1+2 → 2/(2+4)
    ],
)
def test_count_f1_by_hand(true, predicted, expected):
    assert metric.count_f1([true], [predicted])[0] == pytest.approx(expected)


def test_mean_over_images():
    true = np.array([[0, 0], [2, 0], [1, 0]])
    predicted = np.array([[0, 0], [1, 0], [3, 0]])
    assert metric.mean_count_f1(true, predicted) == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    with pytest.raises(ValueError, match="differ in shape"):
        metric.count_f1(true, predicted[:2])


# --------------------------------------------------------------------------------------------
# The score command
# --------------------------------------------------------------------------------------------
#: Kaggle's header, as a literal (not rebuilt from chocolib.classes, which it checks)
KAGGLE_HEADER = (
    "id,Jelly White,Jelly Milk,Jelly Black,Amandina,Crème brulée,Triangolo,Tentation noir,Comtesse,"
    "Noblesse,Noir authentique,Passion au lait,Arabia,Stracciatella"
)
HEADER = KAGGLE_HEADER


def test_the_class_order_is_kaggles_header_written_out():
    assert ",".join(classes.CSV_COLUMNS) == KAGGLE_HEADER


def test_a_submission_scores_what_was_worked_out_by_hand(tmp_path):
    """Three photos, worked on paper: photo 1 true (Jelly White 2, Arabia 1), counted (2, 0) → TP 2,
    FPN 1, F1 4/5; photo 2 true (Comtesse 1), counted (Comtesse 1, Noblesse 2) → TP 1, FPN 2, F1 2/4;
    photo 3 empty and counted empty → 1. Mean (0.8 + 0.5 + 1) / 3 = 0.766667."""

    def row(**counts):
        names = KAGGLE_HEADER.split(",")[1:]
        return [counts.get(name.replace(" ", "_").replace("è", "e"), 0) for name in names]

    truth = _csv(tmp_path / "truth.csv", [("1", row(Jelly_White=2, Arabia=1)), ("2", row(Comtesse=1)), ("3", row())])
    sub = _csv(tmp_path / "sub.csv", [("1", row(Jelly_White=2)), ("2", row(Comtesse=1, Noblesse=2)), ("3", row())])
    assert last_line(run_cli("score", "--truth", truth, "--submission", sub).stdout) == "0.766667"


def _csv(path, rows):
    path.write_text(HEADER + "\n" + "".join(f"{i}," + ",".join(map(str, r)) + "\n" for i, r in rows))
    return path


def test_score_command(tmp_path):
    truth = _csv(tmp_path / "truth.csv", [("1", [2] + [0] * 12), ("2", [0] * 13)])
    # once through the real entry point, a fresh `python -m chocolib`: what __main__ runs is cli.main
    assert last_line(run_cli("score", "--truth", truth, "--submission", truth, fresh_process=True).stdout) == "1.000000"
    sub = _csv(tmp_path / "sub.csv", [("2", [0] * 13), ("1", [1] + [0] * 12)])  # order does not matter
    assert last_line(run_cli("score", "--truth", truth, "--submission", sub).stdout) == f"{(2 / 3 + 1) / 2:.6f}"


@pytest.mark.parametrize(
    "rows, header, fragments",
    [
        ([("1", [0] * 13)], None, ["sub.csv", "1 id(s) of truth.csv missing, first: 2"]),
        ([("1", [0] * 13), ("2", [0] * 13), ("3", [0] * 13)], None, ["sub.csv", "not in truth.csv, first: 3"]),
        ([("1", [0] * 13), ("2", [-1] + [0] * 12)], None, ["sub.csv:3", "non-negative integers"]),
        ([("1", [0] * 13), ("2", ["1.5"] + [0] * 12)], None, ["sub.csv:3", "'1.5'"]),
        ([("1", [0] * 13), ("2", [0] * 13)], "id,Jelly White", ["sub.csv:1", "header"]),
    ],
)
def test_score_errors(tmp_path, rows, header, fragments):
    truth = _csv(tmp_path / "truth.csv", [("1", [0] * 13), ("2", [1] * 13)])
    sub = _csv(tmp_path / "sub.csv", rows)
    if header:
        sub.write_text(sub.read_text().replace(HEADER, header, 1))
    assert_user_error(run_cli("score", "--truth", truth, "--submission", sub), *fragments)
