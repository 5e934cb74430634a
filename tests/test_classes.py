import pytest

from chocolib import classes
from chocolib.errors import ChocoError
from conftest import IAPR, TWIN, needs_shared


def test_orders_and_ids_are_consistent():
    assert len(classes.KAGGLE_NAMES) == classes.NUM_CLASSES == 13
    assert classes.CSV_COLUMNS[0] == "id" and classes.CSV_COLUMNS[1:] == classes.KAGGLE_NAMES
    assert sorted(classes.LABEL_IDS.values()) == list(range(1, 14))
    assert classes.BACKGROUND_ID not in classes.NAMES_BY_LABEL_ID
    assert all(classes.NAMES_BY_LABEL_ID[classes.LABEL_IDS[n]] == n for n in classes.KAGGLE_NAMES)
    assert len(set(classes.COLORS.values())) == 13 and list(classes.COLORS) == list(classes.KAGGLE_NAMES)


@pytest.mark.parametrize(
    "spelling, expected",
    [
        ("Crème brûlée", "Crème brulée"),
        ("Crème brulée", "Crème brulée"),
        ("creme_brulee", "Crème brulée"),
        ("CREME BRULEE", "Crème brulée"),
        ("Tentation Noir", "Tentation noir"),
        ("tentation_noir", "Tentation noir"),
        ("  jelly   white ", "Jelly White"),
        ("Noir-Authentique", "Noir authentique"),
        ("PassionAuLait", "Passion au lait"),
        ("stracciatella", "Stracciatella"),
    ],
)
def test_annotator_spellings_map_to_kaggle_names(spelling, expected):
    assert classes.canonical_name(spelling) == expected


@pytest.mark.parametrize("name", ["Jelly", "Toblerone", "", "Crème"])
def test_unknown_names_fail_clearly(name):
    with pytest.raises(ChocoError, match=r"data.yaml:3: unknown class name"):
        classes.canonical_name(name, where="data.yaml:3")


def test_kaggle_index_and_snake_case():
    assert classes.kaggle_index("Jelly White") == 0
    assert classes.kaggle_index("stracciatella") == 12
    assert classes.snake_case("Crème brûlée") == "creme_brulee"


@needs_shared
def test_names_match_the_real_files():
    header = (IAPR / "train.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert tuple(header) == classes.CSV_COLUMNS
    cutouts = sorted(p.stem for p in (IAPR / "references_cutout").glob("*.png"))
    assert cutouts == sorted(classes.snake_case(n) for n in classes.KAGGLE_NAMES)
    references = {classes.canonical_name(p.stem) for p in (TWIN / "references").iterdir()}
    assert references == set(classes.KAGGLE_NAMES)
