"""Where things are: the repository, the notebooks, and every folder under an output root.

One output root holds a run (docs/ARCHITECTURE.md): ``data/raw`` (a generated dataset),
``data/interim/labels``, ``data/processed/augmented``, ``models/``, ``figures/``, ``report/`` and
``submissions/``. By default a run goes to ``runs/<profile>/`` in the repository, which git ignores:
only ``make canonical`` names the repository root itself, so nothing a user runs by default
overwrites the committed run. Tests use a temporary root.

Relative paths: on the command line they are relative to where you stand (the CLI makes them
absolute); in a notebook's parameters and in ``CHOCO_OUT``, ``CHOCO_DATA`` and ``CHOCO_ANNOTATIONS``
(and ``CHOCO_DEV_HARD``) they are relative to the repository root, never to the kernel's folder
(``notebooks/``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chocolib import profiles
from chocolib.errors import ChocoError

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def from_repo(path: str | Path) -> Path:
    """`path` made absolute: a relative one is taken from the repository root."""
    return (REPO_ROOT / Path(path).expanduser()).resolve()


def default_root(profile: str) -> Path:
    """Where a run goes when no output root is named: ``runs/<profile>`` (git-ignored)."""
    return REPO_ROOT / "runs" / profile


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @classmethod
    def at(cls, out_root: str | Path | None, profile: str = "tiny") -> RunPaths:
        """The output root given, else ``$CHOCO_OUT``, else ``runs/<profile>`` in the repository."""
        chosen = out_root or os.environ.get("CHOCO_OUT")
        return cls(from_repo(chosen) if chosen else default_root(profile))

    def embedded_dataset(self, size: str, seed: int) -> Path:
        return self.root / "data" / "raw" / f"embedded-{size}-seed{seed}"

    @property
    def labels(self) -> Path:
        return self.root / "data" / "interim" / "labels"

    @property
    def augmented(self) -> Path:
        return self.root / "data" / "processed" / "augmented"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def faster_rcnn(self) -> Path:
        return self.models / "faster_rcnn"

    @property
    def yolo12(self) -> Path:
        return self.models / "yolo12"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def executed(self) -> Path:
        return self.report / "executed"

    @property
    def run_json(self) -> Path:
        return self.report / "run.json"

    @property
    def submissions(self) -> Path:
        return self.root / "submissions"


def resolve_data(run: RunPaths, profile: str, data_dir: str | Path | None, seed: int = 0) -> tuple[Path, bool]:
    """The dataset folder: the one given, else ``$CHOCO_DATA``, else the embedded one under `run`.

    Returns (folder, embedded?). The embedded folder may not exist yet: `synthetic.ensure_dataset`
    makes it.
    """
    chosen = data_dir or os.environ.get("CHOCO_DATA")
    if chosen:
        return from_repo(chosen), False
    return run.embedded_dataset(profiles.get(profile).synth_size, seed), True


def resolve_annotations(data_dir: Path, annotations: str | Path | None) -> Path:
    """The annotation export: the one given, else ``$CHOCO_ANNOTATIONS``, else the dataset's own."""
    chosen = annotations or os.environ.get("CHOCO_ANNOTATIONS")
    if chosen:
        return from_repo(chosen)
    own = data_dir / "annotations" / "roboflow_yolo"
    if own.is_dir():
        return own
    raise ChocoError(
        f"no annotation export for this dataset (looked for {own}): pass --annotations PATH "
        "(a Roboflow/CVAT YOLO export folder or a COCO .json) or set CHOCO_ANNOTATIONS",
        data_dir,
    )


def resolve_dev_hard(dev_hard: str | Path | None) -> Path | None:
    """The public hard set to score beside validation (``photos/`` and ``counts.csv``): the one
    given, else ``$CHOCO_DEV_HARD``, else None (notebook 05 then says it skips it)."""
    chosen = dev_hard or os.environ.get("CHOCO_DEV_HARD")
    return from_repo(chosen) if chosen else None


def require(path: Path, notebook: str) -> Path:
    """Stop with one line naming the notebook that writes `path` when it is missing."""
    if not path.exists():
        raise ChocoError(f"missing: run notebooks/{notebook}.ipynb first (it writes this)", path)
    return path
