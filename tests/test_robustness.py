"""The corruption suite: each corruption changes the photo as stated and keeps its size; seeded."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from chocolib import robustness
from chocolib.errors import ChocoError


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A small 'photo': a textured background with a few dark and light blobs."""
    rng = np.random.default_rng(0)
    base = (rng.uniform(0.3, 0.7, (120, 180, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for x, color in ((30, (60, 30, 20)), (90, (200, 170, 120)), (140, (120, 40, 90))):
        draw.ellipse((x - 18, 40, x + 18, 80), fill=color)
    return image


def _change(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean())


@pytest.mark.parametrize("name", robustness.CORRUPTIONS)
def test_each_corruption_changes_the_photo_more_at_each_severity_and_keeps_its_size(photo, name):
    changes = []
    for severity in robustness.SEVERITIES:
        corrupted = robustness.corrupt(photo, name, severity, seed=0, photo="L1")
        assert corrupted.size == photo.size and corrupted.mode == "RGB"
        changes.append(_change(photo, corrupted))
    assert changes[0] > 0.5, changes
    assert changes[0] < changes[1] < changes[2], changes


@pytest.mark.parametrize("name", robustness.CORRUPTIONS)
def test_the_same_seed_gives_the_same_bytes(photo, name):
    first = robustness.corrupt(photo, name, 2, seed=3, photo="L1").tobytes()
    assert robustness.corrupt(photo, name, 2, seed=3, photo="L1").tobytes() == first


def test_random_corruptions_differ_between_photos_and_seeds(photo):
    for name in ("sensor_noise", "colour_cast", "motion_blur"):
        a = robustness.corrupt(photo, name, 2, seed=0, photo="L1")
        assert a.tobytes() != robustness.corrupt(photo, name, 2, seed=1, photo="L1").tobytes()
        assert a.tobytes() != robustness.corrupt(photo, name, 2, seed=0, photo="L2").tobytes()


def test_corruptions_do_what_they_say(photo):
    gray = np.asarray(photo, float)
    low = np.asarray(robustness.corrupt(photo, "contrast", 3), float)
    assert low.std() < 0.5 * gray.std()  # contrast scaled to 35 %
    lighter = np.asarray(robustness.corrupt(photo, "brightness", 3), float)
    assert lighter.mean() > gray.mean() + 20
    blurred = np.asarray(robustness.corrupt(photo, "gaussian_blur", 3), float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.5 * np.abs(np.diff(gray, axis=1)).mean()
    noisy = np.asarray(robustness.corrupt(photo, "sensor_noise", 3), float)
    assert 15 < (noisy - gray).std() < 35  # σ = 0.10 of 255, clipped
    cast = np.asarray(robustness.corrupt(photo, "colour_cast", 3), float).mean(axis=(0, 1)) / gray.mean(axis=(0, 1))
    assert cast.max() - cast.min() > 0.3


def test_unknown_corruption_or_severity():
    image = Image.new("RGB", (20, 20))
    with pytest.raises(ChocoError, match="unknown corruption 'fog'"):
        robustness.corrupt(image, "fog", 1)
    with pytest.raises(ChocoError, match="severity 4"):
        robustness.corrupt(image, "jpeg", 4)


def _table(tta: str, clean: float, step: float) -> pd.DataFrame:
    rows = [{"tta": tta, "corruption": "clean", "severity": 0, "level": "", "threshold": 0.5, "f1": clean, "images_per_s": 2.0}]
    rows += [
        {"tta": tta, "corruption": name, "severity": s, "level": 0, "threshold": 0.5, "f1": 1.0 - step * s, "images_per_s": 2.0}
        for name in ("jpeg", "resolution")
        for s in (1, 2, 3)
    ]
    return pd.DataFrame(rows)


def test_summary_and_wide_table():
    table = _table("none", 0.99, 0.1)
    found = robustness.summary(table)
    assert found["clean_f1"] == 0.99 and found["corruption_f1"] == pytest.approx(0.8) and found["worst"] == ["jpeg", 3]
    assert found["tta"] == "none" and found["threshold"] == 0.5 and found["images_per_s"] == 2.0
    wide = robustness.wide(table)
    assert list(wide.index) == ["resolution", "jpeg"] and list(wide.columns) == ["severity 1", "severity 2", "severity 3", "mean"]
    assert wide.loc["jpeg", "mean"] == pytest.approx(0.8)


def test_by_severity_starts_every_line_at_the_clean_f1():
    lines = robustness.by_severity(pd.concat([_table("none", 0.99, 0.1), _table("flips", 0.98, 0.05)]))
    assert len(lines) == 2 * 2 * 4
    jpeg = lines[(lines["tta"] == "flips") & (lines["corruption"] == "jpeg")]
    assert jpeg["severity"].tolist() == [0, 1, 2, 3] and jpeg["f1"].tolist() == pytest.approx([0.98, 0.95, 0.9, 0.85])


def test_the_table_of_a_checkpoint_with_and_without_tta(tiny_checkpoint, tiny_split):
    from chocolib import annotations, dataset, predict

    model, side = predict.load_for_inference(tiny_checkpoint, "cpu")
    images = tiny_split / "val" / "images"
    ids = [dataset.photo_id(stem) for stem in dataset.list_photos(images)]
    truth = predict.true_counts(annotations.read_labels(tiny_split / "val" / "labels"), ids)
    for tta in ("none", "hflip"):
        table = robustness.corruption_table(model, images, truth, side, names=["jpeg"], tta=tta)
        assert table["corruption"].tolist() == ["clean", "jpeg", "jpeg", "jpeg"] and (table["tta"] == tta).all()
        assert table["f1"].between(0, 1).all() and (table["images_per_s"] > 0).all()
        assert table["threshold"].nunique() == 1  # chosen once, on the clean photos


def test_the_model_sees_each_corrupted_photo_not_the_clean_one(tmp_path):
    """What reaches the model, by pixel hash: the clean photo first, then for every corruption and
    severity exactly `corrupt`'s output for that photo and seed — never the clean photo again."""
    import hashlib

    from chocolib import classes, dataset
    from conftest import RedSquareCounter, red_squares_photo

    photo = red_squares_photo(tmp_path / "images" / "L7.png")
    counter = RedSquareCounter()
    truth = pd.DataFrame([[3] + [0] * 12], index=pd.Index(["7"], name="id"), columns=list(classes.KAGGLE_NAMES))
    table = robustness.corruption_table(counter, tmp_path / "images", truth, None, threshold=0.5, seed=4)

    def digest(pixels):
        return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()

    clean = dataset.read_photo(photo)
    expected = [digest(np.asarray(clean))] + [
        digest(np.asarray(robustness.corrupt(clean, name, severity, 4, "L7")))
        for name in robustness.CORRUPTIONS
        for severity in robustness.SEVERITIES
    ]
    assert [digest(seen) for seen in counter.seen] == expected
    assert expected.count(expected[0]) == 1
    assert table.loc[0, "f1"] == 1.0 and len(table) == 1 + 3 * len(robustness.CORRUPTIONS)  # clean: the three squares
