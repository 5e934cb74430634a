"""The 13 Frey chocolate kinds: the one place for their names, orders, label ids and colours.

Three orders meet in this project, and only this module converts between them:

* the Kaggle column order of ``train.csv`` and of a submission (``KAGGLE_NAMES``); the YOLO label
  files this project writes use it too (class index ``i`` is ``KAGGLE_NAMES[i]``);
* the model's label ids for torchvision detectors: 0 is background, 1–13 follow the Kaggle order
  (the seed's ``model2idx`` is ``label_id - 1``);
* whatever order an annotation tool used (Roboflow sorts names alphabetically): those exports are
  mapped by name through ``canonical_name``.
"""

from __future__ import annotations

import re
import unicodedata

from chocolib.errors import ChocoError

#: Kaggle's column order (train.csv, sample_submission.csv), spelled exactly as Kaggle spells it.
KAGGLE_NAMES: tuple[str, ...] = (
    "Jelly White",
    "Jelly Milk",
    "Jelly Black",
    "Amandina",
    "Crème brulée",
    "Triangolo",
    "Tentation noir",
    "Comtesse",
    "Noblesse",
    "Noir authentique",
    "Passion au lait",
    "Arabia",
    "Stracciatella",
)
NUM_CLASSES = len(KAGGLE_NAMES)
#: The header of train.csv and of a submission.
CSV_COLUMNS: tuple[str, ...] = ("id", *KAGGLE_NAMES)

#: Detector label ids: background is 0, chocolates are 1..13 in Kaggle order.
BACKGROUND_ID = 0
LABEL_IDS: dict[str, int] = {name: i + 1 for i, name in enumerate(KAGGLE_NAMES)}
NAMES_BY_LABEL_ID: dict[int, str] = {i: name for name, i in LABEL_IDS.items()}

#: One colour per class for every plot and drawn box, in Kaggle order. Jellies are drawn in the
#: hues of their flavour family; the rest are spread so neighbours in a legend stay distinct.
COLORS: dict[str, str] = dict(
    zip(
        KAGGLE_NAMES,
        (
            "#9edae5",  # Jelly White
            "#ff9896",  # Jelly Milk
            "#d62728",  # Jelly Black
            "#8c564b",  # Amandina
            "#ffbb78",  # Crème brulée
            "#2ca02c",  # Triangolo
            "#1f77b4",  # Tentation noir
            "#9467bd",  # Comtesse
            "#e377c2",  # Noblesse
            "#7f7f7f",  # Noir authentique
            "#bcbd22",  # Passion au lait
            "#17becf",  # Arabia
            "#ff7f0e",  # Stracciatella
        ),
    )
)


def name_key(name: str) -> str:
    """Reduce a spelling to letters and digits: no accents, no case, no spaces or underscores.

    ``"Crème brûlée"``, ``"creme_brulee"`` and ``"CremeBrulee"`` all become ``"cremebrulee"``.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^0-9a-z]", "", ascii_only.casefold())


_BY_KEY: dict[str, str] = {name_key(name): name for name in KAGGLE_NAMES}


def canonical_name(name: str, where: str | None = None) -> str:
    """Map an annotator's or a file's spelling of a class to its Kaggle name.

    Raises ChocoError (prefixed with ``where``, e.g. ``"data.yaml:7"``) for a name that is not one
    of the 13 kinds.
    """
    found = _BY_KEY.get(name_key(str(name)))
    if found is None:
        message = f"unknown class name {name!r}; expected one of: {', '.join(KAGGLE_NAMES)}"
        raise ChocoError(f"{where}: {message}" if where else message)
    return found


def kaggle_index(name: str, where: str | None = None) -> int:
    """Column index (0–12) of a class in Kaggle order, from any accepted spelling."""
    return KAGGLE_NAMES.index(canonical_name(name, where))


def snake_case(name: str) -> str:
    """File-name form of a class name: ``"Crème brulée"`` → ``"creme_brulee"``."""
    decomposed = unicodedata.normalize("NFKD", canonical_name(name))
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^0-9a-z]+", "_", ascii_only.lower()).strip("_")
