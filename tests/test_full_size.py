"""Camera-size photos, as the real dataset has them: 6000×4000 JPEGs, some stored rotated with an
EXIF orientation flag, through check, import-annotations, augment and predict."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps

from chocolib import dataset, synthetic
from chocolib.labels import read_label_file
from conftest import last_line, run_cli


@pytest.fixture(scope="module")
def camera(tiny_source, tmp_path_factory):
    """4 training and 4 test photos of the tiny dataset at 6000×4000; photos 1 and 3 of each split
    stored rotated (EXIF 6 and 8)."""
    out = tmp_path_factory.mktemp("camera") / "kaggle"
    return synthetic.camera_copy(tiny_source, out, photos_per_split=4, rotate_every=2, quality=80, workers=2)


def _orientation(path) -> int:
    with Image.open(path) as image:
        return image.getexif().get(0x0112, 1)


def test_the_copy_is_camera_sized_with_portrait_storage(camera, tiny_source):
    photos = sorted((camera / "train").glob("*.JPG"))
    assert [_orientation(p) for p in photos] == [1, 6, 1, 8]
    for photo in photos:
        with Image.open(photo) as image:
            stored = image.size
        assert stored == ((6000, 4000) if _orientation(photo) == 1 else (4000, 6000))
        assert dataset.photo_size(photo) == (6000, 4000)  # as displayed
        # the upright picture, decoded reduced, is the original's
        original = dataset.read_photo(tiny_source / "train" / photo.name, max_side=300)
        assert np.abs(np.asarray(dataset.read_photo(photo, max_side=300), float) - np.asarray(original, float)).mean() < 6


def test_check_accepts_the_camera_folder(camera):
    result = run_cli("check", "--data", camera)
    assert result.returncode == 0, result.stderr[-2000:]
    assert last_line(result.stdout).startswith("train_photos=4 ") and "test_photos=4" in last_line(result.stdout)


def test_boxes_land_on_the_chocolates_of_the_oriented_photo(camera, tiny_labels, tmp_path):
    labels = tmp_path / "labels"
    result = run_cli(
        "import-annotations", "--source", camera / "annotations" / "roboflow_yolo", "--images", camera / "train", "--out", labels
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert last_line(result.stdout).startswith("images=4 ")
    for label in sorted(labels.glob("*.txt")):  # the same normalised boxes as on the small upright originals
        assert label.read_text() == (tiny_labels / label.name).read_text()

    out = tmp_path / "augmented"
    result = run_cli(
        "augment",
        "--images",
        camera / "train",
        "--labels",
        labels,
        "--out",
        out,
        "--passes",
        "1",
        "--val-fraction",
        "0.25",
        "--work-side",
        "384",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    rotated = {p.stem for p in (camera / "train").glob("*.JPG") if _orientation(p) != 1}
    originals = [v for v in manifest["versions"] if v["pass"] == 0 and v["kept"] and v["stem"] in rotated]
    assert originals
    for version in originals:
        image = Image.open(out / version["split"] / "images" / f"{version['name']}.jpg")
        assert image.size == (384, 256)  # landscape: the EXIF flag was applied
        # every box of the resized original covers a chocolate: its pixels differ from the photo's median background
        boxes = read_label_file(out / version["split"] / "labels" / f"{version['name']}.txt")
        pixels = np.asarray(ImageOps.grayscale(image), float)
        upright = np.asarray(ImageOps.grayscale(dataset.read_photo(camera / "train" / f"{version['stem']}.JPG", max_side=384)), float)
        assert np.abs(pixels - upright).mean() < 6
        assert boxes
        # every box covers a chocolate: its centre differs from the ring of table just around the box
        # far more than it does for the same boxes turned half a turn, as a box read against the
        # stored (unrotated) photo would lie
        rgb = np.asarray(image, float)
        height, width = rgb.shape[:2]

        def contrast(cx, cy, w, h, rgb=rgb, height=height, width=width):
            def mean(scale):
                x0, x1 = max(0, int((cx - scale * w) * width)), min(width, int(np.ceil((cx + scale * w) * width)))
                y0, y1 = max(0, int((cy - scale * h) * height)), min(height, int(np.ceil((cy + scale * h) * height)))
                region = rgb[y0:y1, x0:x1]
                return region.reshape(-1, 3).sum(0), region.shape[0] * region.shape[1]

            (centre, n_centre), (inner, n_inner), (outer, n_outer) = mean(0.2), mean(0.5), mean(0.75)
            return np.abs(centre / max(n_centre, 1) - (outer - inner) / max(n_outer - n_inner, 1)).sum()

        on = [contrast(b.cx, b.cy, b.w, b.h) for b in boxes]
        turned = [contrast(1 - b.cx, 1 - b.cy, b.w, b.h) for b in boxes]
        assert np.mean(on) > 40 and np.mean(on) > 2 * np.mean(turned), (on, turned)


def test_predict_runs_on_camera_photos(camera, tiny_checkpoint, tmp_path):
    out = tmp_path / "submission.csv"
    result = run_cli("predict", "--weights", tiny_checkpoint, "--images", camera / "test", "--out", out, "--threshold", "0.05")
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(dataset.read_counts(out).index) == list(dataset.read_counts(camera / "sample_submission.csv").index)
    boxes = pd.read_csv(tmp_path / "submission_detections.csv").dropna()
    assert boxes[["x0", "y0", "x1", "y1"]].stack().between(0, 1).all()
