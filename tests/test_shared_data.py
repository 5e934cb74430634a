"""The real IAPR 2025 annotation against the twin photos (skipped when ../shared/data is absent)."""

import pandas as pd
import pytest

from chocolib import annotations
from conftest import IAPR, TWIN, last_line, needs_shared, run_cli

pytestmark = needs_shared

EXPORTS = {
    "roboflow": IAPR / "annotations" / "roboflow_yolo",
    "coco": IAPR / "annotations" / "coco_polygons" / "instances_train.json",
}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = {}
    for name, source in EXPORTS.items():
        labels = tmp_path_factory.mktemp(name) / "labels"
        result = run_cli(
            "import-annotations", "--source", source, "--images", TWIN / "train", "--counts", TWIN / "train.csv", "--out", labels
        )
        assert result.returncode == 0, result.stderr
        out[name] = (last_line(result.stdout), labels)
    return out


@pytest.mark.parametrize("name", EXPORTS)
def test_import_counts_and_the_known_discrepancy(imported, name):
    line, labels = imported[name]
    assert line == "images=90 boxes=584 mismatches=1"
    table = pd.read_csv(labels / "discrepancies.csv", dtype={"id": str})
    assert set(table["id"]) == {"1000780"}
    assert {(r["class"], r["annotated"], r["counted"]) for r in table.to_dict("records")} == {("Jelly Milk", 2, 1), ("Jelly Black", 0, 1)}


def test_roboflow_and_coco_agree_box_by_box(imported):
    a, b = (annotations.read_labels(imported[n][1]).sort_values(["stem", "cls", "cx", "cy"]).reset_index(drop=True) for n in EXPORTS)
    assert (a[["stem", "cls"]] == b[["stem", "cls"]]).all().all()
    assert (a[["cx", "cy", "w", "h"]] - b[["cx", "cy", "w", "h"]]).abs().to_numpy().max() < 1e-4
