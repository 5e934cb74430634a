from pathlib import Path

import pytest
from PIL import Image

from chocolib import dataset
from chocolib.errors import ChocoError
from conftest import TWIN, assert_user_error, last_line, needs_shared, run_cli


def test_open_dataset_reads_the_tiny_layout(tiny_source):
    ds = dataset.open_dataset(tiny_source)
    assert len(ds.train_photos) == 12 and len(ds.test_photos) == 6 and len(ds.references) == 13
    assert list(ds.counts.index) == sorted(ds.counts.index)
    assert all(path.name == f"L{i}.JPG" for i, path in ds.train_photos.items())
    assert ds.counts.to_numpy().min() >= 0 and ds.counts.dtypes.unique().tolist() == ["int64"]


def test_check_command_prints_a_summary(tiny_source):
    result = run_cli("check", "--data", tiny_source)
    assert result.returncode == 0, result.stderr
    assert last_line(result.stdout).startswith("train_photos=12 ")


def test_read_photo_decodes_large_jpegs_reduced(tmp_path):
    path = tmp_path / "big.JPG"
    Image.new("RGB", (3000, 2000), (120, 80, 40)).save(path, quality=90)
    img = dataset.read_photo(path, max_side=1333)
    assert img.size == (1333, 889) and img.mode == "RGB"
    assert dataset.read_photo(path).size == (3000, 2000)


def test_exif_orientation_swaps_width_and_height(tmp_path):
    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise
    Image.new("RGB", (300, 200)).save(path, exif=exif)
    assert dataset.photo_size(path) == (200, 300)
    assert dataset.read_photo(path).size == (200, 300)


def _rewrite_line(path: Path, line_no: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line_no - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_wrong_header_names_the_column(tiny):
    csv = tiny / "train.csv"
    header = csv.read_text(encoding="utf-8").splitlines()[0].replace("Crème brulée", "Creme brulee")
    _rewrite_line(csv, 1, header)
    assert_user_error(run_cli("check", "--data", tiny), "train.csv:1:", "header column 6", "'Creme brulee'")


@pytest.mark.parametrize("bad, fragment", [("-1", "'-1'"), ("2.5", "'2.5'"), ("x", "'x'")])
def test_counts_must_be_non_negative_integers(tiny, bad, fragment):
    csv = tiny / "train.csv"
    fields = csv.read_text(encoding="utf-8").splitlines()[3].split(",")
    fields[2] = bad
    _rewrite_line(csv, 4, ",".join(fields))
    assert_user_error(run_cli("check", "--data", tiny), "train.csv:4:", "'Jelly Milk'", fragment, "non-negative integers")


def test_short_row_and_duplicate_id(tiny):
    csv = tiny / "train.csv"
    lines = csv.read_text(encoding="utf-8").splitlines()
    _rewrite_line(csv, 3, lines[1])
    assert_user_error(run_cli("check", "--data", tiny), "train.csv:3:", f"id {lines[1].split(',')[0]} already on line 2")
    _rewrite_line(csv, 3, "1234,0,0")
    assert_user_error(run_cli("check", "--data", tiny), "train.csv:3:", "3 fields, expected 14")


def test_id_without_photo_and_photo_without_id(tiny):
    photo = sorted((tiny / "train").glob("*.JPG"))[0]
    moved = photo.rename(tiny / photo.name)
    assert_user_error(run_cli("check", "--data", tiny), "train.csv", f"first: {photo.stem[1:]}")
    moved.rename(photo)
    (tiny / "train" / "L9999999.JPG").write_bytes(photo.read_bytes())
    assert_user_error(run_cli("check", "--data", tiny), "L9999999.JPG", "no row in train.csv")


def test_corrupt_and_truncated_jpegs_are_named(tiny):
    photo = sorted((tiny / "train").glob("*.JPG"))[2]
    data = photo.read_bytes()
    photo.write_bytes(data[: len(data) // 2])
    assert_user_error(run_cli("check", "--data", tiny), photo.name, "cannot decode photo")
    photo.write_bytes(b"not a jpeg at all")
    assert_user_error(run_cli("check", "--data", tiny), photo.name, "cannot decode photo")


def test_test_photos_must_match_sample_submission(tiny):
    sorted((tiny / "test").glob("*.JPG"))[0].unlink()
    assert_user_error(run_cli("check", "--data", tiny), "sample_submission.csv", "have no photo in")


def test_missing_folder_and_missing_csv(tmp_path):
    assert_user_error(run_cli("check", "--data", tmp_path / "nowhere"), "nowhere", "dataset folder not found")
    assert_user_error(run_cli("check", "--data", tmp_path), "train.csv", "counts file not found")


def test_unknown_reference_name(tiny):
    ref = next((tiny / "references").iterdir())
    ref.rename(ref.with_name("Toblerone.JPG"))
    with pytest.raises(ChocoError, match="Toblerone.JPG: unknown class name 'Toblerone'"):
        dataset.open_dataset(tiny, verify_photos=False)


@needs_shared
def test_the_twin_passes_every_check():
    ds = dataset.open_dataset(TWIN)
    assert ds.summary() == {"train photos": 90, "chocolates in train.csv": 584, "test photos": 180, "reference photos": 13}
