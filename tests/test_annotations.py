import json
import random
from pathlib import Path

import pandas as pd
import pytest

from chocolib import annotations, classes, dataset, labels
from conftest import assert_user_error, last_line, run_cli

ROBOFLOW = Path("annotations") / "roboflow_yolo"


def _import(data: Path, source: Path, out: Path, *extra) -> str:
    result = run_cli("import-annotations", "--source", source, "--images", data / "train", "--out", out, *extra)
    assert result.returncode == 0, result.stderr
    return last_line(result.stdout)


def _labels(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.txt"))}


def _label_table(folder: Path) -> pd.DataFrame:
    return annotations.read_labels(folder).sort_values(["stem", "cls", "cx", "cy"]).reset_index(drop=True)


def test_roboflow_export_maps_alphabetical_ids_to_kaggle_order(tiny, tmp_path):
    counts = dataset.read_counts(tiny / "train.csv")
    line = _import(tiny, tiny / ROBOFLOW, tmp_path / "labels", "--counts", tiny / "train.csv")
    assert line == f"images=12 boxes={counts.to_numpy().sum()} mismatches=0"
    table = annotations.read_labels(tmp_path / "labels")
    per_photo = table.groupby(["id", "class"]).size().unstack(fill_value=0).reindex(columns=classes.KAGGLE_NAMES, fill_value=0)
    pd.testing.assert_frame_equal(per_photo, counts.loc[per_photo.index], check_names=False)
    discrepancies = pd.read_csv(tmp_path / "labels" / "discrepancies.csv")
    assert list(discrepancies.columns) == ["id", "class", "annotated", "counted", "difference"] and discrepancies.empty


def _write_cvat(tiny: Path, dest: Path) -> Path:
    """A CVAT 'YOLO 1.1' export of the tiny boxes, with its own (shuffled) class order."""
    alphabetical = sorted(classes.KAGGLE_NAMES)
    order = alphabetical[:]
    random.Random(3).shuffle(order)
    (dest / "obj_train_data" / "batch1").mkdir(parents=True)
    (dest / "obj.names").write_text("\n".join(order) + "\n")
    (dest / "obj.data").write_text(f"classes = {len(order)}\nnames = data/obj.names\ntrain = data/train.txt\n")
    for label in (tiny / ROBOFLOW / "train" / "labels").glob("*.txt"):
        stem = label.name.split("_JPG")[0]
        lines = []
        for line in label.read_text().splitlines():
            cls, *coords = line.split()
            lines.append(" ".join([str(order.index(alphabetical[int(cls)])), *coords]))
        (dest / "obj_train_data" / "batch1" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return dest


def _write_coco(tiny: Path, dest: Path, scale: float = 2.0) -> Path:
    """A COCO export of the tiny boxes, annotated on copies `scale` times the photos' size."""
    alphabetical = sorted(classes.KAGGLE_NAMES)
    spelled = {"Crème brulée": "Crème brûlée", "Tentation noir": "Tentation Noir", "Jelly White": "jelly_white"}
    categories = [{"id": i + 1, "name": spelled.get(n, n), "supercategory": "chocolate"} for i, n in enumerate(alphabetical)]
    categories.insert(0, {"id": 0, "name": "chocolates-project", "supercategory": "none"})  # as Roboflow writes
    images, anns = [], []
    for image_id, label in enumerate(sorted((tiny / ROBOFLOW / "train" / "labels").glob("*.txt")), start=1):
        stem = label.name.split("_JPG")[0]
        w, h = dataset.photo_size(tiny / "train" / f"{stem}.JPG")
        W, H = w * scale, h * scale
        images.append({"id": image_id, "file_name": f"{stem}_JPG.rf.0123abcd.jpg", "width": W, "height": H})
        for line in label.read_text().splitlines():
            cls, cx, cy, bw, bh = (float(v) for v in line.split())
            bbox = [(cx - bw / 2) * W, (cy - bh / 2) * H, bw * W, bh * H]
            anns.append(
                {"id": len(anns), "image_id": image_id, "category_id": int(cls) + 1, "bbox": bbox, "iscrowd": 0, "area": bbox[2] * bbox[3]}
            )
    dest.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    return dest


def test_cvat_and_coco_exports_give_the_same_labels(tiny, tmp_path):
    reference = _import(tiny, tiny / ROBOFLOW, tmp_path / "roboflow")
    assert _import(tiny, _write_cvat(tiny, tmp_path / "cvat"), tmp_path / "from_cvat") == reference
    assert _labels(tmp_path / "from_cvat") == _labels(tmp_path / "roboflow")
    assert _import(tiny, _write_coco(tiny, tmp_path / "coco.json"), tmp_path / "from_coco") == reference
    a, b = _label_table(tmp_path / "roboflow"), _label_table(tmp_path / "from_coco")
    assert (a[["stem", "cls"]] == b[["stem", "cls"]]).all().all()
    assert (a[["cx", "cy", "w", "h"]] - b[["cx", "cy", "w", "h"]]).abs().to_numpy().max() < 2e-6


def test_polygon_lines_become_their_bounding_box(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("2 0.1 0.2 0.5 0.2 0.3 0.6\n")
    (box,) = labels.parse_yolo_file(path, list(range(13)), "names")
    assert box.cls == 2 and (box.cx, box.cy, box.w, box.h) == pytest.approx((0.3, 0.4, 0.4, 0.4))


def test_a_count_mismatch_is_reported_not_hidden(tiny, tmp_path):
    csv = tiny / "train.csv"
    lines = csv.read_text().splitlines()
    fields = lines[5].split(",")
    fields[1] = str(int(fields[1]) + 2)
    lines[5] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")
    assert _import(tiny, tiny / ROBOFLOW, tmp_path / "labels").endswith("mismatches=1")  # counts default: train.csv beside train/
    table = pd.read_csv(tmp_path / "labels" / "discrepancies.csv", dtype={"id": str})
    assert table.to_dict("records") == [
        {"id": fields[0], "class": "Jelly White", "annotated": int(fields[1]) - 2, "counted": int(fields[1]), "difference": -2}
    ]


def test_a_rerun_replaces_the_labels_folder(tiny, tmp_path):
    out = tmp_path / "labels"
    out.mkdir()
    (out / "L0000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    _import(tiny, tiny / ROBOFLOW, out)
    assert not (out / "L0000001.txt").exists() and len(_labels(out)) == 12


def _first_label(tiny: Path) -> Path:
    return sorted((tiny / ROBOFLOW / "train" / "labels").glob("*.txt"))[0]


def _cli_import(tiny: Path, tmp_path: Path, source: Path | None = None):
    return run_cli("import-annotations", "--source", source or tiny / ROBOFLOW, "--images", tiny / "train", "--out", tmp_path / "labels")


@pytest.mark.parametrize(
    "line, fragments",
    [
        ("3 0.5 0.5 0.1", ["expected 'class cx cy w h'", "got 4 field(s)"]),
        ("13 0.5 0.5 0.1 0.1", ["class id 13 is out of range", "data.yaml lists 13 classes (0–12)"]),
        ("3 0.5 abc 0.1 0.1", ["'abc' is not a number"]),
        ("3 512 300 40 40", ["not normalised"]),
        ("x 0.5 0.5 0.1 0.1", ["'x' is not a number"]),
    ],
)
def test_malformed_label_lines_name_file_and_line(tiny, tmp_path, line, fragments):
    label = _first_label(tiny)
    label.write_text(label.read_text() + line + "\n")
    line_no = len(label.read_text().splitlines())
    assert_user_error(_cli_import(tiny, tmp_path), f"{label.name}:{line_no}:", *fragments)
    assert not (tmp_path / "labels").exists()  # nothing half-written


def test_a_box_outside_the_photo_is_dropped_and_logged(tiny, tmp_path):
    label = _first_label(tiny)
    before = len(label.read_text().splitlines())
    label.write_text(label.read_text() + "3 1.5 1.5 0.2 0.2\n" + "3 0.95 0.5 0.2 0.2\n")
    result = _cli_import(tiny, tmp_path)
    assert result.returncode == 0
    assert f"{label.name}:{before + 1}: box lies wholly outside the photo, dropped" in result.stderr
    stem = label.name.split("_JPG")[0]
    labels = annotations.read_labels(tmp_path / "labels")
    kept = labels[labels["stem"] == stem]
    assert len(kept) == before + 1  # the half-outside box is clipped, not dropped
    clipped = kept.iloc[-1]
    assert clipped["cx"] + clipped["w"] / 2 == pytest.approx(1.0) and clipped["w"] == pytest.approx(0.15)


def test_unknown_class_name_in_data_yaml(tiny, tmp_path):
    yaml_path = tiny / ROBOFLOW / "data.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("'Noblesse'", "'Toblerone'"))
    assert_user_error(_cli_import(tiny, tmp_path), "data.yaml: names[7]", "unknown class name 'Toblerone'")


def test_unknown_class_name_in_obj_names_has_a_line(tiny, tmp_path):
    export = _write_cvat(tiny, tmp_path / "cvat")
    names = (export / "obj.names").read_text().splitlines()
    names[4] = "Milka"
    (export / "obj.names").write_text("\n".join(names) + "\n")
    assert_user_error(_cli_import(tiny, tmp_path, export), "obj.names:5:", "unknown class name 'Milka'")


def test_no_class_names_file(tiny, tmp_path):
    (tiny / ROBOFLOW / "data.yaml").unlink()
    assert_user_error(_cli_import(tiny, tmp_path), "roboflow_yolo", "no class names file")


def test_a_label_file_without_photo(tiny, tmp_path):
    label = _first_label(tiny)
    label.with_name("L7777777_JPG.rf.abc123.txt").write_text(label.read_text())
    assert_user_error(_cli_import(tiny, tmp_path), "L7777777_JPG.rf.abc123.txt", "no photo L7777777")


def test_a_photo_without_annotation_is_left_out_and_logged(tiny, tmp_path):
    label = _first_label(tiny)
    label.unlink()
    result = _cli_import(tiny, tmp_path)
    assert result.returncode == 0 and "no annotation in" in result.stderr
    assert last_line(result.stdout).startswith("images=11 ") and last_line(result.stdout).endswith("mismatches=1")


def test_coco_errors(tiny, tmp_path):
    coco = _write_coco(tiny, tmp_path / "coco.json")
    data = json.loads(coco.read_text())
    data["images"][0]["height"] = data["images"][0]["width"]  # a square image for a 3:2 photo
    coco.write_text(json.dumps(data))
    assert_user_error(_cli_import(tiny, tmp_path, coco), "coco.json", "not the same picture shape")
    coco.write_text("{not json")
    assert_user_error(_cli_import(tiny, tmp_path, coco), "coco.json", "not valid JSON")
    data = json.loads(_write_coco(tiny, coco).read_text())
    data["categories"][3]["name"] = "Ferrero"
    coco.write_text(json.dumps(data))
    assert_user_error(_cli_import(tiny, tmp_path, coco), "coco.json: category 3", "unknown class name 'Ferrero'")


def test_a_folder_named_like_a_json_file_is_not_read_as_coco(tiny, tmp_path):
    (tmp_path / "export" / "labels.json").mkdir(parents=True)
    assert_user_error(_cli_import(tiny, tmp_path, tmp_path / "export"), "export", "no class names file")


def test_missing_inputs(tiny, tmp_path):
    assert_user_error(_cli_import(tiny, tmp_path, tmp_path / "nope"), "nope", "annotation export not found")
    result = run_cli("import-annotations", "--source", tiny / ROBOFLOW, "--images", tmp_path / "nophotos", "--out", tmp_path / "labels")
    assert_user_error(result, "nophotos", "photo folder not found")
