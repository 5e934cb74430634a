"""Bad input through every command: one `error:` line naming the file (and line), exit status 2,
nothing half-written."""

import shutil

import pytest

from conftest import assert_user_error, run_cli

BAD_PHOTOS = {
    "corrupt": lambda good: bytes(range(256)) * 40,
    "truncated": lambda good: good[: len(good) // 3],
    "text named as a photo": lambda good: b"these are notes, not a photo\n",
}


def _spoil(folder, kind, name="L1000999.JPG"):
    """Add a bad 'photo' to `folder`, made from one of its good ones."""
    good = next(p for p in sorted(folder.iterdir()) if p.suffix.lower() == ".jpg").read_bytes()
    (folder / name).write_bytes(BAD_PHOTOS[kind](good))
    return folder / name


@pytest.mark.parametrize("kind", BAD_PHOTOS)
def test_import_annotations_names_a_bad_photo_and_writes_nothing(tiny, tmp_path, kind):
    bad = _spoil(tiny / "train", kind)
    result = run_cli(
        "import-annotations", "--source", tiny / "annotations" / "roboflow_yolo", "--images", tiny / "train", "--out", tmp_path / "labels"
    )
    assert result.returncode == 2
    assert_user_error(result, str(bad), "cannot decode photo")
    assert not (tmp_path / "labels").exists()


@pytest.mark.parametrize("kind", ["truncated", "text named as a photo"])
def test_augment_names_a_bad_photo_and_writes_nothing(tiny, tiny_labels, tmp_path, kind):
    labels = shutil.copytree(tiny_labels, tmp_path / "labels")
    photo = sorted((tiny / "train").glob("*.JPG"))[0]
    photo.write_bytes(BAD_PHOTOS[kind](photo.read_bytes()))
    result = run_cli("augment", "--images", tiny / "train", "--labels", labels, "--out", tmp_path / "aug", "--passes", "1")
    assert result.returncode == 2
    assert_user_error(result, str(photo), "cannot decode photo")
    assert not (tmp_path / "aug").exists()


def test_augment_names_a_label_file_without_its_photo(tiny, tiny_labels, tmp_path):
    labels = shutil.copytree(tiny_labels, tmp_path / "labels")
    shutil.copy(next(labels.glob("*.txt")), labels / "L1000999.txt")
    result = run_cli("augment", "--images", tiny / "train", "--labels", labels, "--out", tmp_path / "aug", "--passes", "1")
    assert_user_error(result, "L1000999.txt", "no photo L1000999")
    assert not (tmp_path / "aug").exists()


@pytest.mark.parametrize("kind", BAD_PHOTOS)
def test_predict_and_count_name_a_bad_photo_and_write_nothing(tiny, tiny_checkpoint, tmp_path, kind):
    bad = _spoil(tiny / "test", kind)
    result = run_cli("predict", "--weights", tiny_checkpoint, "--images", tiny / "test", "--out", tmp_path / "sub.csv")
    assert result.returncode == 2
    assert_user_error(result, str(bad), "cannot decode photo")
    assert not any(tmp_path.glob("sub*"))
    good = sorted((tiny / "test").glob("*.JPG"))[0]
    result = run_cli("count", good, bad, "--weights", tiny_checkpoint, "--out", tmp_path / "drawn")
    assert_user_error(result, str(bad), "cannot decode photo")
    assert not (tmp_path / "drawn").exists()


def test_check_names_a_bad_photo(tiny):
    photo = sorted((tiny / "test").glob("*.JPG"))[0]
    photo.write_bytes(BAD_PHOTOS["text named as a photo"](b""))
    assert_user_error(run_cli("check", "--data", tiny), str(photo), "cannot decode photo")


def test_empty_folders_are_named(tiny, tiny_labels, tiny_checkpoint, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a photo")
    assert_user_error(
        run_cli("import-annotations", "--source", tiny / "annotations" / "roboflow_yolo", "--images", empty, "--out", tmp_path / "labels"),
        str(empty),
        "no photos",
    )
    assert_user_error(run_cli("augment", "--images", empty, "--labels", tiny_labels, "--out", tmp_path / "aug"), str(empty), "no photos")
    assert_user_error(
        run_cli("predict", "--weights", tiny_checkpoint, "--images", empty, "--out", tmp_path / "s.csv"), str(empty), "no photos"
    )
    assert not (tmp_path / "labels").exists() and not (tmp_path / "aug").exists() and not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("second", ["L1000757.jpg", "l1000757.JPG", "L1000757.png"])
def test_photo_ids_differing_only_in_case_or_extension_are_refused(tiny, tiny_checkpoint, tmp_path, second):
    first = tiny / "test" / "L1000757.JPG"
    if not first.exists():
        first = sorted((tiny / "test").glob("*.JPG"))[0]
        second = second.replace("L1000757", first.stem).replace("l1000757", first.stem.lower())
    shutil.copy(first, tmp_path / "copy")
    (tmp_path / "copy").rename(tiny / "test" / second)
    if (tiny / "test" / second).samefile(first):  # a case-insensitive file system: nothing to test
        pytest.skip("case-insensitive file system")
    result = run_cli("predict", "--weights", tiny_checkpoint, "--images", tiny / "test", "--out", tmp_path / "s.csv")
    assert_user_error(result, str(tiny / "test"), "two photos share the name", first.name, second)


@pytest.mark.parametrize("cell, fragment", [("nan", "'nan'"), ("1.0", "'1.0'"), ("", "''"), ("-1", "'-1'")])
def test_a_submission_with_nan_or_a_float_count_names_its_line(tiny, tmp_path, cell, fragment):
    truth = tiny / "test_truth.csv"
    lines = truth.read_text().splitlines()
    fields = lines[2].split(",")
    fields[3] = cell
    lines[2] = ",".join(fields)
    submission = tmp_path / "submission.csv"
    submission.write_text("\n".join(lines) + "\n")
    assert_user_error(run_cli("score", "--truth", truth, "--submission", submission), f"{submission}:3", fragment, "non-negative integers")
