"""Shared fixtures: a tiny generated dataset, the shared IAPR data (skipped when absent), CLI runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chocolib import annotations, augment, synthetic

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
IAPR = SHARED_DATA / "iapr2025"
TWIN = SHARED_DATA / "iapr2025-twin"

needs_shared = pytest.mark.skipif(not (IAPR.is_dir() and TWIN.is_dir()), reason="../shared/data is not beside this clone")


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection fails, as on a machine without internet."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access blocked by the test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory) -> Path:
    """The embedded tiny dataset (seed 0), generated once per test session: read-only."""
    return synthetic.generate(tmp_path_factory.mktemp("embedded") / "tiny", "tiny", seed=0)


@pytest.fixture
def tiny(tiny_source, tmp_path) -> Path:
    """A private copy of the tiny dataset that a test may break."""
    return Path(shutil.copytree(tiny_source, tmp_path / "data"))


@pytest.fixture(scope="session")
def tiny_labels(tiny_source, tmp_path_factory) -> Path:
    """The tiny dataset's annotation export imported as label files: read-only."""
    out = tmp_path_factory.mktemp("labels") / "labels"
    annotations.import_annotations(tiny_source / "annotations" / "roboflow_yolo", tiny_source / "train", out)
    return out


@pytest.fixture(scope="session")
def tiny_split(tiny_source, tiny_labels, tmp_path_factory) -> Path:
    """An augmented train/val split of the tiny dataset (1 pass, 256 px), for training: read-only."""
    out = tmp_path_factory.mktemp("split") / "augmented"
    augment.augment(tiny_source / "train", tiny_labels, out, augment.AugmentParams(passes=1, val_fraction=0.25, work_side=256))
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_split, tmp_path_factory) -> Path:
    """A Faster R-CNN of the tiny profile trained for 2 steps on the tiny split: read-only."""
    from chocolib import profiles, train

    out = tmp_path_factory.mktemp("tiny_model")
    detector, config = train.configs_for(profiles.get("tiny"), 0, min_size=128, max_size=192, epochs=1, steps_per_epoch=2)
    return train.train(tiny_split / "train", tiny_split / "val", out, detector, config).best_checkpoint


def run_cli(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chocolib", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """A user's mistake: non-zero exit, no traceback, one 'error:' line naming what went wrong."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    error = last_line(result.stderr)
    assert error.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in error, f"{fragment!r} not in {error!r}"
    return error
