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


class RedSquareCounter:
    """A stand-in detector whose answers are known on any picture: every 8-connected red region
    (R > 0.7, G < 0.32 of the float image) of at least `min_pixels` becomes a box of model label
    `label`, scored 0.9. It refuses images that are not floats in [0, 1], as a real detector's
    normalisation silently would not."""

    def __init__(self, label: int = 1, min_pixels: int = 30):
        import torch

        self.label, self.min_pixels = label, min_pixels
        self.seen: list = []  # every image it was shown, as uint8 H × W × 3
        self._device = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        return iter([self._device])

    def eval(self):
        return self

    def score(self, pixels: int) -> float:
        """The score of a region of `pixels` red pixels: 0.9 whatever its size (override to vary)."""
        return 0.9

    def __call__(self, images):
        import numpy as np
        import torch
        from scipy import ndimage

        outputs = []
        for image in images:
            assert image.dtype == torch.float32 and float(image.min()) >= 0.0 and float(image.max()) <= 1.0, (
                f"the model was given {image.dtype} in [{float(image.min())}, {float(image.max())}], not floats in [0, 1]"
            )
            x = image.numpy()
            self.seen.append(np.rint(x.transpose(1, 2, 0) * 255).astype(np.uint8))
            regions, _ = ndimage.label((x[0] > 0.7) & (x[1] < 0.32), structure=np.ones((3, 3)))
            found = [(s, int((regions[s] == i).sum())) for i, s in enumerate(ndimage.find_objects(regions), 1)]
            found = [(s, pixels) for s, pixels in found if pixels >= self.min_pixels]
            boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s, _ in found]
            outputs.append(
                {
                    "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                    "scores": torch.tensor([self.score(pixels) for _, pixels in found], dtype=torch.float32),
                    "labels": torch.full((len(boxes),), self.label, dtype=torch.int64),
                }
            )
        return outputs


def red_squares_photo(path: Path, squares=((20, 20), (100, 60), (170, 100)), size=(240, 160), side: int = 40) -> Path:
    """A noisy grey table with red squares (top-left corners), saved at `path`."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(len(squares))
    pixels = rng.integers(90, 130, (size[1], size[0], 3)).astype(np.uint8)
    for x, y in squares:
        pixels[y : y + side, x : x + side] = (220, 30, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def run_cli(*args, cwd: Path | None = None, fresh_process: bool = False) -> subprocess.CompletedProcess:
    """``python -m chocolib ARGS``: its exit status, stdout and stderr (with the log lines).

    In this process (`chocolib.cli.main`, what ``__main__`` runs), as a fresh interpreter would
    spend seconds importing torch for each call; `fresh_process` runs the real entry point instead."""
    argv = [str(arg) for arg in args]
    if fresh_process:
        return subprocess.run([sys.executable, "-m", "chocolib", *argv], capture_output=True, text=True, cwd=cwd)
    import contextlib
    import io
    import logging
    import os

    from chocolib import cli

    out, err = io.StringIO(), io.StringIO()
    # the command's log lines go to its stderr, as cli.main's basicConfig would send them (with a
    # handler already on the root logger, basicConfig adds none of its own)
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING if {"-q", "--quiet"} & set(argv) else logging.INFO)
    where = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse's answer to a bad flag
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(where)
        root.removeHandler(handler)
        root.setLevel(level)
    return subprocess.CompletedProcess([sys.executable, "-m", "chocolib", *argv], code, out.getvalue(), err.getvalue())


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
