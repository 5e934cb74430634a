"""The course metric's core, against values computed by hand."""

import numpy as np
import pytest

from chocolib import metric


@pytest.mark.parametrize("true, predicted, expected", [
    ([0, 0, 0], [0, 0, 0], 1.0),          # nothing to find, nothing found
    ([0, 0, 0], [1, 0, 0], 0.0),          # TP 0, FPN 1
    ([2, 1, 0], [2, 1, 0], 1.0),
    ([2, 0, 0], [1, 0, 0], 2 / 3),        # under-counting: TP 1, FPN 1 → 2/(2+1)
    ([1, 0, 0], [3, 0, 0], 0.5),          # over-counting: TP 1, FPN 2 → 2/(2+2)
    ([2, 1, 0], [1, 0, 2], 2 / 6),        # mixed: TP 1, FPN 1+1+2 → 2/(2+4)
])
def test_count_f1_by_hand(true, predicted, expected):
    assert metric.count_f1([true], [predicted])[0] == pytest.approx(expected)


def test_mean_over_images():
    true = np.array([[0, 0], [2, 0], [1, 0]])
    predicted = np.array([[0, 0], [1, 0], [3, 0]])
    assert metric.mean_count_f1(true, predicted) == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    with pytest.raises(ValueError, match="differ in shape"):
        metric.count_f1(true, predicted[:2])
