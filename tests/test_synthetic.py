import hashlib
import itertools
from pathlib import Path

import numpy as np

from chocolib import annotations, classes, dataset, synthetic
from conftest import last_line, run_cli


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_photos(tiny_source, tmp_path):
    again = synthetic.generate(tmp_path / "again", "tiny", seed=0, workers=2)  # parallel drawing, same bytes
    assert _digests(again) == _digests(tiny_source)
    other = _digests(synthetic.generate(tmp_path / "other", "tiny", seed=1))
    assert other["train.csv"] != _digests(tiny_source)["train.csv"]


def test_layout_counts_and_boxes_agree(tiny_source):
    ds = dataset.open_dataset(tiny_source)
    assert (len(ds.train_photos), len(ds.test_photos)) == (12, 6)
    assert {dataset.photo_size(p) for p in ds.train_photos.values()} == {(600, 400)}
    per_photo = ds.counts.sum(axis=1)
    assert per_photo.min() >= 1 and per_photo.max() <= 8
    # dealing kinds in rounds keeps every kind in several photos, even in the tiny set
    assert ((ds.counts > 0).sum() >= 2).all()
    truth = dataset.read_counts(tiny_source / "test_truth.csv")
    assert list(truth.index) == ds.submission_ids and truth.to_numpy().sum() > 0
    labels = list((tiny_source / "annotations" / "roboflow_yolo" / "train" / "labels").glob("L*_JPG.rf.*.txt"))
    assert len(labels) == 12


def test_boxes_are_tight_around_the_drawn_chocolate():
    rng = np.random.default_rng(7)
    image, placed = synthetic.compose_photo(["Amandina", "Jelly Black", "Noblesse"], 600, 400, rng)
    assert image.size == (600, 400) and 1 <= len(placed) <= 3
    for kind, (x0, y0, x1, y1) in placed:
        assert 0 <= x0 < x1 <= 600 and 0 <= y0 < y1 <= 400
        assert 15 < max(x1 - x0, y1 - y0) < 150, kind


def test_every_kind_is_drawable_and_distinct():
    """Colour, texture spread, fill of the box and aspect: no two kinds share a look."""
    rng = np.random.default_rng(0)
    looks = {}
    for kind in classes.KAGGLE_NAMES:
        rgba = np.asarray(synthetic.render_chocolate(kind, 80, rng)).astype(float)
        mask = rgba[..., 3] > 127
        ys, xs = np.nonzero(mask)
        height, width = np.ptp(ys) + 1, np.ptp(xs) + 1
        pixels = rgba[mask][:, :3] / 255
        looks[kind] = np.r_[pixels.mean(0), pixels.std(0), mask.sum() / (height * width), width / height]
    closest = min(np.linalg.norm(looks[a] - looks[b]) for a, b in itertools.combinations(looks, 2))
    assert closest > 0.03


def test_ensure_dataset_reuses_a_matching_folder(tmp_path):
    out = synthetic.ensure_dataset(tmp_path / "d", "tiny", 0)
    stamp = (out / "train.csv").stat().st_mtime_ns
    synthetic.ensure_dataset(out, "tiny", 0)
    assert (out / "train.csv").stat().st_mtime_ns == stamp


def test_synth_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    result = run_cli("synth", "--out", tmp_path / "mine")
    assert result.returncode == 2 and "no synth.json" in last_line(result.stderr)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_synth_command_prints_the_folder(tmp_path):
    result = run_cli("synth", "--out", tmp_path / "ds", "--profile", "tiny", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert last_line(result.stdout) == str(tmp_path / "ds")
    summary = annotations.import_annotations(
        tmp_path / "ds" / "annotations" / "roboflow_yolo", tmp_path / "ds" / "train", tmp_path / "labels"
    )
    assert summary.images == 12 and summary.mismatches == 0
